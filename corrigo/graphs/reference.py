"""The independent programs that check a run's math answers (program-aided checking).

The first is asked before any candidate is shown to it and run in the sandbox like
candidate code; its printed value checks every candidate of the run. When a candidate
disagrees with every program so far, one more is sampled (up to ``checks`` in all, at
the strategy's temperature): a second, independent computation breaks the tie between a
right answer and a wrong first program, so one slip in a program does not talk a right
answer out of being right. The programs are kept in the state (``references``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from corrigo.agents import math_check
from corrigo.graphs.calls import Asked, ask, run_program
from corrigo.graphs.context import RunContext
from corrigo.graphs.policies import over_budget, spent
from corrigo.graphs.state import LoopState
from corrigo.records import Attempt, Candidate, Spend, Verdict

DEFAULT_CHECKS = 2


async def math_references(
    state: LoopState, ctx: RunContext, pending: Sequence[Candidate]
) -> tuple[list[Attempt], Spend, list[str], list[str]]:
    """The programs that check ``pending``: those known, plus one more while a candidate
    with an answer agrees with none of them (at most ``checks`` in all, and never past
    the run's budgets). Also the error of a failed checker call, and the budget a
    checker call did not fit (the programs so far then do the checking)."""
    known = list(state.get("references") or [])
    spend = Spend()
    round_ = min((c.round for c in pending), default=1)
    limit = int(ctx.param("checks", DEFAULT_CHECKS))
    while len(known) < limit:
        if known and not await asyncio.to_thread(_some_disagree, pending, known):
            break
        if over_budget({**state, "spend": spent(state) + spend}, ctx, next_calls=1):
            break
        program, asked, error = await _program(ctx, len(known), round_)
        spend = spend + asked.spend
        if asked.refused:
            return known, spend, [], [asked.refused]
        if error:
            return known, spend, [error], []
        assert program is not None
        known.append(program)
    return known, spend, [], []


def _some_disagree(pending: Sequence[Candidate], known: Sequence[Attempt]) -> bool:
    references = as_references(known)
    return any(c.answer is not None and not math_check.agrees(c, references) for c in pending)


async def _program(
    ctx: RunContext, index: int, round_: int
) -> tuple[Attempt | None, Asked, str | None]:
    """Program ``index``: the first greedy, later ones sampled (seeded by their index)."""
    suffix = "" if index == 0 else str(index + 1)
    asked = await ask(
        ctx,
        role="checker",
        key=f"check.program{suffix}",
        messages=math_check.program_messages(ctx.task),
        round=round_,
        node="check",
        temperature=None if index == 0 else float(ctx.param("temperature", 0.8)),
        seed=None if index == 0 else index,
    )
    if asked.refused:
        return None, asked, None
    if asked.error:
        return None, asked, asked.error
    code = math_check.program_code(asked.text) if asked.text else None
    result = None
    if code:
        result = await run_program(
            ctx, math_check.runnable(code), key=f"check.run{suffix}", round=round_
        )
    value = await asyncio.to_thread(math_check.program_value, result) if result else None
    program = Candidate(
        code=code or "",
        answer=value,
        round=round_,
        extracted=code is not None,
        key=f"check.program{suffix}",
        origin="checker",
    )
    reference = math_check.Reference(code=code or "", result=result, value=value)
    verdict = Verdict(
        passed=value is not None,
        score=1.0 if value is not None else 0.0,
        feedback=reference.problem,
        evidence=result,
    )
    return Attempt(candidate=program, verdict=verdict), asked, None


def as_references(attempts: Sequence[Attempt]) -> list[math_check.Reference]:
    return [
        math_check.Reference(
            code=a.candidate.code, result=a.verdict.evidence, value=a.candidate.answer
        )
        for a in attempts
    ]
