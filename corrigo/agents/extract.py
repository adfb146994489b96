"""Pull the program out of a model's reply, and assemble what the sandbox runs.

Replies come in every shape: one fenced block, several (a buggy version then a fixed
one), bare code, prose around code, a block cut off by the token limit, or no code at
all. ``extract_code`` returns None only when there is no code to run.
"""

from __future__ import annotations

import ast
import re
import textwrap

from corrigo.records import Task

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_PY_LANGS = {"", "python", "py", "python3", "py3"}
_CODE_START = re.compile(r"^(def |async def |class |import |from \S+ import |@)")


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def _defines(code: str, name: str) -> bool:
    return (
        re.search(rf"^\s*(async\s+)?def\s+{re.escape(name)}\s*\(", code, re.MULTILINE) is not None
    )


def _bare_code(text: str) -> str | None:
    if _parses(text) and any(_CODE_START.match(line) for line in text.splitlines()):
        return text.strip("\n")
    lines = text.splitlines()
    for start, line in enumerate(lines):
        if not _CODE_START.match(line):
            continue
        for stop in range(len(lines), start, -1):
            chunk = "\n".join(lines[start:stop]).rstrip()
            if _parses(chunk):
                return chunk
    return None


def extract_code(reply: str, entry_point: str | None = None) -> str | None:
    """The code in ``reply`` (the block defining ``entry_point`` when several do), or None."""
    blocks = [
        (lang.lower(), body) for lang, body in _FENCE.findall(reply) if lang.lower() in _PY_LANGS
    ]
    blocks = [(lang, body.strip("\n")) for lang, body in blocks if body.strip()]
    if blocks:
        if entry_point:
            defining = [body for _, body in blocks if _defines(body, entry_point)]
            if defining:
                last = defining[-1]
                helpers = [b for _, b in blocks if b is not last and not _defines(b, entry_point)]
                return "\n\n".join([*helpers, last])
        return "\n\n".join(body for _, body in blocks)
    return _bare_code(reply)


def assemble_program(task: Task, code: str) -> str:
    """The program the sandbox loads: the task's preamble, then the candidate's code.

    A candidate that defines the entry point replaces the preamble's stub; one that is
    only a function body (as HumanEval completions are) is indented under it.
    """
    if not task.preamble:
        return code
    if _defines(code, task.entry_point):
        return f"{task.preamble.rstrip()}\n\n\n{code}\n"
    body = textwrap.dedent(code)
    body = textwrap.indent(body, "    ")
    return f"{task.preamble.rstrip()}\n{body}\n"
