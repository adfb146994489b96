"""The single-use tester process (T): runs one job's tests and alone writes their results.

T is forked from the worker's zygote ahead of need, forks its candidate processes (C),
and only then reads the tests. Test code runs here, where the candidate's names are
proxies (:mod:`.proxy`) that send arguments to C and decode its answers as plain data;
nothing C does can reach the pipe T writes results on. Running the tests themselves is
:mod:`.verdicts`' part, shared with the resident tester (:mod:`.resident`).
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import select
import signal
import time

from .candidate import fork_candidate
from .codec import describe, read_frame, write_frame
from .containment import PR_SET_DUMPABLE, PR_SET_PDEATHSIG, prctl
from .outputs import run_outputs
from .proxy import Candidate, CandidateFailure, Output, background
from .verdicts import (
    go_frame,
    read_tests,
    run_tests,
    send_go,
    trace_first_failure,
    write_done,
)


def _run_script(cand: Candidate, job: dict) -> tuple[bool, str]:
    """Exec mode: the script runs to its end in C; passing means it exited 0."""
    stdin_path = os.path.join(job["workdir"], ".stdin")
    with open(stdin_path, "w", encoding="utf-8") as fh:
        fh.write(job.get("stdin", ""))
    if job.get("uid") is not None:
        os.chown(stdin_path, job["uid"], job["uid"])
    write_frame(cand.calls, go_frame(job, stdin_path))
    try:
        cand.recv()  # a script sends no frames: this returns only by raising
    except CandidateFailure as exc:
        if cand.status == "timeout":
            return False, str(exc)
    return cand.exit_code == 0, "" if cand.exit_code == 0 else (cand.failure or "")


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
        send_go(spawned[0], go_frame(job))
    while len(spawned) < count:
        spawned.append(fork_candidate(out_w, err_w))
        if mode == "tests":
            send_go(spawned[-1], go_frame(job))
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
        statuses = run_tests(job, tests, spawned, output, deadline, results, used)
        if used and used[0].loaded_at:
            phases["loaded"] = used[0].loaded_at
        if tracer is not None:
            trace_first_failure(job, tests, statuses, tracer, output, deadline, results)
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
    background(0)  # this process: the rest is teardown, after the verdict
