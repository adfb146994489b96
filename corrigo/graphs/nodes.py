"""Node functions every strategy is built from.

Each takes the state and LangGraph's ``Runtime`` (whose context is a
:class:`~corrigo.graphs.context.RunContext`) and returns an update. Proposing nodes put
candidates in ``pending``; ``verify`` turns them into ``attempts``; stop decisions are
made on the edges (:mod:`corrigo.graphs.policies`), never inside a node.
"""

from __future__ import annotations

import asyncio
from typing import Any

from langgraph.runtime import Runtime

from corrigo.agents import math_check
from corrigo.agents.refiner import debugger_messages, refiner_messages
from corrigo.agents.reflector import reflector_messages
from corrigo.agents.reviewer import reviewer_messages
from corrigo.agents.solver import fresh_messages, retry_messages, solver_messages
from corrigo.agents.test_designer import parse_tests, test_designer_messages
from corrigo.agents.verifier import split_generated, visible_tests
from corrigo.graphs.calls import Asked, ask, record_verdict, run_tests
from corrigo.graphs.context import RunContext
from corrigo.graphs.lessons import keep_lesson
from corrigo.graphs.policies import best_attempt, focus_attempt
from corrigo.graphs.reference import as_references, math_references
from corrigo.graphs.state import Branch, LoopState
from corrigo.records import Attempt, Candidate, Message, Spend, Verdict

Update = dict[str, Any]
FRESH_TEMPERATURE = 0.8


def charged(asked: Asked) -> Update:
    """What every asking node reports: what the call spent, and the budget it did not
    fit when it was refused (the stop policy ends the run on it)."""
    update: Update = {"spend": asked.spend}
    if asked.refused:
        update["exhausted"] = [asked.refused]
    return update


def proposed(asked: Asked, **more: Any) -> Update:
    """The update of a node that asked for a candidate."""
    update: Update = {**charged(asked), **more}
    if asked.error:
        update["errors"] = [asked.error]
    elif asked.candidate is not None:
        update["pending"] = [asked.candidate]
    return update


def wants_tests(ctx: RunContext) -> bool:
    if ctx.task.kind != "code":
        return False  # generated tests are for functions
    mode = str(ctx.param("tests", "auto"))
    return mode == "always" or (mode == "auto" and not ctx.task.visible_tests)


async def design_tests(state: LoopState, runtime: Runtime[RunContext]) -> Update:
    """The test designer writes tests from the specification, before any candidate."""
    ctx = runtime.context
    if not wants_tests(ctx):
        return {}
    asked = await ask(
        ctx,
        role="test_designer",
        key="r0.design_tests",
        messages=test_designer_messages(ctx.task, int(ctx.param("test_count", 8))),
        round=0,
        node="design_tests",
    )
    if asked.error or asked.text is None:
        # Tests are an aid: a failed designer call leaves the run without them.
        return charged(asked)
    tests, probes, dropped = parse_tests(asked.text, ctx.task.entry_point)
    return {
        "spend": asked.spend,
        "generated": tests,
        "probes": probes,
        "generated_dropped": dropped,
    }


async def solve(state: LoopState, runtime: Runtime[RunContext]) -> Update:
    ctx = runtime.context
    round_ = state.get("round", 0) + 1
    asked = await ask(
        ctx,
        role="solver",
        key=f"r{round_}.solve",
        messages=solver_messages(ctx.task, [lesson.text for lesson in ctx.lessons]),
        round=round_,
        propose=True,
        lessons=[lesson.id for lesson in ctx.lessons],
    )
    return proposed(asked, round=round_)


async def sample(payload: Branch, runtime: Runtime[RunContext]) -> Update:
    """One of n samples (``Send`` fan-out): index 0 greedy, the others at temperature."""
    ctx = runtime.context
    round_, index = int(payload["round"]), int(payload["index"])
    temperature = 0.0 if index == 0 else float(ctx.param("temperature", FRESH_TEMPERATURE))
    asked = await ask(
        ctx,
        role="solver",
        key=f"r{round_}.sample{index:02d}",
        messages=solver_messages(ctx.task, [lesson.text for lesson in ctx.lessons]),
        round=round_,
        node="sample",
        temperature=temperature,
        seed=index,
        propose=True,
        lessons=[lesson.id for lesson in ctx.lessons],
    )
    return proposed(asked, round=round_)


async def verify(state: LoopState, runtime: Runtime[RunContext]) -> Update:
    """Run every pending candidate against the visible (and generated) tests."""
    ctx = runtime.context
    pending = sorted(state.get("pending") or [], key=lambda c: (c.round, c.key))
    earlier = {a.candidate.code for a in state.get("attempts") or []}
    generated = (state.get("generated") or []) if ctx.param("expected", True) else []

    update: Update = {}
    references: list[math_check.Reference] | None = None
    if ctx.task.kind == "math" and pending:
        programs, asked, errors, refused = await math_references(state, ctx, pending)
        if errors:  # the checker's model failed: the run stops with the error
            return {"spend": asked, "errors": errors}
        references = as_references(programs)
        update = {"references": programs, "spend": asked}
        if refused:  # checked by the programs so far; the run stops after this round
            update["exhausted"] = refused

    async def one(candidate: Candidate) -> tuple[Attempt, Spend]:
        if references is not None:
            verdict = await record_verdict(
                ctx,
                candidate,
                await asyncio.to_thread(math_check.verdict, candidate, references),
                key=f"verify:{candidate.key}",
                round=candidate.round,
            )
            attempt = Attempt(
                candidate=candidate, verdict=verdict, repeat=candidate.code in earlier
            )
            return attempt, Spend()
        verdict, spend = await run_tests(
            ctx,
            candidate,
            key=f"verify:{candidate.key}",
            round=candidate.round,
            generated=generated,
        )
        score, passed = split_generated(verdict, len(visible_tests(ctx.task)))
        repeat = candidate.extracted and candidate.code in earlier
        attempt = Attempt(
            candidate=candidate,
            verdict=verdict,
            generated_score=score,
            generated_passed=passed,
            repeat=repeat,
        )
        return attempt, spend

    done = await asyncio.gather(*(one(c) for c in pending))
    attempts = [a for a, _ in done]
    spend = update.pop("spend", Spend())
    for _, s in done:
        spend = spend + s
    if ctx.task.kind == "math":
        # Samples' final answers, compared as mathematics: best_of_n's vote
        # (self-consistency) and the tie-breaker of every strategy's ranking.
        votes = await asyncio.to_thread(
            lambda: {
                a.candidate.key: [math_check.vote(a.candidate)]
                for a in attempts
                if a.candidate.extracted  # no final answer: no vote
            }
        )
        update["outputs"] = votes
    before = best_attempt(state.get("attempts") or [], state.get("outputs"))
    after = best_attempt([*(state.get("attempts") or []), *attempts], state.get("outputs"))
    improved = before is None or (after is not None and after.candidate.key != before.candidate.key)
    new = any(not a.repeat for a in attempts)
    stale = (
        0 if (improved or new) and not _same_failure(state, attempts) else state.get("stale", 0) + 1
    )
    return {**update, "pending": None, "attempts": attempts, "spend": spend, "stale": stale}


def _same_failure(state: LoopState, attempts: list[Attempt]) -> bool:
    """Every new attempt failed exactly as the previous one did (the same feedback)."""
    previous = state.get("attempts") or []
    if not previous or not attempts:
        return False
    last = previous[-1].verdict
    return all(not a.verdict.passed and a.verdict.feedback == last.feedback for a in attempts)


async def review(state: LoopState, runtime: Runtime[RunContext]) -> Update:
    ctx, target = runtime.context, _target(state)
    round_ = state.get("round", 1)
    messages = reviewer_messages(ctx.task, target.candidate, target.verdict)
    return await critique(ctx, messages, round=round_, node="review")


async def critique(ctx: RunContext, messages: list[Message], *, round: int, node: str) -> Update:
    """The reviewer's critique, kept in the state for the next revision."""
    asked = await ask(
        ctx, role="reviewer", key=f"r{round}.{node}", messages=messages, round=round, node=node
    )
    update: Update = {**charged(asked), "critique": asked.text}
    if asked.error:
        update["errors"] = [asked.error]
    return update


async def revision(
    state: LoopState,
    ctx: RunContext,
    *,
    role: str,
    node: str,
    messages: list[Message],
    parent: Attempt | None,
    temperature: float | None = None,
    seed: int | None = None,
) -> Update:
    """A next-round candidate from ``role``: a revision of ``parent``, or a new start."""
    round_ = state.get("round", 1) + 1
    asked = await ask(
        ctx,
        role=role,
        key=f"r{round_}.{node}",
        messages=messages,
        round=round_,
        node=node,
        temperature=temperature,
        seed=seed,
        propose=True,
        parent=parent.candidate.key if parent is not None else None,
    )
    return proposed(asked, round=round_)


def _target(state: LoopState) -> Attempt:
    """The attempt to work on next: the reviewer's pick of this round when there is one
    (``multi_agent``), else the latest of the best so far."""
    attempts = state.get("attempts") or []
    ranking = state.get("ranking") or []
    round_ = state.get("round", 0)
    if ranking:
        for a in attempts:
            if a.candidate.key == ranking[0] and a.candidate.round == round_:
                return a
    target = focus_attempt(attempts, state.get("outputs"))
    assert target is not None, "a revision needs an earlier attempt"
    return target


async def refine(state: LoopState, runtime: Runtime[RunContext]) -> Update:
    """Revise the candidate with its failures and the reviewer's critique."""
    ctx, target = runtime.context, _target(state)
    critique = state.get("critique") or ""
    messages = refiner_messages(ctx.task, target.candidate, target.verdict, critique)
    return await revision(
        state, ctx, role="refiner", node="refine", messages=messages, parent=target
    )


async def debug(state: LoopState, runtime: Runtime[RunContext]) -> Update:
    """Self-Debugging: the failing tests' calls, values and errors straight to the fixer."""
    ctx, target = runtime.context, _target(state)
    messages = debugger_messages(ctx.task, target.candidate, target.verdict)
    return await revision(
        state, ctx, role="refiner", node="debug", messages=messages, parent=target
    )


async def fresh(state: LoopState, runtime: Runtime[RunContext]) -> Update:
    """A fresh sample instead of a repeated fix: the solver again, at temperature."""
    ctx, target = runtime.context, _target(state)
    return await revision(
        state,
        ctx,
        role="solver",
        node="fresh",
        messages=fresh_messages(ctx.task, target.verdict),
        parent=None,
        temperature=float(ctx.param("temperature", FRESH_TEMPERATURE)),
        seed=state.get("round", 1) + 1,
    )


async def reflect(state: LoopState, runtime: Runtime[RunContext]) -> Update:
    """Reflexion: a verbal reflection on the failed attempt, kept as a lesson."""
    ctx = runtime.context
    attempts = state.get("attempts") or []
    target = attempts[-1]
    round_ = state.get("round", 1)
    asked = await ask(
        ctx,
        role="reflector",
        key=f"r{round_}.reflect",
        messages=reflector_messages(ctx.task, target.candidate, target.verdict),
        round=round_,
        node="reflect",
    )
    if asked.refused:
        return charged(asked)
    if asked.error or not asked.text:
        return {"spend": asked.spend, "errors": [asked.error or "reflector: empty reflection"]}
    note = asked.text.strip()
    # One lesson per reflection step: a node run again on resume finds it under its id.
    note_id = f"rf_{ctx.run_id.removeprefix('run_')}_{asked.step.key}"
    await keep_lesson(ctx, note_id, note, asked.step.seq)
    return {"spend": asked.spend, "notes": [note]}


async def retry(state: LoopState, runtime: Runtime[RunContext]) -> Update:
    """Reflexion's next attempt, conditioned on the last attempt and every reflection."""
    ctx = runtime.context
    target = (state.get("attempts") or [])[-1]
    notes = state.get("notes") or []
    messages = retry_messages(ctx.task, target.candidate, target.verdict, notes)
    return await revision(state, ctx, role="solver", node="retry", messages=messages, parent=target)


async def accept(state: LoopState, runtime: Runtime[RunContext]) -> Update:
    """Take the pending candidates as attempts without checking them (``intrinsic``, and
    ``single`` where a check would cost model calls and decide nothing).

    Nothing from outside the model judges them during the run; their verdicts are blank
    (score 0, no feedback), and only the final scoring on hidden tests or answers, which
    no prompt ever sees, measures them."""
    pending = sorted(state.get("pending") or [], key=lambda c: (c.round, c.key))
    blank = Verdict(passed=False, score=0.0, feedback="")
    return {"pending": None, "attempts": [Attempt(candidate=c, verdict=blank) for c in pending]}
