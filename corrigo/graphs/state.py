"""The state every strategy graph carries, with reducers for what branches add up.

Parallel branches (``Send`` fan-out for samples and expansions) only write to fields
with reducers: candidate lists grow, spending adds up, errors collect. Fields without
a reducer are written by one node at a time.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

from corrigo.records import Attempt, Candidate, Spend, TestCase, Verdict


def add_or_clear(old: list[Any] | None, new: list[Any] | None) -> list[Any]:
    """Append ``new``; ``None`` empties the list (the verifier takes what is pending)."""
    if new is None:
        return []
    return [*(old or []), *new]


def add_spend(old: Spend | None, new: Spend | None) -> Spend:
    return (old or Spend()) + (new or Spend())


def latest(old: int | None, new: int | None) -> int:
    """Rounds only move forward, whichever branch reports them."""
    return max(old or 0, new or 0)


def merge_dict(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any]:
    return {**(old or {}), **(new or {})}


class LoopState(TypedDict, total=False):
    round: Annotated[int, latest]  # the latest round that proposed candidates
    pending: Annotated[list[Candidate], add_or_clear]  # proposed, not yet verified
    attempts: Annotated[list[Attempt], operator.add]  # every verified candidate, in order
    spend: Annotated[Spend, add_spend]
    errors: Annotated[list[str], operator.add]
    # Budgets that a model call did not fit (it was not made): the run stops on them.
    exhausted: Annotated[list[str], operator.add]
    generated: list[TestCase]  # tests the test designer wrote (feedback and votes)
    generated_dropped: int
    probes: list[str]  # calls of the entry point whose outputs are compared
    outputs: Annotated[dict[str, list[str]], merge_dict]  # candidate key -> outputs on probes
    notes: Annotated[list[str], operator.add]  # reflections written so far
    critique: str | None  # the latest review
    ranking: list[str]  # candidate keys, most promising first (multi_agent)
    expanded: Annotated[list[str], operator.add]  # candidate keys already expanded
    stale: int  # rounds in a row that brought nothing new
    stop_reason: str | None
    budget: str | None  # with budget_exhausted: which budget ran out
    generated_passed: bool | None  # the returned candidate on the generated tests
    hidden: Verdict | None
    first_hidden: Verdict | None
    # math: the independent programs that check answers (each one's code and printed
    # value as a candidate, its run as the verdict's evidence); see graphs/reference.py.
    references: list[Attempt]


class Branch(TypedDict, total=False):
    """What a ``Send`` hands one parallel branch: its round, its index, and for an
    expansion the attempt it starts from."""

    round: int
    index: int
    parent: Attempt


def initial_state() -> LoopState:
    return LoopState(
        round=0,
        pending=[],
        attempts=[],
        spend=Spend(),
        errors=[],
        exhausted=[],
        generated=[],
        generated_dropped=0,
        probes=[],
        outputs={},
        notes=[],
        critique=None,
        ranking=[],
        expanded=[],
        stale=0,
        stop_reason=None,
        budget=None,
        generated_passed=None,
        hidden=None,
        first_hidden=None,
        references=[],
    )
