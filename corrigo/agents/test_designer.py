"""The test designer: writes tests from the specification alone, before any candidate.

Its tests are feedback and votes, never the final score. Each ``assert f(args) == value``
becomes a test that reports the value returned; each call of the entry point becomes a
probe input for comparing candidates' outputs. Lines that do not compile are dropped
and counted — they never reach the sandbox.
"""

from __future__ import annotations

import ast
import re

from corrigo.agents.base import render
from corrigo.agents.verifier import GENERATED
from corrigo.records import Message, Task, TestCase
from corrigo.tasks.examples import check_code

MAX_REPLY = 20_000  # characters of a reply that are read at all
_FENCE = re.compile(r"```[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)


def test_designer_messages(task: Task, count: int = 8) -> list[Message]:
    return render(
        "test_designer", prompt=task.prompt.strip(), entry_point=task.entry_point, count=str(count)
    )


def _statements(reply: str) -> tuple[list[ast.stmt], int]:
    """The reply's statements, and how many lines were dropped for not compiling."""
    blocks = _FENCE.findall(reply[:MAX_REPLY]) or [reply[:MAX_REPLY]]
    found: list[ast.stmt] = []
    dropped = 0
    for block in blocks:
        try:
            found.extend(ast.parse(block).body)
            continue
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            pass
        for line in block.splitlines():
            text = line.strip()
            if not text.startswith("assert"):
                continue
            try:
                found.extend(ast.parse(text).body)
            except (SyntaxError, ValueError, MemoryError, RecursionError):
                dropped += 1
    return found, dropped


def _calls_entry(node: ast.expr, entry_point: str) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == entry_point
    )


def _literal(node: ast.expr) -> str | None:
    """The canonical text of a literal (numbers, strings, containers of them), or None.

    Generated tests run on the sandbox's trusted tester side, so anything a model wrote
    there must be data: ``f(__import__('os').getuid())`` is dropped, not run."""
    try:
        return repr(ast.literal_eval(node))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def _literal_call(node: ast.expr, entry_point: str) -> str | None:
    """``entry_point(args)`` rebuilt from its literal arguments, or None."""
    if not _calls_entry(node, entry_point):
        return None
    assert isinstance(node, ast.Call)
    parts: list[str] = []
    for arg in node.args:
        if isinstance(arg, ast.Starred) or (text := _literal(arg)) is None:
            return None
        parts.append(text)
    for kw in node.keywords:
        if kw.arg is None or (text := _literal(kw.value)) is None:
            return None
        parts.append(f"{kw.arg}={text}")
    return f"{entry_point}({', '.join(parts)})"


def _compiles(code: str) -> bool:
    try:
        compile(code, "<generated test>", "exec")
    except (SyntaxError, ValueError):
        return False
    return True


def _mentions(node: ast.AST, entry_point: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == entry_point for n in ast.walk(node))


def is_literal_check(code: str, entry_point: str) -> bool:
    """Whether ``code`` is one ``assert`` of data about ``entry_point``:
    ``entry_point(<literals>) == <literal>``, ``entry_point(<literals>)`` or its ``not``.

    Tests run on the sandbox's trusted side; test code from someone who is not trusted
    with the machine (a request to ``corrigo serve``) must be data in one of these forms."""
    try:
        body = ast.parse(code).body
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    if len(body) != 1 or not isinstance(body[0], ast.Assert) or body[0].msg is not None:
        return False
    test = body[0].test
    if isinstance(test, ast.Compare):
        return (
            len(test.ops) == 1
            and isinstance(test.ops[0], ast.Eq)
            and _literal_call(test.left, entry_point) is not None
            and _literal(test.comparators[0]) is not None
        )
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return _literal_call(test.operand, entry_point) is not None
    return _literal_call(test, entry_point) is not None


def parse_tests(
    reply: str, entry_point: str, limit: int = 10
) -> tuple[list[TestCase], list[str], int]:
    """(tests, probe calls, dropped) from a test designer's reply."""
    statements, dropped = _statements(reply)
    tests: list[TestCase] = []
    probes: list[str] = []
    seen: set[str] = set()
    for node in statements:
        call: str | None = None
        code: str | None = None
        expected: str | None = None
        if isinstance(node, ast.Assert):
            test = node.test
            if (
                isinstance(test, ast.Compare)
                and len(test.ops) == 1
                and isinstance(test.ops[0], ast.Eq)
            ):
                call = _literal_call(test.left, entry_point)
                expected = _literal(test.comparators[0])
            elif isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
                call, expected = _literal_call(test.operand, entry_point), "False"
            else:
                call, expected = _literal_call(test, entry_point), "True"
            if call is None or expected is None:
                if _mentions(node, entry_point):
                    dropped += 1  # not data: never sent to the sandbox
                continue
            code = check_code(call, expected)
        elif isinstance(node, ast.Expr):
            call = _literal_call(node.value, entry_point)
        if call is None or call in seen:
            continue
        seen.add(call)
        if code is not None:
            if not _compiles(code):
                dropped += 1
                continue
            if len(tests) < limit:
                tests.append(TestCase(name=f"{GENERATED}{len(tests) + 1}: {call}", code=code))
        if len(probes) < limit:
            probes.append(call)
    return tests, probes, dropped
