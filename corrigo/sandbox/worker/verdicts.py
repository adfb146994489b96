"""Running tests in T: the scope test code sees, one test against one candidate, the
traced rerun of a failure, and the job's last frame.

Shared by both kinds of tester, the single-use one (:mod:`.tester`) and the resident one
(:mod:`.resident`). Test code runs here, in T; the names the candidate defined are
proxies (:mod:`.proxy`), and only T writes the verdicts.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import json
import os
import time
import types

from .codec import decode, describe, read_frame, write_frame
from .pipeline import plan_calls
from .proxy import Candidate, Output
from .trace import clean

TRACE_SECONDS = 1.0  # the traced rerun's own time, after the tests' (see the worker)

# A resident tester sees the same tests again and again (every candidate of a task, every
# round): their compiled code and call plans are kept (trusted text, immutable results).
_compile_cached = functools.lru_cache(maxsize=128)(lambda code, name: compile(code, name, "exec"))
_plan_cached = functools.lru_cache(maxsize=128)(plan_calls)
CACHED_TEXT = 16 * 1024  # larger texts are compiled and planned afresh each time


def _compiled(code: str, name: str) -> types.CodeType:
    return _compile_cached(code, name) if len(code) <= CACHED_TEXT else compile(code, name, "exec")


def _planned(code: str, entry: str) -> list | None:
    return _plan_cached(code, entry) if len(code) <= CACHED_TEXT else plan_calls(code, entry)


def _proxy(candidate: Candidate, name: str):
    def call(*args: object, **kwargs: object) -> object:
        return candidate.call(name, args, kwargs)

    call.__name__ = call.__qualname__ = name
    return call


def go_frame(job: dict, stdin_path: str | None = None) -> dict:
    """The 'go' frame a candidate waits for: its program, uid, limits and workdir."""
    keys = ("mode", "program", "limits", "uid", "workdir")
    return dict({k: job.get(k) for k in keys}, stdin_path=stdin_path)


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


def send_go(process: tuple[int, int, int], go: dict) -> None:
    """Send a forked C (pid, calls fd, replies fd) its 'go' frame."""
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


def run_tests(
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
            send_go((pid, call_w, reply_r), go_frame(job))
        if plan:
            cand.pipeline(entry, plan)
        passed, message = _run_test(cand, None, test["code"], base, trusted)  # go: sent
        statuses.append("passed" if passed else cand.status)
        cand.stop()
        write_frame(results, {"test": index, "passed": passed, "message": message})
    return statuses


def trace_first_failure(
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
    _run_test(cand, go_frame(job), tests[failing[0]]["code"], base, trusted)
    cand.stop()
    if cand.trace is not None:
        kept = clean(cand.trace[1], cand.trace[0])
        if kept is not None:
            write_frame(results, {"trace_for": failing[0], "trace": kept})
