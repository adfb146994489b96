"""The batch API's canonical forms and grouping, and traces in the verifier's feedback."""

from __future__ import annotations

import math

import pytest

from corrigo.agents.traces import render_trace
from corrigo.agents.verifier import check_candidate, probe_arguments, probe_outputs, probe_result
from corrigo.errors import UsageError
from corrigo.graphs.registry import parse_strategy
from corrigo.records import (
    CallOutcome,
    Candidate,
    Limits,
    OutputsResult,
    Task,
    TestCase,
    Trace,
    TraceSnapshot,
)
from corrigo.sandbox.base import get_sandbox
from corrigo.sandbox.worker.codec import canonical, decode, encode


@pytest.mark.parametrize(
    ("left", "right", "same"),
    [
        ({1, 2, 3}, {3, 2, 1}, True),
        ({"b": 1, "a": [2]}, {"a": [2], "b": 1}, True),
        (frozenset({(1, 2), (0,)}), frozenset({(0,), (1, 2)}), True),
        (1, 1.0, False),
        (1, True, False),
        ([1, 2], (1, 2), False),
        ((1,), [1], False),
        (set(), {}, False),
        (frozenset(), set(), False),
        ("1", 1, False),
        (b"a", "a", False),
        (float("nan"), float("nan"), True),
        (0.1 + 0.2, 0.3, False),
        ({1: "x"}, {True: "x"}, False),
    ],
)
def test_canonical_forms_compare_exact_values(left: object, right: object, same: bool) -> None:
    assert (canonical(left) == canonical(right)) is same


def test_canonical_reads_like_repr_and_round_trips() -> None:
    value = {"k": [1, (2,), {3, 1}], "e": frozenset(), "n": None, "f": -0.5, "b": b"\x00"}
    assert canonical(value) == (
        "{'b': b'\\x00', 'e': frozenset(), 'f': -0.5, 'k': [1, (2,), {1, 3}], 'n': None}"
    )
    back = decode(encode(value))
    assert back == value and canonical(back) == canonical(value)
    assert canonical(["x" * 5000]).startswith("sha256:")
    assert not canonical(math.inf).startswith("!")


def test_groups_put_the_largest_agreement_first() -> None:
    def row(*forms: str) -> list[CallOutcome]:
        return [CallOutcome(kind="value", canonical=f) for f in forms]

    result = OutputsResult(
        outcomes=[row("1", "2"), row("1", "3"), row("1", "2"), row("1", "3"), row("1", "2")]
    )
    assert result.groups() == [[0, 2, 4], [1, 3]]
    assert result.vectors()[1] == ("1", "3")


def test_probe_arguments_and_stored_probe_results() -> None:
    assert probe_arguments("f(1, [2, 3], key='x')") == "1, [2, 3], key='x'"
    assert probe_arguments("f()") == ""
    with pytest.raises(ValueError):
        probe_arguments("1 + 2")
    stored = [
        probe_result(0, "f(1)", CallOutcome(kind="value", canonical="{1, 2}")),
        probe_result(
            1, "f(2)", CallOutcome(kind="raised", canonical="!KeyError", error="KeyError")
        ),
        probe_result(2, "f(3)", CallOutcome(kind="timeout", canonical="!timeout!")),
    ]
    assert probe_outputs(stored) == ["{1, 2}", "!KeyError", "!timeout!"]


def test_trace_renders_calls_lines_and_variables() -> None:
    program = "def add(a, b):\n    total = a\n    for i in range(b):\n        total += 1\n    return total\n"
    trace = Trace(
        call="add(1, 2)",
        lines=[2, 3, 4, 3, 4, 3, 5],
        snapshots=[
            TraceSnapshot(line=1, locals={"a": "1", "b": "2"}),
            TraceSnapshot(line=3, locals={"total": "2", "i": "0"}),
        ],
        outcome="returned 3",
    )
    text = render_trace(trace, program)
    assert "Trace of add(1, 2)" in text
    assert "lines: 2 3 4 3 4 3 5" in text
    assert "entering: a=1, b=2" in text
    assert "line 3 `for i in range(b):`: total=2, i=0" in text
    assert "then it returned 3" in text


TASK = Task(
    id="calc/add",
    prompt="add two numbers",
    entry_point="add",
    visible_tests=[TestCase(name="v", code="assert add(1, 2) == 3")],
    hidden_tests=[TestCase(name="h", code="assert add(40, 2) == 42, 'HIDDEN-EXPECTED'")],
)
WRONG = Candidate(
    code="def add(a, b):\n    total = a\n    return total - b\n", extracted=True, round=1
)


async def test_verifier_feedback_carries_the_trace_of_a_visible_test_only() -> None:
    async with get_sandbox("process") as box:
        visible = await check_candidate(box, TASK, WRONG, Limits(), trace=True)
        untraced = await check_candidate(box, TASK, WRONG, Limits())
        hidden = await check_candidate(box, TASK, WRONG, Limits(), hidden=True, trace=True)
    assert not visible.passed
    assert "Trace of add(1, 2)" in visible.feedback and "then it returned -1" in visible.feedback
    assert "Trace of" not in untraced.feedback
    assert hidden.feedback == ""
    assert hidden.evidence is not None and all(t.trace is None for t in hidden.evidence.tests)
    assert "40" not in visible.feedback and "HIDDEN" not in visible.feedback


def test_trace_is_a_checked_strategy_parameter() -> None:
    strategy, params = parse_strategy("refine(trace=True)")
    assert strategy.resolve(params)["trace"] is True
    assert parse_strategy("self_debug")[0].resolve({})["trace"] is True
    assert parse_strategy("refine")[0].resolve({})["trace"] is False
    with pytest.raises(UsageError, match="trace"):
        parse_strategy("refine(trace='yes')")
