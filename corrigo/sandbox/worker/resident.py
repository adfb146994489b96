"""The resident tester: one T that runs many test jobs, one after another.

A single-use tester (:func:`.tester.tester_main`) costs a fork, a warm-up and a teardown
per job, which on a small virtual machine is most of a job's time. A resident T forks a
pool of candidate processes *before it reads any test*, then takes test jobs one at a
time, giving each the next processes of the pool, until the pool is used up and it
exits. Tests of earlier jobs stay in T's memory, but no process is ever forked from T
after that, so no candidate can hold them; candidates never share a process with each
other or with T. Each pooled candidate has its own output pipes, so nothing one job's
processes print can reach another job's output. The worker clears each job's uid when
it is next idle (T cannot: it keeps running).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time

from .candidate import fork_candidate
from .codec import read_frame, write_frame
from .containment import PR_SET_DUMPABLE, PR_SET_PDEATHSIG, prctl
from .proxy import KILLED, Candidate, Output
from .tester import rehearse
from .verdicts import read_tests, run_tests, trace_first_failure, write_done

POOL = 16  # candidate processes per resident tester

Pooled = tuple[tuple[int, int, int], int, int]  # (pid, calls, replies), stdout, stderr


def _pooled() -> Pooled:
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    process = fork_candidate(out_w, err_w)
    os.close(out_w)
    os.close(err_w)
    for fd in (out_r, err_r):
        os.set_blocking(fd, False)
    return process, out_r, err_r


def resident_main(control: int, results: int, size: int = POOL) -> None:
    """Runs in a resident T: fork the pool, then serve test jobs until it is used up."""
    prctl(PR_SET_DUMPABLE, 0)
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    # Candidates killed after their job are collected as they die, even while T waits
    # for its next job, so none lingers as a zombie (a dying C's usage is not needed:
    # its CPU time was read before the kill).
    signal.signal(signal.SIGCHLD, lambda *_: _reap_killed())
    pool = [_pooled() for _ in range(size)]
    rehearse()
    write_frame(results, {"pool": len(pool)})  # ready: the worker may be waiting for this
    while pool:
        header = read_frame(control)
        if header is None:
            break
        job = json.loads(header)
        phases = {"tester": time.monotonic()}
        deadline = time.monotonic() + float(job["limits"].get("wall_seconds", 10.0))
        count = max(1, int(job["n_tests"]))
        need = count + (1 if job.get("trace") else 0)
        mine, pool = pool[:need], pool[need:]
        tests = read_tests(job, control)
        phases["tests_read"] = time.monotonic()
        streams: dict[int, str] = {}
        for _, out_r, err_r in mine[:count]:  # a traced rerun's prints are not kept
            streams[out_r], streams[err_r] = "stdout", "stderr"
        output = Output(streams, int(job["limits"].get("output_bytes", 65536)))
        used: list[Candidate] = []
        spawned = [process for process, _, _ in mine[:count]]
        statuses = run_tests(job, tests, spawned, output, deadline, results, used, False)
        if used and used[0].loaded_at:
            phases["loaded"] = used[0].loaded_at
        if len(mine) > count:
            trace_first_failure(job, tests, statuses, mine[count][0], output, deadline, results)
        phases["ran"] = time.monotonic()
        output.drain()
        write_done(results, statuses, output, used, phases)
        for _, out_r, err_r in mine:
            for fd in (out_r, err_r):
                with contextlib.suppress(OSError):
                    os.close(fd)
        _reap_killed()
    for (_pid, calls, replies), out_r, err_r in pool:  # unused: they exit on EOF
        for fd in (calls, replies, out_r, err_r):
            with contextlib.suppress(OSError):
                os.close(fd)


def _reap_killed() -> None:
    """Collect the candidates :meth:`Candidate.stop` killed that have died (only those:
    a candidate that dies on its own is collected by the test that saw it die)."""
    for pid in list(KILLED):
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            KILLED.discard(pid)
