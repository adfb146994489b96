"""The tester process (T): runs the tests and alone writes their results.

T is forked from the worker ahead of need, forks its candidate processes (C), and only
then reads the tests. Test code runs here, where the candidate's names are proxies that
send arguments to C and decode its answers as plain data; nothing C does can reach the
pipe T writes results on.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import json
import os
import resource
import select
import signal
import time
import types

from .candidate import fork_candidate
from .codec import (
    FRAME,
    BoundaryError,
    canonical,
    decode,
    describe,
    encode,
    read_frame,
    take_frame,
    write_all,
    write_frame,
)
from .containment import PR_SET_DUMPABLE, PR_SET_PDEATHSIG, prctl
from .outputs import run_outputs
from .pipeline import MAX_BYTES, plan_calls
from .trace import clean, describe_call


class CandidateFailure(Exception):
    """The candidate process crashed, hung or broke protocol: the test cannot pass."""


class Output:
    """Drains C's stdout/stderr with a cap, so a flood cannot grow memory."""

    def __init__(self, fds: dict[int, str], cap: int) -> None:
        self.fds, self.cap = dict(fds), cap
        self.data = {name: bytearray() for name in fds.values()}
        self.truncated = False

    def drain(self) -> None:
        """Read whatever is buffered now, without waiting for the writers to exit."""
        for fd in list(self.fds):
            while self.pump(fd):
                pass

    def pump(self, fd: int) -> bool:
        """Read one chunk from ``fd``; False when nothing was there (or it ended)."""
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return False
        if not chunk:
            del self.fds[fd]
            return False
        buf = self.data[self.fds[fd]]
        room = self.cap - len(buf)
        if room > 0:
            buf += chunk[:room]
        if len(chunk) > room:
            self.truncated = True
        return True


def _usage(rusage: resource.struct_rusage) -> dict:
    return {"cpu_ms": (rusage.ru_utime + rusage.ru_stime) * 1000.0, "peak_kb": rusage.ru_maxrss}


_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def _background(pid: int) -> None:
    """Lowest CPU priority for a process about to be killed or to exit: its teardown
    then runs when a core is free instead of preempting the one that wakes it."""
    with contextlib.suppress(OSError):
        os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0))


def _measure(pid: int) -> dict | None:
    """C's CPU time (its process CPU clock) and resident memory, read while it still
    runs, so a verdict never waits for a process to be torn down. The resident size at
    the end is a lower bound of the peak (which only its exit status would give)."""
    try:
        cpu = time.clock_gettime((~pid << 3) | 2)  # CPUCLOCK_SCHED of process ``pid``
        with open(f"/proc/{pid}/statm", "rb") as fh:
            resident = int(fh.read().split()[1]) * _PAGE_KB
    except (OSError, ValueError, IndexError):
        return None
    return {"cpu_ms": cpu * 1000.0, "peak_kb": resident}


# A resident tester sees the same tests again and again (every candidate of a task, every
# round): their compiled code and call plans are kept (trusted text, immutable results).
_compile_cached = functools.lru_cache(maxsize=128)(lambda code, name: compile(code, name, "exec"))
_plan_cached = functools.lru_cache(maxsize=128)(plan_calls)
CACHED_TEXT = 16 * 1024  # larger texts are compiled and planned afresh each time


def _compiled(code: str, name: str) -> types.CodeType:
    return _compile_cached(code, name) if len(code) <= CACHED_TEXT else compile(code, name, "exec")


def _planned(code: str, entry: str) -> list | None:
    return _plan_cached(code, entry) if len(code) <= CACHED_TEXT else plan_calls(code, entry)


# The most a candidate's reply may hold: a tester (root, and resident across jobs) never
# buffers more of a candidate's making than this.
REPLY_CAP = 32 * 1024 * 1024
KILLED: set[int] = set()  # candidates stopped by this tester, not yet collected


class Candidate:
    def __init__(self, pid: int, calls: int, replies: int, output: Output, deadline: float) -> None:
        self.pid, self.calls, self.replies = pid, calls, replies
        self.output, self.deadline = output, deadline
        self.failure: str | None = None
        self.exit_code: int | None = None
        self.usage: dict = {"cpu_ms": 0.0, "peak_kb": 0}
        self.values: dict = {}
        self.status = "failed"
        self.buffer = bytearray()
        self.loaded_at = 0.0
        self.planned: list[str] | None = None  # pipelined calls not yet answered
        self.tracing = False
        self.trace: tuple[str, object] | None = None  # the last traced call and C's account

    def recv(self) -> dict:
        while True:
            if len(self.buffer) >= FRAME.size and FRAME.unpack_from(self.buffer)[0] > REPLY_CAP:
                raise self._fail("the candidate sent an oversized reply")
            try:
                body = take_frame(self.buffer)
            except ValueError:
                raise self._fail("the candidate sent an oversized reply") from None
            if body is not None:
                try:
                    message = json.loads(body)
                except (ValueError, RecursionError):
                    raise self._fail("the candidate broke the call protocol") from None
                if not isinstance(message, dict):
                    raise self._fail("the candidate broke the call protocol")
                if self.tracing and "partial_trace" in message and self.trace is not None:
                    self.trace = (self.trace[0], message["partial_trace"])
                    continue
                return message
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                self.status = "timeout"
                raise self._fail("timed out")
            ready, _, _ = select.select([self.replies, *self.output.fds], [], [], remaining)
            for fd in ready:
                if fd == self.replies:
                    chunk = os.read(fd, 1 << 20)
                    if not chunk:
                        raise self._fail(self._death())
                    self.buffer += chunk
                else:
                    self.output.pump(fd)

    def _wait(self) -> int | None:
        """Reap C (its wait status), killing it if it is still running at the deadline."""
        while True:
            try:
                pid, status, rusage = os.wait4(self.pid, os.WNOHANG)
            except ChildProcessError:
                return None
            if pid:
                self.usage = _usage(rusage)
                return status
            if time.monotonic() >= self.deadline:
                os.kill(self.pid, signal.SIGKILL)
                self.status = "timeout"
            time.sleep(0.001)

    def _death(self) -> str:
        status = self._wait()
        self.pid = 0
        if status is None:
            return "the candidate process ended during the test"
        if self.status == "timeout":
            return "timed out"
        if os.WIFEXITED(status):
            self.exit_code = os.WEXITSTATUS(status)
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            if sig == signal.SIGXCPU:
                self.status = "timeout"
                return "CPU time limit exceeded"
            if sig == signal.SIGXFSZ:
                self.status = "resource_exceeded"
                return "file size limit exceeded"
            return f"the candidate process was killed by signal {sig}"
        return f"the candidate process exited (code {os.WEXITSTATUS(status)}) during the test"

    def _fail(self, reason: str) -> CandidateFailure:
        if self.failure is None:
            self.failure = reason
        return CandidateFailure(reason)

    def start(self, go: dict) -> list[str]:
        write_frame(self.calls, go)
        return self.loaded()

    def loaded(self) -> list[str]:
        """The names C's program defined (raises CandidateFailure if it did not load)."""
        reply = self.recv()
        self.loaded_at = time.monotonic()
        if "load_error" in reply:
            if "MemoryError" in str(reply["load_error"]):
                self.status = "resource_exceeded"
            raise self._fail(str(reply["load_error"]))
        values = reply.get("values")
        self.values = values if isinstance(values, dict) else {}
        return [str(n) for n in reply.get("loaded", [])]

    def ask(self, name: str, args: tuple, kwargs: dict) -> dict:
        """C's raw reply to one call (raises CandidateFailure if C cannot answer)."""
        if self.failure is not None:
            raise CandidateFailure(self.failure)
        try:
            payload = {"call": name, "args": encode(list(args)), "kwargs": encode(kwargs)}
        except BoundaryError as exc:
            raise BoundaryError(f"argument to {name}: {exc}") from None
        if self.tracing:
            payload["trace"] = True
            self.trace = (describe_call(name, args, kwargs), None)
        body = json.dumps(payload).encode("utf-8")
        if self.planned is not None:  # sent already: its answer is next in line
            if self.planned[:1] != [canonical((name, args, kwargs))]:
                self.status = "sandbox_error"
                raise self._fail("sandbox error: the test's calls did not follow their plan")
            del self.planned[0]
        else:
            try:
                write_all(self.calls, FRAME.pack(len(body)) + body)
            except (BrokenPipeError, OSError):
                raise self._fail(self._death()) from None
        reply = self.recv()
        if self.tracing and self.trace is not None:
            self.trace = (self.trace[0], reply.pop("trace", None))
        return reply

    def pipeline(self, name: str, calls: list) -> bool:
        """Send the planned calls (see :mod:`.pipeline`) at once; False if not worth it."""
        bodies, forms = [], []
        try:
            for args, kwargs in calls:
                payload = {"call": name, "args": encode(list(args)), "kwargs": encode(kwargs)}
                bodies.append(json.dumps(payload).encode("utf-8"))
                # Matched by value, not by bytes: equal sets can iterate in other orders.
                forms.append(canonical((name, tuple(args), kwargs)))
        except (BoundaryError, ValueError, RecursionError):
            return False
        if sum(len(b) + FRAME.size for b in bodies) > MAX_BYTES:
            return False
        with contextlib.suppress(OSError):  # a dead C fails on its first answer instead
            write_all(self.calls, b"".join(FRAME.pack(len(b)) + b for b in bodies))
        self.planned = forms
        return True

    def value(self, reply: dict) -> object:
        """The returned value as plain data; a malformed one fails the candidate."""
        try:
            return decode(reply["value"])
        except (BoundaryError, TypeError, ValueError, KeyError, RecursionError):
            raise self._fail("the candidate sent a malformed value") from None

    def call(self, name: str, args: tuple, kwargs: dict) -> object:
        reply = self.ask(name, args, kwargs)
        if "value" in reply:
            return self.value(reply)
        name_ = str(reply.get("raise", "Exception"))
        message = str(reply.get("message", ""))
        if name_ == "MemoryError":
            self.status = "resource_exceeded"
        kind = getattr(builtins, name_, None)
        error: Exception = RuntimeError(f"{name_}: {message}")
        if isinstance(kind, type) and issubclass(kind, Exception):
            with contextlib.suppress(TypeError):
                error = kind(message)
        line = reply.get("line")
        if type(line) is int:
            error.candidate_line = line  # type: ignore[attr-defined]
        raise error

    def stop(self) -> dict:
        """Kill C without waiting for it to die (its parent collects it later); its usage
        so far."""
        if self.pid:
            measured = _measure(self.pid)
            _background(self.pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            if measured is not None:
                self.usage = measured
            KILLED.add(self.pid)  # collected by its parent once it has died
            self.pid = 0
        for fd in (self.calls, self.replies):
            with contextlib.suppress(OSError):
                os.close(fd)
        return self.usage


def _proxy(candidate: Candidate, name: str):
    def call(*args: object, **kwargs: object) -> object:
        return candidate.call(name, args, kwargs)

    call.__name__ = call.__qualname__ = name
    return call


def _go(job: dict, stdin_path: str | None = None) -> dict:
    keys = ("mode", "program", "limits", "uid", "workdir")
    return dict({k: job.get(k) for k in keys}, stdin_path=stdin_path)


def _run_script(cand: Candidate, job: dict) -> tuple[bool, str]:
    """Exec mode: the script runs to its end in C; passing means it exited 0."""
    stdin_path = os.path.join(job["workdir"], ".stdin")
    with open(stdin_path, "w", encoding="utf-8") as fh:
        fh.write(job.get("stdin", ""))
    if job.get("uid") is not None:
        os.chown(stdin_path, job["uid"], job["uid"])
    write_frame(cand.calls, _go(job, stdin_path))
    try:
        cand.recv()  # a script sends no frames: this returns only by raising
    except CandidateFailure as exc:
        if cand.status == "timeout":
            return False, str(exc)
    return cand.exit_code == 0, "" if cand.exit_code == 0 else (cand.failure or "")


TRACE_SECONDS = 1.0
REHEARSAL_TEST = (
    "from typing import List\n\n\ndef check(candidate):\n"
    "    assert candidate([1.0, 2.0], 1.5) == [2.0], 'rehearsal'\n\n\ncheck(f)\n"
)


def rehearse() -> None:
    """A spare T's own small job, run before a real one can arrive: see the candidate's
    :func:`~.candidate.rehearse` (the first write to each page of a forked process
    copies it; better here than between a job's arrival and its verdict)."""
    scope: dict = {"__name__": "__test__", "__builtins__": builtins}
    scope["f"] = lambda xs, t: [x for x in xs if x > t]
    with contextlib.suppress(Exception):
        exec(compile(REHEARSAL_TEST, "<rehearsal>", "exec"), scope)
        json.loads(json.dumps({"test": 0, "passed": True, "message": describe(ValueError())}))


def tester_main(control: int, results: int) -> None:
    """Runs in T, forked ahead of need: one spare C, then the job, then the tests."""
    prctl(PR_SET_DUMPABLE, 0)
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    spawned = [fork_candidate(out_w, err_w)]
    rehearse()
    header = read_frame(control)
    if header is None:
        os._exit(0)
    job = json.loads(header)
    phases = {"tester": time.monotonic()}  # when things happened, for benchmarks/sandbox.py
    deadline = time.monotonic() + float(job["limits"].get("wall_seconds", 10.0))
    mode = job["mode"]
    count = max(1, int(job["n_tests"])) if mode == "tests" else 1
    if mode == "tests":  # C loads the program while T readies the tests
        _send_go(spawned[0], _go(job))
    while len(spawned) < count:
        spawned.append(fork_candidate(out_w, err_w))
        if mode == "tests":
            _send_go(spawned[-1], _go(job))
    tracer = None
    if mode == "tests" and job.get("trace"):
        devnull = os.open(os.devnull, os.O_WRONLY)  # a traced rerun prints nowhere
        tracer = fork_candidate(devnull, devnull)
        os.close(devnull)
    output = Output(
        {out_r: "stdout", err_r: "stderr"}, int(job["limits"].get("output_bytes", 65536))
    )
    used: list[Candidate] = []

    def spawn() -> Candidate:  # outputs mode: a fresh C after one died (no tests here)
        cand = Candidate(*fork_candidate(out_w, err_w), output, deadline)
        used.append(cand)
        return cand

    if mode != "outputs":
        os.close(out_w)
        os.close(err_w)
    for fd in (out_r, err_r):
        os.set_blocking(fd, False)
    # Only now, with every candidate process already forked, do the tests enter memory.
    tests = read_tests(job, control)
    phases["tests_read"] = time.monotonic()
    statuses: list[str] = []
    if mode == "exec":
        cand = Candidate(*spawned[0], output, deadline)
        used.append(cand)
        passed, message = _run_script(cand, job)
        statuses.append("passed" if passed else cand.status)
        cand.stop()
        write_frame(results, {"test": 0, "passed": passed, "message": message})
    elif mode == "outputs":
        for _pid, call_w, reply_r in spawned:  # not needed: inputs get processes on demand
            os.close(call_w)
            os.close(reply_r)
        run_outputs(job, tests, spawn, deadline, results, CandidateFailure)
        os.close(out_w)
        os.close(err_w)
        statuses.append("passed")
    else:
        statuses = _run_tests(job, tests, spawned, output, deadline, results, used)
        if used and used[0].loaded_at:
            phases["loaded"] = used[0].loaded_at
        if tracer is not None:
            _trace_first_failure(job, tests, statuses, tracer, output, deadline, results)
    phases["ran"] = time.monotonic()
    if mode == "exec":  # the script ended by itself: its output ends at EOF
        end = time.monotonic() + 0.05
        while output.fds and time.monotonic() < end:
            ready, _, _ = select.select(list(output.fds), [], [], max(0.0, end - time.monotonic()))
            for fd in ready:
                output.pump(fd)
    else:  # C flushes before every reply: what it printed is already in the pipes
        output.drain()
    write_done(results, statuses, output, used, phases)
    _background(0)  # this process: the rest is teardown, after the verdict


def read_tests(job: dict, control: int) -> list:
    """The job's tests: from the control pipe, or from the file a large set went to."""
    if job.get("tests_path"):
        with open(job["tests_path"], "rb") as fh:
            tests = json.loads(fh.read())
        os.unlink(job["tests_path"])
        return tests
    return json.loads(read_frame(control) or b"[]")


def write_done(
    results: int, statuses: list[str], output: Output, used: list[Candidate], phases: dict
) -> None:
    """The job's final frame: its status, output and usage (the worker reports on it)."""
    status = "passed" if statuses and all(s == "passed" for s in statuses) else "failed"
    for worst in ("timeout", "resource_exceeded", "sandbox_error"):
        if worst in statuses:
            status = worst
    write_frame(
        results,
        {
            "done": True,
            "status": status,
            "stdout": output.data["stdout"].decode("utf-8", "replace"),
            "stderr": output.data["stderr"].decode("utf-8", "replace"),
            "truncated": output.truncated,
            "cpu_ms": sum(c.usage["cpu_ms"] for c in used),
            "peak_kb": max((c.usage["peak_kb"] for c in used), default=0),
            "phases": dict(phases, done=time.monotonic()),
        },
    )


def _test_scope(job: dict) -> tuple[dict, set[str]]:
    base: dict = {"__name__": "__test__", "__builtins__": builtins}
    if job.get("preamble"):
        exec(_compiled(job["preamble"], "<preamble>"), base)
    # Names the candidate may not take over in the test's scope: the preamble's helpers
    # and every builtin (a candidate's own ``abs`` or ``len`` must not judge its answers).
    trusted = {k for k, v in base.items() if callable(v)} | set(vars(builtins))
    return base, trusted - {job.get("entry_point")}


def _send_go(process: tuple[int, int, int], go: dict) -> None:
    with contextlib.suppress(OSError):  # a C that died already fails its test on reading
        write_frame(process[1], go)


def _run_test(
    cand: Candidate, go: dict | None, code: str, base: dict, trusted: set[str]
) -> tuple[bool, str]:
    """Run one test's code against ``cand`` (``go``: None when it was sent already):
    (passed, message)."""
    scope = dict(base)
    try:
        for name in cand.start(go) if go is not None else cand.loaded():
            if name not in trusted:
                scope[name] = _proxy(cand, name)
        for name, value in cand.values.items():
            if name not in base and name not in trusted:
                scope[name] = decode(value)
        exec(_compiled(code, "<test>"), scope)
        passed, message = True, ""
    except BaseException as exc:
        passed, message = False, describe(exc)
    if cand.failure is not None:  # whatever the test code did with the error
        passed, message = False, cand.failure
    return passed, message


def _run_tests(
    job: dict,
    tests: list,
    spawned: list[tuple[int, int, int]],
    output: Output,
    deadline: float,
    results: int,
    used: list,
    go_sent: bool = True,
) -> list[str]:
    """Each test against its own C. ``go_sent``: whether each C already has its 'go';
    if not, it is sent together with the test's planned calls, just before T waits for
    the answers (a wake-up whose waker sleeps at once is the cheap kind)."""
    base, trusted = _test_scope(job)
    statuses = []
    for index, (test, (pid, call_w, reply_r)) in enumerate(zip(tests, spawned, strict=False)):
        cand = Candidate(pid, call_w, reply_r, output, deadline)
        used.append(cand)
        entry = str(job.get("entry_point") or "")
        plan = _planned(test["code"], entry) if entry else None
        if not go_sent:
            _send_go((pid, call_w, reply_r), _go(job))
        if plan:
            cand.pipeline(entry, plan)
        passed, message = _run_test(cand, None, test["code"], base, trusted)  # go: sent
        statuses.append("passed" if passed else cand.status)
        cand.stop()
        write_frame(results, {"test": index, "passed": passed, "message": message})
    return statuses


def _trace_first_failure(
    job: dict,
    tests: list,
    statuses: list[str],
    process: tuple[int, int, int],
    output: Output,
    deadline: float,
    results: int,
) -> None:
    """Rerun the first failing test the job allows to be traced, tracing its calls.

    Every verdict is already written: this run can only add a trace to one of them.
    """
    allowed = {int(i) for i in job.get("trace") or [] if type(i) is int}
    failing = [i for i, s in enumerate(statuses) if s != "passed" and i in allowed]
    silent = Output({}, 0)
    cand = Candidate(*process, silent, min(time.monotonic(), deadline) + TRACE_SECONDS)
    if not failing:
        cand.stop()
        return
    cand.tracing = True
    base, trusted = _test_scope(job)
    _run_test(cand, _go(job), tests[failing[0]]["code"], base, trusted)
    cand.stop()
    if cand.trace is not None:
        kept = clean(cand.trace[1], cand.trace[0])
        if kept is not None:
            write_frame(results, {"trace_for": failing[0], "trace": kept})
