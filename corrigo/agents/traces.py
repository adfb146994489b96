"""Execution traces rendered for the next round's prompt.

A trace (see :class:`corrigo.records.Trace`) is the candidate's own account of one
failing call: which lines of its program ran, in order, and its local variables at the
call's entry, at the first loop turns and at the end. Shown beside the failure, it lets
the model see where its reasoning and its code part ways (the idea behind LDB-style
debugging), instead of guessing from the failing assertion alone.
"""

from __future__ import annotations

from corrigo.records import Trace

_MAX_LINES_SHOWN = 40
_MAX_CHARS = 1200


def _variables(values: dict[str, str]) -> str:
    return ", ".join(f"{name}={value}" for name, value in values.items()) or "(none)"


def render_trace(trace: Trace, program: str) -> str:
    """A few indented lines: the call, the lines run, the variables at each snapshot."""
    source = program.splitlines()

    def code(line: int) -> str:
        if 1 <= line <= len(source):
            return f" `{source[line - 1].strip()[:60]}`"
        return ""

    shown = [str(n) for n in trace.lines[:_MAX_LINES_SHOWN]]
    more = len(trace.lines) - len(shown)
    if more > 0 or trace.truncated:
        shown.append("…")
    out = [f"  Trace of {trace.call} (from your program's own run; lines in the order run):"]
    out.append("    lines: " + " ".join(shown))
    for index, snap in enumerate(trace.snapshots):
        where = "entering" if index == 0 else f"line {snap.line}{code(snap.line)}"
        out.append(f"    {where}: {_variables(snap.locals)}")
    if trace.outcome:
        out.append(f"    then it {trace.outcome}")
    text = "\n".join(out)
    return text if len(text) <= _MAX_CHARS else text[:_MAX_CHARS] + " …"
