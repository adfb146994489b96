"""The candidate process (C): the only place candidate code ever runs.

C is forked from its tester before the tester has read any test. It waits for its
program, drops to the job's uid and limits, loads the program, and then answers calls
of the names it defined with plain data. It learns nothing but its program and the
arguments of the calls it serves.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import signal
import sys
import traceback

from .codec import (
    BoundaryError,
    decode,
    describe,
    encode,
    read_frame,
    write_frame,
)
from .containment import PR_SET_PDEATHSIG, apply_limits, prctl
from .trace import Tracer, short


def candidate_main(calls: int, replies: int) -> None:
    """Runs in C: wait for 'go' (program, uid, limits), drop privileges, answer calls.

    C is forked from T before T has read any test; it learns nothing but its program and
    the arguments of the calls it serves.
    """
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    rehearse()
    frame = read_frame(calls)
    if frame is None:  # T closed the channel: this C is not needed
        os._exit(0)
    job = json.loads(frame)
    os.chdir(job["workdir"])
    if job.get("stdin_path"):
        stdin_fd = os.open(job["stdin_path"], os.O_RDONLY)
        os.dup2(stdin_fd, 0)
        os.close(stdin_fd)
    if job.get("uid") is not None:
        os.setgroups([])
        os.setgid(job["uid"])
        os.setuid(job["uid"])
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # a credential change cleared it
    apply_limits(job["limits"])
    if job["mode"] == "exec":
        code = 0
        try:
            exec(
                compile(job["program"], "<candidate>", "exec"),
                {"__name__": "__main__", "__builtins__": builtins},
            )
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    if job.get("inputs") is not None:  # before any candidate code has run in this process
        write_frame(replies, {"inputs": evaluate_inputs(job["inputs"], job.get("preamble", ""))})
    namespace: dict = {"__name__": "__candidate__", "__builtins__": builtins}
    try:
        exec(compile(job["program"], "<candidate>", "exec"), namespace)
    except BaseException as exc:
        write_frame(replies, {"load_error": "program failed to load: " + describe(exc)})
        os._exit(0)
    del job, frame
    names, values = [], {}
    for key, value in namespace.items():
        if key.startswith("__"):
            continue
        if callable(value):
            names.append(key)
        else:
            with contextlib.suppress(BoundaryError):  # modules and objects stay in C
                values[key] = encode(value, [10_000])
    write_frame(replies, {"loaded": sorted(names), "values": values})
    while True:
        frame = read_frame(calls)
        if frame is None:
            os._exit(0)
        request = json.loads(frame)
        tracer = (
            Tracer(lambda partial: write_frame(replies, partial)) if request.get("trace") else None
        )
        try:
            fn = namespace[request["call"]]
            args, kwargs = decode(request["args"]), decode(request["kwargs"])
            result = tracer.run(fn, args, kwargs) if tracer else fn(*args, **kwargs)
            reply: dict = {"value": encode(result)}
            outcome = "returned " + short(result) if tracer else ""
        except BaseException as exc:  # the candidate's own exceptions are answers, not crashes
            reply = {"raise": type(exc).__name__, "message": str(exc)[:2000]}
            outcome = f"raised {type(exc).__name__}: {reply['message'][:200]}"
            for tb_frame in reversed(traceback.extract_tb(exc.__traceback__)):
                if tb_frame.filename == "<candidate>":  # where it raised, for feedback only
                    reply["line"] = tb_frame.lineno
                    outcome += f" (line {tb_frame.lineno})"
                    break
        if tracer is not None:
            reply["trace"] = tracer.result(outcome)
        sys.stdout.flush()
        sys.stderr.flush()
        write_frame(replies, reply)


REHEARSAL = (
    "from typing import List, Tuple, Optional\n"
    "import math\n"
    "def f(xs: List[int], k: int = 2) -> Tuple[int, ...]:\n"
    "    out = [x * k for x in xs if x % 2 == 0]\n"
    "    return tuple(sorted(set(out)))\n"
)


def rehearse() -> None:
    """Run a small job of our own while waiting for a real one.

    A forked process copies each memory page it first writes to. Compiling, running,
    encoding and framing once here, before the job arrives, takes most of those copies
    off the path between a job's arrival and its verdict. Only our own code runs."""
    namespace: dict = {"__name__": "__rehearsal__", "__builtins__": builtins}
    with contextlib.suppress(Exception):
        exec(compile(REHEARSAL, "<rehearsal>", "exec"), namespace)
        value = namespace["f"](*decode(json.loads(json.dumps(encode([[1, 2, 3, 4]])))))
        json.dumps({"value": encode(value), "loaded": sorted(namespace)})


def evaluate_inputs(sources: list, preamble: str) -> list[dict]:
    """Each input's arguments as plain data (or why not), evaluated with the task's
    preamble in scope — contained, and before the candidate's program is loaded."""
    scope: dict = {"__name__": "__inputs__", "__builtins__": builtins}
    try:
        if preamble:
            exec(compile(preamble, "<preamble>", "exec"), scope)
    except BaseException as exc:
        return [{"bad": "the task's preamble failed: " + describe(exc)} for _ in sources]
    scope["_corrigo_args_"] = lambda *a, **k: (list(a), k)
    out = []
    for source in sources:
        try:
            code = compile("_corrigo_args_(\n" + str(source) + "\n)", "<input>", "eval")
            args, kwargs = eval(code, scope)
            out.append({"args": encode(args), "kwargs": encode(kwargs)})
        except BaseException as exc:
            out.append({"bad": describe(exc)})
    return out


def fork_candidate(out: int, err: int) -> tuple[int, int, int]:
    """A C process waiting for its 'go' frame; returns (pid, calls fd, replies fd)."""
    call_r, call_w = os.pipe()
    reply_r, reply_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            stdin_fd = os.open(os.devnull, os.O_RDONLY)
            os.dup2(stdin_fd, 0)
            os.dup2(out, 1)
            os.dup2(err, 2)
            os.dup2(call_r, 3)
            os.dup2(reply_w, 4)
            os.closerange(5, 65536)
            candidate_main(3, 4)
        finally:
            os._exit(70)
    os.close(call_r)
    os.close(reply_w)
    return pid, call_w, reply_r
