"""The two things nodes do that cost something: ask a model, run code in the sandbox.

Both record a step through the run's :class:`StepLog` before returning, and both reuse
a step recorded earlier under the same key (replay, resume) instead of doing the work
again. A model failure is not raised: it comes back as a step with ``error`` set. A model
call is first reserved in the run's :class:`~corrigo.graphs.ledger.Ledger`; one that
does not fit a budget is not made and comes back ``refused``, naming the budget.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from corrigo.agents.kinds import read_reply
from corrigo.agents.verifier import check_candidate, judge, planned_tests
from corrigo.errors import ModelCallFailed, ModelError
from corrigo.graphs.context import RunContext
from corrigo.graphs.ledger import UNCAPPED_REPLY, step_spend, worst_case
from corrigo.models import Reply
from corrigo.records import (
    BudgetName,
    Candidate,
    ExecResult,
    Message,
    Spend,
    Step,
    TestCase,
    Verdict,
)

# Flags a step gets from reading its reply (not from the model): computed again on replay.
_READ_FLAGS = ("no_code", "no_answer", "no_reply")


@dataclass(frozen=True)
class Asked:
    """A model call as a step; ``refused`` names the budget a call did not fit (then it
    was not made, and ``step`` is the unstored request)."""

    step: Step
    spend: Spend
    refused: BudgetName | None = None

    @property
    def text(self) -> str | None:
        return None if self.step.error else self.step.output

    @property
    def error(self) -> str | None:
        return f"{self.step.role}: {self.step.error}" if self.step.error else None

    @property
    def candidate(self) -> Candidate | None:
        return self.step.candidate


async def ask(
    ctx: RunContext,
    *,
    role: str,
    key: str,
    messages: list[Message],
    round: int,
    node: str | None = None,
    temperature: float | None = None,
    seed: int | None = None,
    propose: bool = False,
    parent: str | None = None,
    lessons: Sequence[str] = (),
) -> Asked:
    """One model call as a stored step; with ``propose`` the reply's code is the candidate."""
    recorded = ctx.log.recorded(key, "model")
    if recorded is not None and ctx.log.is_stored(recorded):
        # Resuming this run: the step is stored already (and in the ledger's opening
        # balance); the model is not asked again.
        step = await ctx.log.reuse(recorded)
        return Asked(step, step_spend(step))
    sampling = ctx.sampling.get(role)
    if temperature is None and sampling is not None:
        temperature = sampling.temperature
    if seed is None and sampling is not None:
        seed = sampling.seed
    base = Step(
        run_id=ctx.run_id,
        seq=0,
        round=round,
        role=role,
        node=node or role,
        kind="model",
        messages=messages,
        key=key,
        temperature=temperature,
        seed=seed,
        lessons=list(lessons),
    )
    # A role the run did not configure falls back to the solver's model.
    model = ctx.roles.get(role) or ctx.roles["solver"]
    max_tokens = sampling.max_tokens if sampling is not None else None
    worst = Spend()
    if recorded is None:
        reply_cap = max_tokens or model.max_tokens or UNCAPPED_REPLY
        worst = worst_case(messages, reply_cap, model.price)
        refused = ctx.ledger.reserve(worst)
        if refused is not None:
            return Asked(base.model_copy(update={"model": model.spec}), Spend(), refused)
    try:
        if recorded is not None:
            # Replaying: the recorded reply stands in for the model; everything else
            # (the prompt, the code taken from the reply) is computed again and compared.
            # The recorded run made this call, so it is counted without a reservation.
            reply = _recorded_reply(recorded)
        else:
            reply = await model.complete(
                messages,
                role=role,
                task_id=ctx.task.id,
                temperature=temperature,
                seed=seed,
                max_tokens=max_tokens,
            )
    except ModelError as exc:
        spec = recorded.model if recorded is not None else model.spec
        step = await ctx.log.append(base.model_copy(update={"model": spec, "error": str(exc)}))
        _account(ctx, worst, step, recorded is None)
        return Asked(step, step_spend(step))
    except BaseException:
        if recorded is None:
            ctx.ledger.settle(worst, Spend())  # cancelled: the run ends with it
        raise
    flags = list(reply.flags)
    if recorded is not None:
        cost = recorded.cost
    elif model.price is not None:
        cost = model.price.cost(reply.usage.tokens_in, reply.usage.tokens_out)
    else:
        cost = None
    update: dict[str, object] = {
        "output": reply.text,
        "model": reply.model,
        "usage": reply.usage,
        "cost": cost,
        "flags": flags,
    }
    if propose:
        code, answer, extracted, flag = read_reply(ctx.task, reply.text)
        if flag is not None:
            update["flags"] = [*flags, flag]
        update["candidate"] = Candidate(
            code=code,
            answer=answer,
            round=round,
            extracted=extracted,
            key=key,
            parent=parent,
            origin=role if node is None else node,
        )
    step = await ctx.log.append(base.model_copy(update=update))
    _account(ctx, worst, step, recorded is None)
    return Asked(step, step_spend(step))


def _account(ctx: RunContext, worst: Spend, step: Step, reserved: bool) -> None:
    """Count a finished call in the ledger: settle its reservation, or (a recorded
    reply) count it as it was."""
    if reserved:
        ctx.ledger.settle(worst, step_spend(step))
    else:
        ctx.ledger.count(step_spend(step))


def _recorded_reply(step: Step) -> Reply:
    if step.error is not None:
        raise ModelCallFailed(step.error)
    flags = tuple(f for f in step.flags if f not in _READ_FLAGS)
    return Reply(text=step.output or "", usage=step.usage, model=step.model or "", flags=flags)


async def run_tests(
    ctx: RunContext,
    candidate: Candidate,
    *,
    key: str,
    round: int,
    generated: list[TestCase] | None = None,
    hidden: bool = False,
    role: str = "verifier",
    node: str = "verify",
) -> tuple[Verdict, Spend]:
    """The candidate against the visible (+ generated) or hidden tests, as a stored step."""
    recorded = ctx.log.recorded(key, "exec")
    if recorded is not None and recorded.verdict is not None:
        if ctx.log.is_stored(recorded):
            step = await ctx.log.reuse(recorded)
            assert step.verdict is not None
            return step.verdict, Spend()
        # Exact replay: only the sandbox's result comes from the record, and only for the
        # same code and the same tests; the verdict and its feedback are computed again.
        tests, counted = planned_tests(ctx.task, generated, hidden=hidden)
        evidence = recorded.verdict.evidence
        same_code = recorded.candidate is not None and recorded.candidate.code == candidate.code
        if same_code and evidence is None and not candidate.extracted:
            verdict = recorded.verdict
        elif (
            same_code
            and evidence is not None
            and [t.name for t in evidence.tests] == [t.name for t in tests]
        ):
            verdict = judge(ctx.task, candidate, evidence, counted, hidden=hidden)
        else:
            verdict = None
        if verdict is not None:
            await ctx.log.append(
                recorded.model_copy(update={"candidate": candidate, "verdict": verdict})
            )
            return verdict, Spend()
    started = time.perf_counter()
    verdict = await check_candidate(
        ctx.sandbox,
        ctx.task,
        candidate,
        ctx.limits,
        generated=generated or [],
        hidden=hidden,
        trace=bool(ctx.param("trace", False)) and not hidden,
        nltk_data=ctx.nltk_data,
    )
    seconds = time.perf_counter() - started
    await _append_exec(ctx, candidate, verdict, key=key, round=round, role=role, node=node)
    return verdict, Spend(sandbox_seconds=seconds)


async def _append_exec(
    ctx: RunContext,
    candidate: Candidate,
    verdict: Verdict,
    *,
    key: str,
    round: int,
    role: str = "verifier",
    node: str = "verify",
) -> None:
    """Store an execution (or check) step: the candidate and its verdict."""
    step = Step(
        run_id=ctx.run_id,
        seq=0,
        round=round,
        role=role,
        node=node,
        kind="exec",
        candidate=candidate,
        verdict=verdict,
        key=key,
    )
    await ctx.log.append(step)


async def run_program(
    ctx: RunContext, code: str, *, key: str, round: int, node: str = "check"
) -> ExecResult:
    """Run a program the model wrote (not a candidate) in the sandbox, as a stored step.

    Used for checks such as a math answer's independent program: it gets the same
    sandbox and limits as candidate code. A step recorded under ``key`` for the same
    code is reused (resume, exact replay); re-verification runs it again."""
    recorded = ctx.log.recorded(key, "exec")
    if (
        recorded is not None
        and recorded.verdict is not None
        and recorded.verdict.evidence is not None
        and recorded.candidate is not None
        and recorded.candidate.code == code
    ):
        await ctx.log.reuse(recorded)
        return recorded.verdict.evidence
    result = await ctx.sandbox.exec(code, "", ctx.limits)
    program = Candidate(code=code, round=round, key=key, origin="checker")
    passed = result.status == "passed"
    verdict = Verdict(passed=passed, score=1.0 if passed else 0.0, feedback="", evidence=result)
    await _append_exec(ctx, program, verdict, key=key, round=round, node=node)
    return result


async def record_verdict(
    ctx: RunContext, candidate: Candidate, verdict: Verdict, *, key: str, round: int
) -> Verdict:
    """Store a verdict computed without the sandbox (a math answer against its check) as
    the candidate's verify step; on resume the stored one is reused."""
    recorded = ctx.log.recorded(key, "exec")
    if recorded is not None and recorded.verdict is not None and ctx.log.is_stored(recorded):
        step = await ctx.log.reuse(recorded)
        assert step.verdict is not None
        return step.verdict
    await _append_exec(ctx, candidate, verdict, key=key, round=round)
    return verdict
