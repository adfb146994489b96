"""Running tasks: validate everything up front, then one stored run per task.

``run`` is what the CLI and services call. It loads the tasks, builds and checks the
models, opens the store and starts the sandbox *before* any run is created, so bad
input leaves nothing half-written; then it runs the tasks concurrently, each as one
stored run, and returns their outcomes in task order.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corrigo.config import Settings
from corrigo.errors import RunNotFound, SandboxError, StoreError
from corrigo.graphs.context import RunContext, StepLog
from corrigo.graphs.policies import best_attempt, first_attempt
from corrigo.graphs.registry import get_strategy, parse_strategy
from corrigo.graphs.state import LoopState, Spend, initial_state
from corrigo.models import ChatModel, build_models, check_models, resolve_specs
from corrigo.records import (
    Budgets,
    Limits,
    Outcome,
    RunRecord,
    RunSpec,
    Sampling,
    Step,
    Task,
    Totals,
    new_id,
)
from corrigo.sandbox.base import Sandbox, get_sandbox
from corrigo.storage.base import TrajectoryStore, open_store, redact_url

# Every loop is bounded by the strategies' own budgets; this only stops a runaway graph.
RECURSION_LIMIT = 10_000

OutcomeCallback = Callable[[Outcome], None]
#: ``on_event(task_id, event)``: ``{"event": "node", "node", "round"}`` as each node
#: finishes, ``{"event": "step", "key", "role", "round"}`` as each step is stored.
EventCallback = Callable[[str, dict[str, Any]], None]


def outcome_from_state(state: LoopState, ctx: RunContext, strategy: str, seconds: float) -> Outcome:
    attempts = state.get("attempts") or []
    best = best_attempt(attempts, state.get("outputs"))
    first = first_attempt(attempts)
    hidden, first_hidden = state.get("hidden"), state.get("first_hidden")
    has_hidden = bool(ctx.task.hidden_tests)
    spend = state.get("spend") or Spend()
    errors = state.get("errors") or []
    generated = state.get("generated") or []
    return Outcome(
        run_id=ctx.run_id,
        task_id=ctx.task.id,
        strategy=strategy,
        stop_reason=state.get("stop_reason") or "error",  # type: ignore[arg-type]
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
        totals=Totals(
            model_calls=spend.calls,
            tokens_in=spend.tokens_in,
            tokens_out=spend.tokens_out,
            seconds=seconds,
            sandbox_seconds=spend.sandbox_seconds,
        ),
        error=errors[0] if errors else None,
        generated_tests=len(generated),
        generated_dropped=state.get("generated_dropped", 0),
        generated_passed=state.get("generated_passed") if generated else None,
    )


@functools.cache
def _compiled(name: str) -> Any:
    """A strategy's compiled graph, built once: it holds no run state (each run brings
    its context and input), so every run of the strategy shares it."""
    return get_strategy(name).build().compile()


async def execute(
    spec: RunSpec,
    *,
    roles: Mapping[str, ChatModel],
    sandbox: Sandbox,
    store: TrajectoryStore,
    run_id: str | None = None,
    log: StepLog | None = None,
    on_event: EventCallback | None = None,
) -> Outcome:
    """Run one task through its strategy's graph, storing every step and the outcome.

    ``log`` lets replay and resume hand in steps recorded earlier (see StepLog)."""
    strategy = get_strategy(spec.strategy)
    params = strategy.resolve(spec.params)
    compiled = _compiled(spec.strategy)
    record = await store.create_run(spec, run_id)
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
    )
    final: LoopState = initial_state()
    try:
        async for mode, chunk in compiled.astream(
            initial_state(),
            context=ctx,
            stream_mode=["values", "updates", "custom"],
            config={"recursion_limit": RECURSION_LIMIT},
        ):
            if mode == "values":
                final = chunk
            elif on_event is not None and mode == "updates":
                for node, update in chunk.items():
                    # The round the node worked in: the one it moved to, else the current.
                    moved = update.get("round") if isinstance(update, dict) else None
                    round_ = moved or final.get("round", 0)
                    on_event(spec.task.id, {"event": "node", "node": node, "round": round_})
            elif on_event is not None and mode == "custom":
                on_event(spec.task.id, dict(chunk))
    except asyncio.CancelledError:
        outcome = Outcome(
            run_id=record.id, task_id=spec.task.id, stop_reason="cancelled", strategy=spec.strategy
        )
        await asyncio.shield(store.finish_run(record.id, outcome))
        raise
    except (SandboxError, StoreError) as exc:
        outcome = Outcome(
            run_id=record.id,
            task_id=spec.task.id,
            stop_reason="error",
            error=str(exc),
            strategy=spec.strategy,
        )
        await store.finish_run(record.id, outcome)
        return outcome
    outcome = outcome_from_state(final, ctx, spec.strategy, time.time() - started)
    await store.finish_run(record.id, outcome)
    return outcome


def with_reply_cache(models: Mapping[str, ChatModel], path: Path) -> dict[str, ChatModel]:
    """Every model behind one reply cache (see :mod:`corrigo.models.cache`), but scripted
    ones: their replies are a sequence, not a function of the request."""
    from corrigo.models.cache import CachedModel, ReplyCache

    cache = ReplyCache(path)
    wrapped: dict[int, ChatModel] = {}
    for model in models.values():
        keep = model.spec.startswith("scripted:")
        wrapped.setdefault(id(model), model if keep else CachedModel(model, cache))
    return {role: wrapped[id(model)] for role, model in models.items()}


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
    strategy: str = "best_of_n",
    model: str | None = None,
    roles: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    sampling: Mapping[str, Sampling] | None = None,
    max_rounds: int = 3,
    budgets: Budgets | None = None,
    limits: Limits | None = None,
    sandbox: str | None = None,
    store: str | TrajectoryStore | None = None,
    settings: Settings | None = None,
    concurrency: int = 2,
    batch_id: str | None = None,
    on_outcome: OutcomeCallback | None = None,
    on_event: EventCallback | None = None,
) -> list[Outcome]:
    """Run ``tasks`` (a selector such as ``"humaneval[:5]"`` or Task records) through
    ``strategy`` (a name, optionally with parameters: ``"best_of_n(n=5)"``; ``params``
    add to them).

    Raises a :class:`~corrigo.errors.CorrigoError` subclass for bad input before
    anything is stored.
    """
    from corrigo.tasks import load_tasks

    settings = settings or Settings.from_env()
    task_list = load_tasks(tasks) if isinstance(tasks, str) else list(tasks)
    chosen, named = parse_strategy(strategy)
    run_params = {**named, **dict(params or {}), "max_rounds": max_rounds}
    chosen.resolve(run_params)
    specs = resolve_specs(model, roles, settings)
    models = build_models(specs, settings)
    await check_models(models)
    if settings.reply_cache is not None:
        models = with_reply_cache(models, settings.reply_cache)
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
                strategy=chosen.name,
                params=run_params,
                roles={r: specs[r] for r in chosen.roles},
                sampling={r: (sampling or {}).get(r) or Sampling() for r in chosen.roles},
                budgets=budgets,
                limits=limits,
                sandbox=sandbox_name,
                store=store_label,
                corrigo_version=_version(),
                batch_id=batch,
            )
            async with gate:
                outcome = await execute(
                    spec, roles=models, sandbox=box, store=the_store, on_event=on_event
                )
            if on_outcome is not None:
                on_outcome(outcome)
            return outcome

        # A task group: if one task fails unexpectedly the others are cancelled (and stored
        # as cancelled) before the store and sandbox close, instead of running on.
        try:
            async with asyncio.TaskGroup() as group:
                running = [group.create_task(one(t)) for t in task_list]
        except BaseExceptionGroup as grouped:
            first = grouped.exceptions[0]
            raise first from None
        return [r.result() for r in running]


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
