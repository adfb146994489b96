"""One run through its strategy's graph: stream it, store every step and the outcome.

``execute`` is the single place a strategy graph is run (a new run, a resumed one, a
fork, a replay); :mod:`corrigo.lifecycle.session` gives it its models, sandbox, store
and checkpointer, and :mod:`corrigo.lifecycle.api` is what callers use.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from corrigo.agents.kinds import scored
from corrigo.config import Settings
from corrigo.errors import SandboxError, StoreError
from corrigo.graphs import lessons
from corrigo.graphs.context import RunContext, StepLog
from corrigo.graphs.policies import answer_attempt, best_attempt, first_attempt
from corrigo.graphs.registry import Strategy, get_strategy
from corrigo.graphs.state import LoopState, initial_state
from corrigo.liveness import current_owner
from corrigo.models import ChatModel
from corrigo.records import (
    Outcome,
    RunSpec,
    Spend,
    Totals,
)
from corrigo.sandbox.base import Sandbox
from corrigo.storage.base import TrajectoryStore

# Every loop is bounded by the strategies' own budgets; this only stops a runaway graph.
RECURSION_LIMIT = 10_000

#: ``on_event(task_id, event)``: ``{"event": "node", "node", "round"}`` as each node
#: finishes, ``{"event": "step", "key", "role", "round"}`` as each step is stored, and
#: ``{"event": "round", "round", "visible_score", "visible_passed"}`` as a round finishes
#: (the stream first shows a later round, or the run ends; the best candidate so far).
EventCallback = Callable[[str, dict[str, Any]], None]


class _Rounds:
    """Tells ``on_event`` when a round is finished: the first event of a later round
    (a step or a node), or the end of the run, closes the round before it."""

    def __init__(self, task_id: str, on_event: EventCallback, current: int) -> None:
        self.task_id, self.on_event, self.current = task_id, on_event, current

    def reached(self, round_: Any, state: LoopState) -> None:
        if isinstance(round_, int) and round_ > self.current:
            self.finished(state)
            self.current = round_

    def finished(self, state: LoopState) -> None:
        if self.current < 1:
            return
        best = best_attempt(state.get("attempts") or [], state.get("outputs"))
        event = {
            "event": "round",
            "round": self.current,
            "visible_score": best.verdict.score if best else None,
            "visible_passed": bool(best and best.verdict.passed),
        }
        self.on_event(self.task_id, event)


def outcome_from_state(state: LoopState, ctx: RunContext, strategy: str, seconds: float) -> Outcome:
    attempts = state.get("attempts") or []
    best = answer_attempt(attempts, state.get("outputs"), str(ctx.param("keep", "best")))
    first = first_attempt(attempts)
    hidden, first_hidden = state.get("hidden"), state.get("first_hidden")
    has_hidden = scored(ctx.task)
    spend = state.get("spend") or Spend()
    errors = state.get("errors") or []
    generated = state.get("generated") or []
    return Outcome(
        run_id=ctx.run_id,
        task_id=ctx.task.id,
        strategy=strategy,
        stop_reason=state.get("stop_reason") or "error",  # type: ignore[arg-type]
        budget=state.get("budget"),  # type: ignore[arg-type]
        best=best.candidate if best else None,
        rounds=state.get("round", 0),
        first_round_score=first.verdict.score if first else 0.0,
        first_round_passed=bool(first and first.verdict.passed),
        visible_score=best.verdict.score if best else 0.0,
        visible_passed=bool(best and best.verdict.passed),
        hidden_score=hidden.score if hidden else (0.0 if has_hidden else None),
        hidden_passed=hidden.passed if hidden else (False if has_hidden else None),
        first_round_hidden_passed=(
            first_hidden.passed if first_hidden else (False if has_hidden else None)
        ),
        hidden_loose_passed=hidden.loose if hidden else None,
        totals=Totals(
            model_calls=spend.calls,
            tokens_in=spend.tokens_in,
            tokens_out=spend.tokens_out,
            seconds=seconds,
            sandbox_seconds=spend.sandbox_seconds,
            cost=spend.known_cost,
        ),
        error=errors[0] if errors else None,
        generated_tests=len(generated),
        generated_dropped=state.get("generated_dropped", 0),
        generated_passed=state.get("generated_passed") if generated else None,
    )


_PLAIN: dict[str, Any] = {}
_WITH_CHECKPOINTS: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def _compiled_with(strategy: Strategy, checkpointer: Any) -> Any:
    """The strategy's graph compiled (with ``checkpointer`` when given), built once per
    checkpointer: it holds no run state (each run brings its context and input), so
    every run of the strategy shares it."""
    graphs = _PLAIN if checkpointer is None else _WITH_CHECKPOINTS.setdefault(checkpointer, {})
    if strategy.name not in graphs:
        graphs[strategy.name] = strategy.build().compile(checkpointer=checkpointer)
    return graphs[strategy.name]


async def execute(
    spec: RunSpec,
    *,
    roles: Mapping[str, ChatModel],
    sandbox: Sandbox,
    store: TrajectoryStore,
    run_id: str | None = None,
    log: StepLog | None = None,
    on_event: EventCallback | None = None,
    checkpointer: Any = None,
    resume: bool = False,
    data_dir: Path | None = None,
) -> Outcome:
    """Run one task through its strategy's graph, storing every step and the outcome.

    ``log`` lets replay and resume hand in steps recorded earlier (see StepLog). With a
    LangGraph ``checkpointer`` the graph's state is saved after each super-step under
    the run id; ``resume`` continues the stored run ``run_id`` (claimed by the caller)
    from its last checkpoint, or from the start when it has none, reusing its steps."""
    strategy = get_strategy(spec.strategy)
    params = strategy.resolve(spec.params)
    compiled = _compiled_with(strategy, checkpointer)
    if resume:
        if run_id is None:
            raise ValueError("resume needs the run id")
        record = await store.get_run(run_id)
    else:
        record = await store.create_run(spec, run_id, owner=current_owner())
    started = time.time()
    if log is None:
        log = StepLog(store, record.id)
    else:
        log.store, log.run_id = store, record.id
    ctx = RunContext(
        run_id=record.id,
        task=spec.task,
        roles=roles,
        sandbox=sandbox,
        log=log,
        budgets=spec.budgets,
        limits=spec.limits,
        params=params,
        sampling=spec.sampling,
        started=started,
        nltk_data=_nltk_data(data_dir),
    )
    final: LoopState = initial_state()
    config: dict[str, Any] = {"recursion_limit": RECURSION_LIMIT}
    start: LoopState | None = initial_state()
    rounds: _Rounds | None = None
    # Everything after create_run is inside this try: however the run ends (an error,
    # a cancellation even before the graph starts), it is finished in the store.
    try:
        ctx.lessons = await lessons.recall(ctx)
        if checkpointer is not None:
            config["configurable"] = {"thread_id": record.id}
            if resume:
                saved = await compiled.aget_state(config)
                if saved.values:
                    start, final = None, saved.values  # continue from the checkpoint
        rounds = _Rounds(spec.task.id, on_event, final.get("round", 0)) if on_event else None
        async for mode, chunk in compiled.astream(
            start,
            context=ctx,
            stream_mode=["values", "updates", "custom"],
            config=config,
            **({"durability": "sync"} if checkpointer is not None else {}),
        ):
            if mode == "values":
                final = chunk
            elif on_event is not None and rounds is not None and mode == "updates":
                for node, update in chunk.items():
                    # The round the node worked in: the one it moved to, else the current.
                    moved = update.get("round") if isinstance(update, dict) else None
                    round_ = moved or final.get("round", 0)
                    rounds.reached(round_, final)
                    on_event(spec.task.id, {"event": "node", "node": node, "round": round_})
            elif on_event is not None and rounds is not None and mode == "custom":
                rounds.reached(chunk.get("round"), final)
                on_event(spec.task.id, dict(chunk))
    except asyncio.CancelledError:
        outcome = Outcome(
            run_id=record.id, task_id=spec.task.id, stop_reason="cancelled", strategy=spec.strategy
        )
        await asyncio.shield(store.finish_run(record.id, outcome))
        raise
    except (SandboxError, StoreError) as exc:
        return await _failed(store, record.id, spec, str(exc))
    if rounds is not None:
        rounds.finished(final)
    outcome = outcome_from_state(final, ctx, spec.strategy, time.time() - started)
    await lessons.after_run(ctx, final, outcome)
    await store.finish_run(record.id, outcome)
    if checkpointer is not None:
        # The trajectory is the record; a finished run's checkpoints are only working state.
        await checkpointer.adelete_thread(record.id)
    return outcome


async def _failed(store: TrajectoryStore, run_id: str, spec: RunSpec, error: str) -> Outcome:
    outcome = Outcome(
        run_id=run_id,
        task_id=spec.task.id,
        stop_reason="error",
        error=error,
        strategy=spec.strategy,
    )
    await store.finish_run(run_id, outcome)
    return outcome


def _nltk_data(data_dir: Path | None) -> Path | None:
    """The NLTK data pulled under ``data_dir`` (default: the environment's data dir)."""
    from corrigo.tasks.suites import nltk_data_dir

    return nltk_data_dir(data_dir if data_dir is not None else Settings.from_env().home)
