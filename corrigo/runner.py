"""Running tasks: validate everything up front, then one stored run per task.

``run`` is what the CLI and services call. It loads the tasks, builds and checks the
models, opens the store and starts the sandbox *before* any run is created, so bad
input leaves nothing half-written; then it runs the tasks concurrently, each as one
stored run, and returns their outcomes in task order.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

from corrigo.config import Settings
from corrigo.errors import RunNotFound, SandboxError, StoreError
from corrigo.graphs.refine import recursion_limit
from corrigo.graphs.registry import get_strategy
from corrigo.graphs.state import LoopState, initial_state
from corrigo.models import ChatModel, build_models, check_models, resolve_specs
from corrigo.records import (
    Budgets,
    Limits,
    Outcome,
    RunRecord,
    RunSpec,
    Step,
    Task,
    Totals,
    new_id,
)
from corrigo.sandbox.base import Sandbox, get_sandbox
from corrigo.storage.base import TrajectoryStore, open_store, redact_url

OutcomeCallback = Callable[[Outcome], None]


def outcome_from_state(state: LoopState, seconds: float) -> Outcome:
    best, best_verdict = state.get("best"), state.get("best_verdict")
    first_verdict = state.get("first_verdict")
    hidden, first_hidden = state.get("hidden"), state.get("first_hidden")
    return Outcome(
        run_id=state["run_id"],
        task_id=state["task"].id,
        stop_reason=state.get("stop_reason") or "error",  # type: ignore[arg-type]
        best=best,
        rounds=state.get("round", 0),
        first_round_score=first_verdict.score if first_verdict else 0.0,
        first_round_passed=bool(first_verdict and first_verdict.passed),
        visible_score=best_verdict.score if best_verdict else 0.0,
        visible_passed=bool(best_verdict and best_verdict.passed),
        hidden_score=hidden.score if hidden else (0.0 if state["task"].hidden_tests else None),
        hidden_passed=hidden.passed if hidden else (False if state["task"].hidden_tests else None),
        first_round_hidden_passed=(
            first_hidden.passed if first_hidden else (False if state["task"].hidden_tests else None)
        ),
        totals=Totals(
            model_calls=state.get("calls", 0),
            tokens_in=state.get("tokens_in", 0),
            tokens_out=state.get("tokens_out", 0),
            seconds=seconds,
            sandbox_seconds=state.get("sandbox_seconds", 0.0),
        ),
        error=state.get("error"),
    )


async def execute(
    spec: RunSpec,
    *,
    roles: Mapping[str, ChatModel],
    sandbox: Sandbox,
    store: TrajectoryStore,
    run_id: str | None = None,
) -> Outcome:
    """Run one task through its strategy's graph, storing every step and the outcome."""
    builder = get_strategy(spec.strategy)
    graph = builder(roles, sandbox, store, spec.budgets, limits=spec.limits, **spec.params)
    compiled = graph.compile()
    record = await store.create_run(spec, run_id)
    started = time.time()
    state = initial_state(record.id, spec.task, started)
    rounds = int(spec.params.get("max_rounds") or spec.budgets.max_rounds)
    try:
        final: LoopState = await compiled.ainvoke(  # type: ignore[assignment]
            state, config={"recursion_limit": recursion_limit(rounds)}
        )
    except asyncio.CancelledError:
        outcome = Outcome(run_id=record.id, task_id=spec.task.id, stop_reason="cancelled")
        await asyncio.shield(store.finish_run(record.id, outcome))
        raise
    except (SandboxError, StoreError) as exc:
        outcome = Outcome(
            run_id=record.id, task_id=spec.task.id, stop_reason="error", error=str(exc)
        )
        await store.finish_run(record.id, outcome)
        return outcome
    outcome = outcome_from_state(final, time.time() - started)
    await store.finish_run(record.id, outcome)
    return outcome


async def _enter_store(
    stack: AsyncExitStack, store: str | TrajectoryStore | None, settings: Settings
) -> TrajectoryStore:
    """The caller's open store as is, or one opened from a URL (closed with ``stack``)."""
    if isinstance(store, TrajectoryStore):
        return store
    return await stack.enter_async_context(open_store(store or settings.resolved_store_url))


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("corrigo")
    except PackageNotFoundError:
        return "0+unknown"


async def run(
    tasks: str | Sequence[Task],
    *,
    strategy: str = "refine",
    model: str | None = None,
    roles: Mapping[str, str] | None = None,
    max_rounds: int = 3,
    budgets: Budgets | None = None,
    limits: Limits | None = None,
    sandbox: str | None = None,
    store: str | TrajectoryStore | None = None,
    settings: Settings | None = None,
    concurrency: int = 2,
    batch_id: str | None = None,
    on_outcome: OutcomeCallback | None = None,
) -> list[Outcome]:
    """Run ``tasks`` (a selector such as ``"humaneval[:5]"`` or Task records).

    Raises a :class:`~corrigo.errors.CorrigoError` subclass for bad input before
    anything is stored.
    """
    from corrigo.tasks import load_tasks

    settings = settings or Settings.from_env()
    task_list = load_tasks(tasks) if isinstance(tasks, str) else list(tasks)
    get_strategy(strategy)
    specs = resolve_specs(model, roles, settings)
    models = build_models(specs, settings)
    await check_models(models)
    budgets = (budgets or Budgets()).model_copy(update={"max_rounds": max_rounds})
    limits = limits or Limits()
    sandbox_name = sandbox or settings.sandbox
    batch = batch_id or new_id("batch_")
    async with AsyncExitStack() as stack:
        the_store = await _enter_store(stack, store, settings)
        if isinstance(store, TrajectoryStore):
            store_label = type(store).__name__
        else:
            store_label = redact_url(store or settings.resolved_store_url)
        box = await stack.enter_async_context(get_sandbox(sandbox_name))
        gate = asyncio.Semaphore(max(1, concurrency))

        async def one(task: Task) -> Outcome:
            spec = RunSpec(
                task=task,
                strategy=strategy,
                params={"max_rounds": max_rounds},
                roles=dict(specs),
                budgets=budgets,
                limits=limits,
                sandbox=sandbox_name,
                store=store_label,
                corrigo_version=_version(),
                batch_id=batch,
            )
            async with gate:
                outcome = await execute(spec, roles=models, sandbox=box, store=the_store)
            if on_outcome is not None:
                on_outcome(outcome)
            return outcome

        return list(await asyncio.gather(*(one(t) for t in task_list)))


def run_sync(tasks: str | Sequence[Task], **kwargs: Any) -> list[Outcome]:
    """:func:`run` for callers without an event loop."""
    return asyncio.run(run(tasks, **kwargs))


@dataclass(frozen=True)
class StoredRun:
    record: RunRecord
    steps: list[Step]


async def load_run(
    run_id: str, *, store: str | TrajectoryStore | None = None, settings: Settings | None = None
) -> StoredRun:
    """A stored run and its steps (``"last"``: the newest run); raises RunNotFound."""
    settings = settings or Settings.from_env()
    async with AsyncExitStack() as stack:
        opened = await _enter_store(stack, store, settings)
        if run_id == "last":
            newest = await opened.list_runs(limit=1)
            if not newest:
                raise RunNotFound("no runs in the store yet")
            run_id = newest[0].id
        record = await opened.get_run(run_id)
        return StoredRun(record, await opened.get_steps(record.id))


async def list_runs(
    *,
    limit: int = 50,
    batch_id: str | None = None,
    store: str | TrajectoryStore | None = None,
    settings: Settings | None = None,
) -> list[RunRecord]:
    """Stored runs, newest first."""
    settings = settings or Settings.from_env()
    async with AsyncExitStack() as stack:
        opened = await _enter_store(stack, store, settings)
        return await opened.list_runs(limit=limit, batch_id=batch_id)
