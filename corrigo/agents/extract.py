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

MAX_REPLY = 50_000  # characters of a reply searched for code (a reply is ~3,000 at most)
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_PY_LANGS = {"", "python", "py", "python3", "py3"}
_CODE_START = re.compile(r"^(def |async def |class |import |from \S+ import |@)")


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
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


def _calls(node: ast.AST, names: set[str]) -> bool:
    return any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in names
        for n in ast.walk(node)
    )


def _is_example(node: ast.stmt, entry_point: str) -> bool:
    """Top-level code that only demonstrates the function: it runs when the program
    loads, so a crash or a print there would be blamed on the function itself."""
    if isinstance(node, ast.Assert):
        return True
    if isinstance(node, ast.Expr):
        return isinstance(node.value, ast.Call)
    if isinstance(node, ast.If):
        return "__name__" in {n.id for n in ast.walk(node.test) if isinstance(n, ast.Name)}
    if isinstance(node, ast.Assign | ast.AnnAssign | ast.For | ast.While):
        return _calls(node, {entry_point, "print"})
    return False


def strip_examples(code: str, entry_point: str) -> str:
    """``code`` without the example calls, prints, asserts and ``__main__`` blocks a
    model often appends after the function (as EvalPlus's sanitizer does)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return code
    if not any(_is_example(node, entry_point) for node in tree.body):
        return code
    lines = code.splitlines()
    kept: list[str] = []
    for node in tree.body:
        if _is_example(node, entry_point):
            continue
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        kept.append("\n".join(lines[first - 1 : node.end_lineno]))
    return "\n\n".join(kept)


def extract_code(reply: str, entry_point: str | None = None) -> str | None:
    """The code in ``reply`` (the block defining ``entry_point`` when several do), or None;
    example usage after the function is dropped."""
    code = _extract(reply[:MAX_REPLY], entry_point)
    if code is not None and entry_point and _defines(code, entry_point):
        code = strip_examples(code, entry_point)
    return code


def _extract(reply: str, entry_point: str | None) -> str | None:
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
