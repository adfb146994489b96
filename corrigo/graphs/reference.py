"""The independent program that checks a run's math answers (program-aided checking).

Asked once per run, before any candidate is shown to it, and run in the sandbox like
candidate code; its printed value is kept in the state (``reference``) so every later
candidate is compared with the same computation.
"""

from __future__ import annotations

import asyncio

from corrigo.agents import math_check
from corrigo.graphs.calls import ask, run_program
from corrigo.graphs.context import RunContext
from corrigo.graphs.state import Attempt, LoopState, Spend
from corrigo.records import Candidate, Verdict


async def math_reference(state: LoopState, ctx: RunContext, round_: int) -> tuple[Attempt, Spend]:
    """The run's independent program for checking math answers: asked once (it never
    sees a candidate), run in the sandbox, its printed value read."""
    known = state.get("reference")
    if known is not None:
        return known, Spend()
    asked = await ask(
        ctx,
        role="checker",
        key="check.program",
        messages=math_check.program_messages(ctx.task),
        round=round_,
        node="check",
    )
    code = math_check.program_code(asked.text) if asked.text else None
    result = None
    if code:
        result = await run_program(ctx, code, key="check.run", round=round_)
    value = await asyncio.to_thread(math_check.program_value, result) if result else None
    program = Candidate(
        code=code or "",
        answer=value,
        round=round_,
        extracted=code is not None,
        key="check.program",
        origin="checker",
    )
    reference = math_check.Reference(code=code or "", result=result, value=value)
    verdict = Verdict(
        passed=value is not None,
        score=1.0 if value is not None else 0.0,
        feedback=reference.problem,
        evidence=result,
    )
    return Attempt(candidate=program, verdict=verdict), asked.spend


def as_reference(attempt: Attempt) -> math_check.Reference:
    return math_check.Reference(
        code=attempt.candidate.code,
        result=attempt.verdict.evidence,
        value=attempt.candidate.answer,
    )
