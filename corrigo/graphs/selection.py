"""Nodes that choose among candidates: agreement of outputs, a reviewer's ranking, and
the final scoring of the chosen candidate on the hidden tests."""

from __future__ import annotations

import asyncio
from typing import Any

from langgraph.runtime import Runtime

from corrigo.agents.extract import assemble_program
from corrigo.agents.kinds import scored
from corrigo.agents.reviewer import parse_ranking, ranker_messages
from corrigo.agents.verifier import (
    probe_arguments,
    probe_outputs,
    probe_result,
    split_generated,
    visible_tests,
)
from corrigo.graphs.calls import ask, run_tests
from corrigo.graphs.context import RunContext
from corrigo.graphs.policies import (
    agreement,
    answer_attempt,
    first_attempt,
    rank_key,
    stop_budget,
    stop_check,
)
from corrigo.graphs.state import LoopState
from corrigo.records import Attempt, Candidate, ExecResult, Spend, Step, Verdict

Update = dict[str, Any]


def top_attempts(state: LoopState, distinct: bool = True) -> list[Attempt]:
    """Candidates tied at the best (visible, generated) score; ``distinct``: one per code."""
    attempts = [a for a in state.get("attempts") or [] if a.candidate.extracted]
    if not attempts:
        return []
    top = max(rank_key(a, {})[:2] for a in attempts)
    tied = [a for a in attempts if rank_key(a, {})[:2] == top]
    if not distinct:
        return tied
    chosen: dict[str, Attempt] = {}
    for a in tied:
        chosen.setdefault(a.candidate.code, a)
    return list(chosen.values())


def _recorded_outputs(ctx: RunContext, candidate: Candidate) -> Step | None:
    recorded = ctx.log.recorded(f"probe:{candidate.key}", "exec")
    if recorded is None or recorded.candidate is None or recorded.candidate.code != candidate.code:
        return None  # a replay that reached different code runs it (or fails)
    if recorded.verdict is None or recorded.verdict.evidence is None:
        return None
    return recorded


async def agree(state: LoopState, runtime: Runtime[RunContext]) -> Update:
    """Execution agreement: the best-scoring candidates on the probe inputs, in one batch
    of the sandbox (each candidate's outputs stored as a ``probe:`` step)."""
    ctx = runtime.context
    probes = state.get("probes") or []
    known = state.get("outputs") or {}
    todo = [a.candidate for a in top_attempts(state) if a.candidate.key not in known]
    if not probes or not todo:
        return {}
    loop = asyncio.get_running_loop()
    started = loop.time()
    found: dict[str, list[str]] = {}
    fresh = []
    for candidate in todo:
        recorded = _recorded_outputs(ctx, candidate)
        if recorded is None:
            fresh.append(candidate)
            continue
        step = await ctx.log.reuse(recorded)
        assert step.verdict is not None and step.verdict.evidence is not None
        found[candidate.key] = probe_outputs(step.verdict.evidence.tests)
    if fresh:
        batch = await ctx.sandbox.run_outputs(
            [assemble_program(ctx.task, c.code) for c in fresh],
            [probe_arguments(call) for call in probes],
            ctx.limits,
            entry_point=ctx.task.entry_point,
            preamble=ctx.task.preamble,
            call_seconds=max(0.5, min(2.0, ctx.limits.wall_seconds / len(probes))),
        )
        for candidate, row, printed in zip(fresh, batch.outcomes, batch.stdout, strict=True):
            tests = [
                probe_result(i, call, o)
                for i, (call, o) in enumerate(zip(probes, row, strict=True))
            ]
            evidence = ExecResult(status="failed", tests=tests, stdout=printed)
            await ctx.log.append(
                Step(
                    run_id=ctx.run_id,
                    seq=0,
                    round=candidate.round,
                    role="verifier",
                    node="probe",
                    kind="exec",
                    candidate=candidate,
                    verdict=Verdict(passed=False, score=0.0, feedback="", evidence=evidence),
                    key=f"probe:{candidate.key}",
                )
            )
            found[candidate.key] = probe_outputs(tests)
    spend = Spend(sandbox_seconds=loop.time() - started)
    return {"outputs": {c.key: found[c.key] for c in todo}, "spend": spend}


def largest_agreement(state: LoopState) -> int:
    """How many of the best-scoring candidates share the most common outputs."""
    sizes = agreement(top_attempts(state, distinct=False), state.get("outputs") or {})
    return max(sizes.values(), default=0)


async def rank(state: LoopState, runtime: Runtime[RunContext]) -> Update:
    """The reviewer ranks this round's candidates and names the best one's fault."""
    ctx = runtime.context
    round_ = state.get("round", 1)
    entries = [a for a in state.get("attempts") or [] if a.candidate.round == round_]
    if not entries:
        return {}
    asked = await ask(
        ctx,
        role="reviewer",
        key=f"r{round_}.rank",
        messages=ranker_messages(ctx.task, [(a.candidate, a.verdict) for a in entries]),
        round=round_,
        node="rank",
    )
    if asked.refused:
        return {"spend": asked.spend, "exhausted": [asked.refused]}
    if asked.error or asked.text is None:
        return {"spend": asked.spend, "errors": [asked.error or "reviewer: empty ranking"]}
    choice, fault = parse_ranking(asked.text, len(entries))
    # The tests' word comes first; the reviewer's choice breaks ties among the best.
    order = sorted(
        range(len(entries)),
        key=lambda i: (-entries[i].verdict.score, 0 if i == choice else 1, i),
    )
    return {
        "spend": asked.spend,
        "critique": fault,
        "ranking": [entries[i].candidate.key for i in order],
    }


async def score(state: LoopState, runtime: Runtime[RunContext]) -> Update:
    """Record why the run stopped, pick the best candidate, score it (and the first
    round's, for flips) on the hidden tests."""
    ctx = runtime.context
    reason = state.get("stop_reason") or stop_check(state, ctx, next_calls=0)
    attempts = state.get("attempts") or []
    best = answer_attempt(attempts, state.get("outputs"), str(ctx.param("keep", "best")))
    first = first_attempt(attempts)
    update: Update = {"stop_reason": reason or "budget_exhausted"}
    if update["stop_reason"] == "budget_exhausted":
        # Nothing else ran out: the strategy used up its rounds (or samples).
        update["budget"] = stop_budget(state, ctx, next_calls=0) or "rounds"
    if best is None:
        return update
    spend = Spend()
    generated = state.get("generated") or []
    if generated and best.generated_passed is None:
        # Not used as tests by this run, but measured on the answer (score only), so every
        # report can give the generated tests' error rates against the hidden tests.
        verdict, used = await run_tests(
            ctx,
            best.candidate,
            key=f"check-generated:{best.candidate.key}",
            round=best.candidate.round,
            generated=generated,
            role="scorer",
            node="score",
        )
        update["generated_passed"] = split_generated(verdict, len(visible_tests(ctx.task)))[1]
        spend = spend + used
    else:
        update["generated_passed"] = best.generated_passed
    if not scored(ctx.task):
        update["spend"] = spend
        return update
    verdicts: dict[str, Verdict] = {}
    for field, attempt in (("hidden", best), ("first_hidden", first)):
        if attempt is None:
            continue
        candidate = attempt.candidate
        if candidate.code not in verdicts:
            verdict, used = await run_tests(
                ctx,
                candidate,
                key=f"score:{candidate.key}",
                round=candidate.round,
                hidden=True,
                role="scorer",
                node="score",
            )
            verdicts[candidate.code] = verdict
            spend = spend + used
        update[field] = verdicts[candidate.code]
    update["spend"] = spend
    return update
