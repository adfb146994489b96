"""corrigo's sandbox worker: a warm interpreter that runs jobs in fresh processes.

A package of standard-library modules, mounted as a folder wherever it runs and started
as ``python -I -B FOLDER`` (see ``__main__.py``). It runs where candidate code will run: on this host (``process``),
inside bubblewrap (``bwrap``) or inside a container (``docker``), and speaks length-
prefixed JSON frames on stdin/stdout with the corrigo process that started it.

Who decides a verdict
---------------------
Each job gets a *tester* process (T), forked from this worker, and one *candidate*
process (C) per test, forked from T **before T has read the tests**. Candidate code only
ever runs in C. Test code only ever runs in T, where the names the candidate defined
are proxies: calling one sends the arguments to C as plain data and returns C's answer
decoded as plain data (exact builtin types only, so an object whose ``__eq__`` always
says yes cannot cross). T alone writes results, on a pipe C never holds. So nothing C
does — ``sys.exit(0)``, ``os._exit(0)``, ``atexit`` hooks, patched builtins or
``unittest``, frame walks, printed lines, writes to its own descriptors — can make a
test pass: a C that dies, hangs or speaks garbage fails the test it was serving.

Isolation, when the worker runs as root
---------------------------------------
At start the worker enters new mount, network and PID namespaces: no network (not even
loopback), private empty ``/tmp``, ``/var/tmp`` and ``/dev/shm``, and a PID namespace
whose init dies with the worker (the kernel then kills every process left in it). Each
job's C processes run under a uid of their own (one per concurrent job slot) with no
capabilities and rlimits on CPU, memory, file size, processes and open files; when the
job ends every process of that uid is killed, ``setsid`` daemons included. T stays
privileged and non-dumpable, so C can neither signal nor inspect it. Without root these
steps are skipped and the ``ready`` frame says so; the conformance suite lists what a
backend then cannot contain.

Modules: :mod:`.codec` (frames, values as data), :mod:`.containment` (namespaces,
limits, killing what a job left), :mod:`.candidate` (C), :mod:`.proxy` (T's end of a
C), :mod:`.verdicts` (running tests in T), :mod:`.tester` and :mod:`.resident` (the two
kinds of T), :mod:`.outputs` (the batch mode), :mod:`.trace`, :mod:`.pipeline`, and the
worker, W: :mod:`.server` with :mod:`.zygote` (forks testers), :mod:`.jobs` (records and
reports), :mod:`.uids` (job slots' uids and their sweeper) and :mod:`.warm` (modules
imported ahead). Every module is imported when the worker starts, before any tester or
candidate is forked. Nothing here imports anything outside the package.
"""
