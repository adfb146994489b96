"""Outputs mode of the tester: one candidate's program called on many inputs.

The inputs (argument lists as Python source) are evaluated in the first candidate
process before the program is loaded there, so they run contained and untouched by the
candidate. Then each input is one call of the entry point with its own deadline; the
tester writes one record per input: the value (decoded and re-encoded as exact plain
data, with its canonical form), the exception the candidate raised, or the status of a
call that timed out, ran out of a resource or crashed. A candidate process that dies
costs its call; the next input gets a fresh process.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .codec import BoundaryError, canonical, decode, encode, write_frame

Spawn = Callable[[], object]


def _status(kind: str, message: str) -> dict:
    # "!timeout!": no exception's name can end in "!", so no raise can pose as a status
    return {"kind": kind, "canonical": f"!{kind}!", "message": message[:2000]}


def _arguments(record: object) -> tuple[tuple, dict] | str:
    """Arguments from the evaluated input record, or why it is not usable."""
    if not isinstance(record, dict):
        return "input not evaluated"
    if "bad" in record:
        return str(record["bad"])
    try:
        args, kwargs = decode(record.get("args")), decode(record.get("kwargs"))
    except (BoundaryError, TypeError, ValueError, KeyError, RecursionError):
        return "input is not plain data"
    if type(args) is not list or type(kwargs) is not dict:
        return "input must be call arguments, like: 1, [2, 3], key='x'"
    if not all(type(k) is str for k in kwargs):
        return "keyword names must be strings"
    return tuple(args), kwargs


def _outcome(cand, reply: dict) -> dict:
    if "value" in reply:
        value = cand.value(reply)
        try:
            form = canonical(value)
            kept = None if form.startswith("sha256:") else encode(value)
        except (BoundaryError, ValueError, RecursionError):
            return _status("crashed", "the returned value cannot be compared")
        return {"kind": "value", "canonical": form, "value": kept}
    if "raise" in reply:
        name = str(reply.get("raise", "Exception"))[:100]
        if name == "MemoryError":
            cand.status = "resource_exceeded"
            return _status("resource_exceeded", "MemoryError")
        return {
            "kind": "raised",
            "canonical": "!" + name,
            "error": name,
            "message": str(reply.get("message", ""))[:2000],
        }
    return _status("crashed", "the candidate broke the call protocol")


def run_outputs(
    job: dict,
    sources: list,
    spawn: Callable,
    deadline: float,
    results: int,
    failure_type: type[Exception],
) -> None:
    """Write one record per input, in order."""
    entry = str(job.get("entry_point") or "")
    per_call = float(job.get("call_seconds") or 1.0)
    go = {k: job.get(k) for k in ("mode", "program", "limits", "uid", "workdir")}
    go.update(inputs=sources, preamble=job.get("preamble", ""), stdin_path=None)
    arguments: list[tuple[tuple, dict] | str] | None = None
    cand = None
    ended: dict | None = None  # set once no further call can be made
    for index in range(len(sources)):
        if ended is None and time.monotonic() >= deadline:
            ended = _status("timeout", "the batch's wall time ran out before this call")
        if ended is None and cand is None:
            cand = spawn()
            cand.deadline = deadline
            try:
                write_frame(cand.calls, go)
                if arguments is None:
                    first = cand.recv()
                    records = first.get("inputs") if isinstance(first, dict) else None
                    if not isinstance(records, list) or len(records) != len(sources):
                        records = [None] * len(sources)
                    arguments = [_arguments(r) for r in records]
                    go.pop("inputs")  # later processes get the evaluated arguments only
                names = cand.loaded()
                if entry not in names:
                    ended = _status("not_loaded", f"the program does not define {entry}")
            except failure_type:
                if arguments is None:
                    ended = _status(
                        "bad_input", "evaluating the inputs failed: " + str(cand.failure)
                    )
                else:
                    kind = (
                        "resource_exceeded" if cand.status == "resource_exceeded" else "not_loaded"
                    )
                    ended = _status(kind, str(cand.failure))
        if ended is not None:
            write_frame(results, dict(ended, test=index))
            continue
        assert cand is not None and arguments is not None
        prepared = arguments[index]
        if isinstance(prepared, str):
            write_frame(results, dict(_status("bad_input", prepared), test=index))
            continue
        cand.deadline = min(deadline, time.monotonic() + per_call)
        try:
            record = _outcome(cand, cand.ask(entry, *prepared))
        except BoundaryError as exc:
            record = _status("bad_input", str(exc))
        except failure_type:
            kind = cand.status if cand.status in ("timeout", "resource_exceeded") else "crashed"
            record = _status(kind, str(cand.failure))
        if cand.failure is not None:
            cand.stop()
            cand = None
        write_frame(results, dict(record, test=index))
    if cand is not None:
        cand.stop()
