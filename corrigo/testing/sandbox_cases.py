"""What the sandbox conformance checks share: limits, a small program, test builders,
and the two assertions every hostile case ends with."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from corrigo.records import ExecResult, Limits, TestCase
from corrigo.sandbox.base import Sandbox

Check = Callable[[Sandbox], Awaitable[None]]

FAST = Limits(wall_seconds=5.0, cpu_seconds=3.0, memory_mb=512)
ADD = "def add(a, b):\n    return a + b\n"
WRONG_ADD = "def add(a, b):\n    return a - b\n"
CHECK_ADD = "assert add(2, 2) == 4"


def tests(*codes: str) -> list[TestCase]:
    return [TestCase(name=f"t{i}", code=code) for i, code in enumerate(codes)]


async def must_fail(box: Sandbox, program: str, test: str = CHECK_ADD) -> ExecResult:
    result = await box.run_tests(program, tests(test), FAST)
    assert result.status != "passed", f"forged pass: {result.tests[0]}"
    assert not result.tests[0].passed, result.tests[0]
    return result


async def still_works(box: Sandbox) -> None:
    result = await box.run_tests(ADD, tests(CHECK_ADD), FAST)
    assert result.status == "passed", f"sandbox unusable after a hostile run: {result}"
