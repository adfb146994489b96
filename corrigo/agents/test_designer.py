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

_FENCE = re.compile(r"```[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)


def test_designer_messages(task: Task, count: int = 8) -> list[Message]:
    return render(
        "test_designer", prompt=task.prompt.strip(), entry_point=task.entry_point, count=str(count)
    )


def _statements(reply: str) -> tuple[list[ast.stmt], int]:
    """The reply's statements, and how many lines were dropped for not compiling."""
    blocks = _FENCE.findall(reply) or [reply]
    found: list[ast.stmt] = []
    dropped = 0
    for block in blocks:
        try:
            found.extend(ast.parse(block).body)
            continue
        except (SyntaxError, ValueError):
            pass
        for line in block.splitlines():
            text = line.strip()
            if not text.startswith("assert"):
                continue
            try:
                found.extend(ast.parse(text).body)
            except (SyntaxError, ValueError):
                dropped += 1
    return found, dropped


def _calls_entry(node: ast.expr, entry_point: str) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == entry_point
    )


def _compiles(code: str) -> bool:
    try:
        compile(code, "<generated test>", "exec")
    except (SyntaxError, ValueError):
        return False
    return True


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
        if isinstance(node, ast.Assert):
            test = node.test
            if (
                isinstance(test, ast.Compare)
                and len(test.ops) == 1
                and isinstance(test.ops[0], ast.Eq)
                and _calls_entry(test.left, entry_point)
            ):
                call = ast.unparse(test.left)
                code = check_code(call, ast.unparse(test.comparators[0]))
            elif _calls_entry(test, entry_point):
                call = ast.unparse(test)
                code = check_code(call, "True")
            elif (
                isinstance(test, ast.UnaryOp)
                and isinstance(test.op, ast.Not)
                and _calls_entry(test.operand, entry_point)
            ):
                call = ast.unparse(test.operand)
                code = check_code(call, "False")
        elif isinstance(node, ast.Expr) and _calls_entry(node.value, entry_point):
            call = ast.unparse(node.value)
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
