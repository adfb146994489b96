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
import weakref
from collections.abc import Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from corrigo.agents.kinds import check_task, scored
from corrigo.config import Settings
from corrigo.errors import SandboxError, StoreError, UnknownStrategy
from corrigo.graphs import memory
from corrigo.graphs.context import RunContext, StepLog
from corrigo.graphs.policies import answer_attempt, best_attempt, first_attempt
from corrigo.graphs.registry import Strategy, get_strategy, parse_strategy
from corrigo.graphs.state import LoopState, initial_state
from corrigo.lifecycle.stored import enter_store as _enter_store
from corrigo.liveness import current_owner, shown
from corrigo.models import ChatModel, build_models, check_models, resolve_specs
from corrigo.records import (
    Budgets,
    Limits,
    Outcome,
    RunQuery,
    RunRecord,
    RunSpec,
    Sampling,
    Spend,
    Task,
    Totals,
    new_id,
)
from corrigo.sandbox.base import Sandbox, get_sandbox
from corrigo.storage.base import TrajectoryStore, redact_url
from corrigo.storage.checkpoint import open_checkpointer

# Every loop is bounded by the strategies' own budgets; this only stops a runaway graph.
RECURSION_LIMIT = 10_000

OutcomeCallback = Callable[[Outcome], None]
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


_WITH_CHECKPOINTS: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def _compiled_with(name: str, checkpointer: Any) -> Any:
    """The strategy's graph compiled with ``checkpointer``, built once per checkpointer."""
    if checkpointer is None:
        return _compiled(name)
    graphs = _WITH_CHECKPOINTS.setdefault(checkpointer, {})
    if name not in graphs:
        graphs[name] = get_strategy(name).build().compile(checkpointer=checkpointer)
    return graphs[name]


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
    compiled = _compiled_with(spec.strategy, checkpointer)
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
        ctx.lessons = await memory.recall(ctx)
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
    await memory.after_run(ctx, final, outcome)
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
    task_list = load_tasks(tasks, home=settings.home) if isinstance(tasks, str) else list(tasks)
    if isinstance(store, TrajectoryStore):
        store_label = type(store).__name__
    else:
        store_label = redact_url(store or settings.resolved_store_url)
    specs = run_specs(
        task_list,
        strategy=strategy,
        model=model,
        roles=roles,
        params=params,
        sampling=sampling,
        max_rounds=max_rounds,
        budgets=budgets,
        limits=limits,
        sandbox=sandbox,
        store_label=store_label,
        settings=settings,
        batch_id=batch_id,
    )
    models = build_models(resolve_specs(model, roles, settings), settings)
    await check_models(models)
    if settings.reply_cache is not None:
        models = with_reply_cache(models, settings.reply_cache)
    async with AsyncExitStack() as stack:
        the_store = await _enter_store(stack, store, settings)
        box = await stack.enter_async_context(get_sandbox(sandbox or settings.sandbox))
        checkpointer = await stack.enter_async_context(open_checkpointer(the_store))
        gate = asyncio.Semaphore(max(1, concurrency))

        async def one(spec: RunSpec) -> Outcome:
            async with gate:
                outcome = await execute(
                    spec,
                    roles=models,
                    sandbox=box,
                    store=the_store,
                    on_event=on_event,
                    checkpointer=checkpointer,
                    data_dir=settings.home,
                )
            if on_outcome is not None:
                on_outcome(outcome)
            return outcome

        return await _all_or_none([one(spec) for spec in specs])


async def _all_or_none(jobs: Sequence[Any]) -> list[Outcome]:
    """Await ``jobs`` together. A task group: if one fails unexpectedly the others are
    cancelled (and stored as cancelled) before the store and sandbox close, instead of
    running on; the first error is raised as itself."""
    try:
        async with asyncio.TaskGroup() as group:
            running = [group.create_task(job) for job in jobs]
    except BaseExceptionGroup as grouped:
        first = grouped.exceptions[0]
        raise first from None
    return [r.result() for r in running]


async def resume(
    run_ids: Sequence[str] = (),
    *,
    interrupted: bool = False,
    batch_id: str | None = None,
    force: bool = False,
    store: str | TrajectoryStore | None = None,
    settings: Settings | None = None,
    concurrency: int = 2,
    on_outcome: OutcomeCallback | None = None,
    on_event: EventCallback | None = None,
) -> list[Outcome]:
    """Continue stored runs that did not finish: ``run_ids``, and with ``interrupted``
    every interrupted run (of ``batch_id`` when given).

    Each run continues from its last checkpoint with the models, sandbox and budgets of
    its spec; steps it recorded are reused, never asked again. A run still owned by a
    live process (or by another host) is refused unless ``force``; a finished one always.
    Raises a :class:`~corrigo.errors.CorrigoError` subclass before anything changes.
    """
    from corrigo.errors import UsageError

    settings = settings or Settings.from_env()
    async with AsyncExitStack() as stack:
        the_store = await _enter_store(stack, store, settings)
        records = [shown(await the_store.get_run(r)) for r in run_ids]
        if interrupted:
            query = RunQuery(status="running", batch_id=batch_id, limit=1_000_000)
            found = [shown(r) for r in await the_store.list_runs(query=query)]
            known = {r.id for r in records}
            records += [r for r in found if r.status == "interrupted" and r.id not in known]
        for record in records:
            if record.status == "finished":
                raise UsageError(f"run {record.id} is already finished: nothing to resume")
            if record.status == "running" and not force:
                raise UsageError(
                    f"run {record.id} is still running (owner {record.owner or 'unknown'}); "
                    "use --force if that process is gone"
                )
        models_by_run: dict[str, dict[str, ChatModel]] = {}
        by_roles: dict[tuple[tuple[str, str], ...], dict[str, ChatModel]] = {}
        for record in records:
            key = tuple(sorted(record.spec.roles.items()))
            if key not in by_roles:  # one set of models per distinct role mapping
                built = build_models(record.spec.roles, settings)
                await check_models(built)
                if settings.reply_cache is not None:
                    built = with_reply_cache(built, settings.reply_cache)
                by_roles[key] = built
            models_by_run[record.id] = by_roles[key]
        boxes: dict[str, Sandbox] = {}
        for name in sorted({r.spec.sandbox for r in records}):
            boxes[name] = await stack.enter_async_context(get_sandbox(name))
        checkpointer = await stack.enter_async_context(open_checkpointer(the_store))
        # Claim every run before continuing any: two resumers cannot both take one.
        for record in records:
            await the_store.claim_run(record.id, current_owner(), expected=record.owner)
        gate = asyncio.Semaphore(max(1, concurrency))

        async def one(record: RunRecord) -> Outcome:
            async with gate:
                outcome = await _continue(
                    record,
                    roles=models_by_run[record.id],
                    sandbox=boxes[record.spec.sandbox],
                    store=the_store,
                    checkpointer=checkpointer,
                    on_event=on_event,
                    data_dir=settings.home,
                )
            if on_outcome is not None:
                on_outcome(outcome)
            return outcome

        return await _all_or_none([one(r) for r in records])


def run_sync(tasks: str | Sequence[Task], **kwargs: Any) -> list[Outcome]:
    """:func:`run` for callers without an event loop."""
    return asyncio.run(run(tasks, **kwargs))


def run_specs(
    tasks: Sequence[Task],
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
    store_label: str = "",
    settings: Settings | None = None,
    batch_id: str | None = None,
) -> list[RunSpec]:
    """The specs of ``tasks`` as :func:`run` runs them, one per task, without running
    them (``corrigo serve`` stores them as queued runs). Checks the strategy, its parameters
    and the role mapping; builds no model. Raises a CorrigoError subclass."""
    settings = settings or Settings.from_env()
    chosen, named = parse_strategy(strategy)
    run_params = {**named, **dict(params or {}), "max_rounds": max_rounds}
    resolved = chosen.resolve(run_params)
    run_roles = list(chosen.roles)
    if resolved.get("lessons") == "learn" and "reflector" not in run_roles:
        run_roles.append("reflector")  # writes the lesson of a corrected failure
    for task in tasks:
        check_task(task)
        if task.kind not in chosen.kinds:
            raise UnknownStrategy(
                f"strategy {chosen.name!r} takes {' and '.join(chosen.kinds)} tasks only; "
                f"task {task.id!r} is a {task.kind} task"
            )
    specs = resolve_specs(model, roles, settings)
    budgets = (budgets or Budgets()).model_copy(update={"max_rounds": max_rounds})
    batch = batch_id or new_id("batch_")
    return [
        RunSpec(
            task=task,
            strategy=chosen.name,
            params=run_params,
            roles={r: specs[r] for r in _roles(run_roles, chosen, task)},
            sampling={
                r: (sampling or {}).get(r) or Sampling() for r in _roles(run_roles, chosen, task)
            },
            budgets=budgets,
            limits=limits or Limits(),
            sandbox=sandbox or settings.sandbox,
            store=store_label,
            corrigo_version=_version(),
            batch_id=batch,
        )
        for task in tasks
    ]


def _nltk_data(data_dir: Path | None) -> Path | None:
    """The NLTK data pulled under ``data_dir`` (default: the environment's data dir)."""
    from corrigo.tasks.suites import nltk_data_dir

    return nltk_data_dir(data_dir if data_dir is not None else Settings.from_env().home)


def _roles(roles: Sequence[str], strategy: Strategy, task: Task) -> list[str]:
    """A run's roles: the strategy's (without the test designer, which writes tests for
    functions only), plus the checker that writes a math task's independent programs
    (every strategy that checks math answers during a run)."""
    kept = [r for r in roles if task.kind == "code" or r != "test_designer"]
    if task.kind == "math" and strategy.math_checks and "checker" not in kept:
        kept.append("checker")
    return kept


async def run_stored(
    record: RunRecord,
    *,
    roles: Mapping[str, ChatModel],
    sandbox: Sandbox,
    store: TrajectoryStore,
    checkpointer: Any = None,
    on_event: EventCallback | None = None,
    data_dir: Path | None = None,
) -> Outcome:
    """Run a stored, unfinished run in this process: a ``queued`` one (stored by
    ``create_run(..., status="queued")``) or an interrupted one.

    The run is first claimed from the owner it was read with (None for a queued run):
    when another process took it meanwhile, StoreError is raised and nothing runs. It
    then continues as :func:`resume` does: from its last checkpoint, reusing its steps."""
    await store.claim_run(record.id, current_owner(), expected=record.owner)
    return await _continue(
        record,
        roles=roles,
        sandbox=sandbox,
        store=store,
        checkpointer=checkpointer,
        on_event=on_event,
        data_dir=data_dir,
    )


async def _continue(
    record: RunRecord,
    *,
    roles: Mapping[str, ChatModel],
    sandbox: Sandbox,
    store: TrajectoryStore,
    checkpointer: Any,
    on_event: EventCallback | None,
    data_dir: Path | None = None,
) -> Outcome:
    """Continue a stored run this process has claimed: from its last checkpoint, with
    every step it stored served by key and new steps numbered after them."""
    steps = await store.get_steps(record.id)
    log = StepLog(
        store,
        record.id,
        prior={s.key: s for s in steps if s.key},
        prior_stored=True,
        start_seq=max((s.seq for s in steps), default=0),
    )
    return await execute(
        record.spec,
        roles=roles,
        sandbox=sandbox,
        store=store,
        run_id=record.id,
        log=log,
        on_event=on_event,
        checkpointer=checkpointer,
        resume=True,
        data_dir=data_dir,
    )
