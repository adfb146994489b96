"""Execution traces of a candidate's call, for debugging feedback.

:class:`Tracer` runs in the candidate process (C) and records, for the code compiled
from the candidate's program only, the lines in the order they ran and the local
variables (capped ``repr`` text) at the call's entry, at the first few loop turns and
at its end. Whatever C sends back is only its own account: :func:`clean` on the tester's
side keeps nothing but line numbers, short texts and a flag, within fixed caps, and the
tester attaches it to a test whose verdict was written before the traced run began.
"""

from __future__ import annotations

import reprlib
import sys
from collections.abc import Callable
from typing import Any

MAX_LINES = 400
MAX_SNAPSHOTS = 10
MAX_LOOP_SNAPSHOTS = 6
MAX_VARS = 12
MAX_TEXT = 100
MAX_OUTCOME = 300
CANDIDATE_FILE = "<candidate>"

_SHORT = reprlib.Repr()
_SHORT.maxstring = 60
_SHORT.maxother = 60
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxset = _SHORT.maxdict = 8
_SHORT.maxlevel = 3


def short(value: object) -> str:
    """A capped ``repr``; a ``__repr__`` that fails or lies at length is cut short."""
    try:
        text = _SHORT.repr(value)
    except Exception as exc:  # the candidate's own __repr__ may raise anything
        text = f"<unprintable {type(value).__name__}: {type(exc).__name__}>"
    return text[:MAX_TEXT]


class Tracer:
    """Collects one call's trace; ``send`` ships a partial one when the line cap is hit."""

    def __init__(self, send: Callable[[dict], None]) -> None:
        self.send = send
        self.lines: list[int] = []
        self.snapshots: list[dict] = []
        self.loops = 0
        self.truncated = False
        self.top: Any = None
        self.last_line: dict[int, int] = {}

    def snapshot(self, frame: Any, line: int) -> None:
        if len(self.snapshots) >= MAX_SNAPSHOTS:
            return
        names = [n for n in frame.f_locals if not n.startswith("__")][:MAX_VARS]
        self.snapshots.append(
            {"line": line, "locals": {n: short(frame.f_locals[n]) for n in names}}
        )

    def result(self, outcome: str) -> dict:
        return {
            "lines": self.lines,
            "snapshots": self.snapshots,
            "outcome": outcome[:MAX_OUTCOME],
            "truncated": self.truncated,
        }

    def __call__(self, frame: Any, event: str, arg: object) -> Any:
        if frame.f_code.co_filename != CANDIDATE_FILE:
            return None  # library code is not traced line by line
        if self.top is None:
            self.top = frame
            self.snapshot(frame, frame.f_lineno)
        return self.local

    def local(self, frame: Any, event: str, arg: object) -> Any:
        if event == "line":
            line = frame.f_lineno
            if len(self.lines) >= MAX_LINES:
                self.truncated = True
                self.send({"partial_trace": self.result("(trace cut at the line cap)")})
                sys.settrace(None)  # the rest runs at full speed, untraced
                return None
            self.lines.append(line)
            previous = self.last_line.get(id(frame))
            if (
                frame is self.top
                and previous is not None
                and line <= previous
                and self.loops < MAX_LOOP_SNAPSHOTS
            ):
                self.loops += 1
                self.snapshot(frame, line)
            self.last_line[id(frame)] = line
        elif event == "return" and frame is self.top:
            self.snapshot(frame, frame.f_lineno)
        return self.local

    def run(self, fn: Callable[..., Any], args: list, kwargs: dict) -> Any:
        sys.settrace(self)
        try:
            return fn(*args, **kwargs)
        finally:
            sys.settrace(None)


# -------------------------------------------------------------- tester side


def clean(raw: object, call: str) -> dict | None:
    """The trace as the tester keeps it: only ints, short texts and a flag, capped."""
    if not isinstance(raw, dict):
        return None
    lines = raw.get("lines")
    snapshots = raw.get("snapshots")
    if not isinstance(lines, list) or not isinstance(snapshots, list):
        return None
    kept_lines = [n for n in lines[:MAX_LINES] if type(n) is int]
    kept_snaps = []
    for snap in snapshots[:MAX_SNAPSHOTS]:
        if not isinstance(snap, dict) or type(snap.get("line")) is not int:
            continue
        variables = snap.get("locals")
        if not isinstance(variables, dict):
            continue
        kept = {
            str(k)[:40]: str(v)[:MAX_TEXT]
            for k, v in list(variables.items())[:MAX_VARS]
            if isinstance(k, str) and isinstance(v, str)
        }
        kept_snaps.append({"line": snap["line"], "locals": kept})
    outcome = raw.get("outcome")
    return {
        "call": call[:MAX_OUTCOME],
        "lines": kept_lines,
        "snapshots": kept_snaps,
        "outcome": outcome[:MAX_OUTCOME] if isinstance(outcome, str) else "",
        "truncated": raw.get("truncated") is True or len(lines) > MAX_LINES,
    }


def describe_call(name: str, args: tuple, kwargs: dict) -> str:
    """``name(arg, ..., key=value)`` from the test's own arguments, on the tester's side."""
    parts = [short(a) for a in args] + [f"{k}={short(v)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"
