"""Lessons in a run: recall them before it, count them and learn one after it.

With the ``lessons`` parameter (any strategy) set to ``use``, the lessons relevant to
the task (see :mod:`corrigo.lessons.retrieval`) are put in every first-draft prompt of
the solver and their ids recorded in those steps; when the run finishes, it is counted
for the help gate (:mod:`corrigo.lessons.gate`: which lessons it used, whether it ended
verified). With ``learn`` the run also writes a lesson when its first attempt failed
and a later one was verified: the reflector turns the failure and the fix into general
advice, stored in the task's family with the run and step it came from. Reflexion's
reflections are stored the same way (:func:`keep_lesson`), one per reflection step.

What was recalled is itself a stored step (key ``lessons``), so replay and resume see
the same lessons the run saw, whatever the store holds by then.
"""

from __future__ import annotations

import json

from corrigo.agents.reflector import lesson_messages
from corrigo.errors import RunNotFound
from corrigo.graphs.calls import ask
from corrigo.graphs.context import RunContext
from corrigo.graphs.policies import best_attempt, first_attempt
from corrigo.graphs.state import LoopState
from corrigo.lessons.gate import record_outcome
from corrigo.lessons.retrieval import family, relevant, topic_of
from corrigo.records import Lesson, Outcome, Step

RECALL_KEY = "lessons"
LEARN_KEY = "lesson"


def mode(ctx: RunContext) -> str:
    return str(ctx.param("lessons", "off"))


async def recall(ctx: RunContext) -> list[Lesson]:
    """The lessons this run works with, recorded as the run's ``lessons`` step."""
    if mode(ctx) == "off":
        return []
    recorded = ctx.log.recorded(RECALL_KEY, "event")
    if recorded is not None:
        await ctx.log.reuse(recorded)
        return [Lesson.model_validate(item) for item in json.loads(recorded.output or "[]")]
    found = await relevant(ctx.log.store, ctx.task, k=int(ctx.param("lesson_count", 3)))
    shown = [r.model_dump(mode="json", include={"id", "text", "scope", "scope_key"}) for r in found]
    await ctx.log.append(
        Step(
            run_id=ctx.run_id,
            seq=0,
            round=0,
            role="memory",
            node="recall",
            kind="event",
            key=RECALL_KEY,
            output=json.dumps(shown),
            lessons=[r.id for r in found],
        )
    )
    return found


async def after_run(ctx: RunContext, state: LoopState, outcome: Outcome) -> None:
    """Count the finished run for the help gate; with ``learn``, write its lesson."""
    if mode(ctx) == "off" or outcome.stop_reason in ("error", "cancelled"):
        return
    if mode(ctx) == "learn":
        await _learn(ctx, state)
    verified = outcome.stop_reason == "verified"
    await record_outcome(ctx.log.store, ctx.task, [r.id for r in ctx.lessons], verified)


async def keep_lesson(ctx: RunContext, lesson_id: str, text: str, step_seq: int) -> None:
    """Store ``text`` as a lesson for the task's family under ``lesson_id``, learned at
    step ``step_seq`` of this run. Once only: a node run again on resume finds the
    lesson already there, and with the ``lessons`` option similar tasks recall it
    (:mod:`corrigo.lessons.retrieval` decides what is similar enough)."""
    try:
        await ctx.log.store.get_lesson(lesson_id)
        return
    except RunNotFound:
        pass
    await ctx.log.store.add_lesson(
        Lesson(
            id=lesson_id,
            text=text,
            run_id=ctx.run_id,
            step_seq=step_seq,
            scope="family",
            scope_key=family(ctx.task.id),
            topic=topic_of(ctx.task),
        )
    )


async def _learn(ctx: RunContext, state: LoopState) -> None:
    attempts = state.get("attempts") or []
    first, best = first_attempt(attempts), best_attempt(attempts, state.get("outputs"))
    if first is None or best is None or first.verdict.passed or not best.verdict.passed:
        return  # nothing was corrected: nothing to learn
    asked = await ask(
        ctx,
        role="reflector",
        key=LEARN_KEY,
        messages=lesson_messages(ctx.task, first.candidate, first.verdict, best.candidate),
        round=state.get("round", 0),
        node="learn",
    )
    if asked.error or not (asked.text or "").strip():
        return
    # One lesson per run, whatever happens: a resumed run finds it under the same id.
    lesson_id = f"rf_{ctx.run_id.removeprefix('run_')}_lesson"
    await keep_lesson(ctx, lesson_id, (asked.text or "").strip(), asked.step.seq)
