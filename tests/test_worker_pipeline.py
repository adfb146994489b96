"""Which tests have their calls planned (sent at once), and that planning changes no verdict."""

from __future__ import annotations

import pytest

from corrigo.records import Limits, TestCase
from corrigo.sandbox.base import get_sandbox
from corrigo.sandbox.worker.pipeline import plan_calls

CHECK = """
METADATA = {'author': 'x'}


def check(candidate):
    assert candidate([1, 2], 3) == True
    assert abs(candidate('ab' + 'c', 5 * 17) - 1.0) < 1e-6
    assert not candidate((), k=None)


check(f)
"""


def test_straight_line_checks_are_planned_in_call_order() -> None:
    assert plan_calls(CHECK, "f") == [(([1, 2], 3), {}), (("abc", 85), {}), (((),), {"k": None})]
    assert plan_calls("assert f(1) == 2\nassert f(2) == 3", "f") == [((1,), {}), ((2,), {})]


@pytest.mark.parametrize(
    "code",
    [
        "for x in range(3):\n    assert f(x) == x",  # a loop
        "assert f(1) == 1 or f(2) == 2",  # short-circuit: the second call may not happen
        "x = 1\nassert f(x) == 1",  # a name as argument
        "assert f(1) == 1, f(2)",  # a call in the message happens only on failure
        "assert g(1) == f(1)",  # another function
        "assert f(1) == 1\ncheck(f)",  # calls a function never defined
        "def check(candidate):\n    candidate = print\n    assert candidate(1)\ncheck(f)",
        "def check(candidate):\n    assert candidate(1)\ncheck(f)\ncheck(f)",  # twice
        "def check(candidate):\n    assert candidate(1)\ncheck(g)",  # not the entry point
        "assert [f(x) for x in (1, 2)] == [1, 2]",  # a comprehension
        "f = lambda x: x\nassert f(1) == 1",  # the entry point replaced
        "assert f(*[1]) == 1",  # a starred argument
        "assert f(len('x')) == 1",  # a call as argument
        "pass",  # nothing to plan
        "assert f(1) ==",  # not Python
        "assert {f(1): f(2), f(3): f(4)} == {}",  # a dict display runs k, v, k, v
        "assert not (f(5) < f(1) < f(2))",  # a chained comparison stops early
        "assert f('a' * 10**9) == 1",  # a huge argument is not built ahead of need
        "assert f(2 ** 10_000_000) == 1",
    ],
)
def test_anything_else_runs_call_by_call(code: str) -> None:
    assert plan_calls(code, "f") is None


PROGRAMS = {
    "right": "def f(xs, n=0, k=None):\n    print('called', xs)\n    return True if xs == [1, 2] else 1.0 if n == 85 else False\n",
    "raises_second": "def f(xs, n=0, k=None):\n    if n == 85:\n        raise ValueError('no')\n    return True\n",
    "wrong_first": "def f(xs, n=0, k=None):\n    return False\n",
    "hangs_last": "def f(xs, n=0, k=None):\n    while xs == ():\n        pass\n    return True if xs == [1, 2] else 1.0\n",
    "counts_calls": "calls = []\ndef f(xs, n=0, k=None):\n    calls.append(1)\n    return len(calls) < 3 and (True if len(calls) == 1 else 1.0)\n",
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
async def test_planned_and_unplanned_runs_agree(name: str) -> None:
    """The same check as a planned test and as one the planner refuses (same calls,
    an extra loop around them) gives the same verdict and message."""
    unplanned = CHECK.replace("check(f)", "for _ in range(1):\n    check(f)")
    assert plan_calls(unplanned, "f") is None
    limits = Limits(wall_seconds=3.0, cpu_seconds=2.0)
    async with get_sandbox("process") as box:
        planned_result = await box.run_tests(
            PROGRAMS[name], [TestCase(name="t", code=CHECK)], limits, entry_point="f"
        )
        plain_result = await box.run_tests(
            PROGRAMS[name], [TestCase(name="t", code=unplanned)], limits, entry_point="f"
        )
    assert planned_result.status == plain_result.status
    assert planned_result.tests[0].passed == plain_result.tests[0].passed
    first_line = planned_result.tests[0].message.split(" (line")[0]
    assert first_line == plain_result.tests[0].message.split(" (line")[0]
    assert (name in ("right", "counts_calls")) == planned_result.tests[0].passed


async def test_set_arguments_match_their_plan_whatever_their_order() -> None:
    """A set built by the plan and the same set built by the test may iterate in other
    orders; the calls still match (by value), so a right answer passes."""
    members = ", ".join(str(n * 7919 % 1000) for n in range(40))
    code = f"assert f({{{members}}}) == {len(set(eval('[' + members + ']')))}"
    assert plan_calls(code, "f") is not None
    async with get_sandbox("process") as box:
        result = await box.run_tests(
            "def f(xs):\n    return len(xs)\n",
            [TestCase(name="t", code=code)],
            Limits(),
            entry_point="f",
        )
    assert result.status == "passed", result.tests[0].message
