"""Running a bench: validate every cell, save the spec, then run the cells' missing tasks.

The bench runs in one :class:`~corrigo.lifecycle.session.Session`: one store, one
sandbox pool, one model object per model spec (so per-model limits hold across the
bench). Cells run one after another, each as one :func:`corrigo.lifecycle.api.run` call
over the tasks that have no finished run in that cell yet, with up to ``concurrency``
tasks at once, which keeps the bench within ``concurrency`` overall.

Resuming (``resume=BENCH_ID`` or ``"last"``) reads the stored spec and runs, per cell,
only the tasks without a finished run. A run left ``interrupted`` by a killed process
is continued where it stopped (:func:`corrigo.lifecycle.api.resume`: its recorded steps are
reused, no model is asked twice); a run finished as ``cancelled`` (Ctrl-C) does not
count: that task is run again as a new run. The report uses each task's newest
finished run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any, Literal

from corrigo.bench.report import BenchReport, build_report, cell_runs, newest_done, suite_tasks
from corrigo.config import Settings, corrigo_version
from corrigo.errors import ConfigError
from corrigo.lifecycle.executor import Executor
from corrigo.lifecycle.session import Session
from corrigo.lifecycle.stored import enter_store
from corrigo.records import BenchSpec, Budgets, Outcome, Task
from corrigo.storage.base import TrajectoryStore


@dataclass(frozen=True)
class CellProgress:
    """What ``on_progress`` receives: a cell was planned, a task finished, a cell is done."""

    bench_id: str
    kind: Literal["planned", "task", "done"]
    strategy: str
    model: str
    total: int
    done: int
    outcome: Outcome | None = None


ProgressCallback = Callable[[CellProgress], None]


def _unique(names: Sequence[str], what: str) -> list[str]:
    out: list[str] = []
    for name in names:
        name = name.strip()
        if not name:
            continue
        if name in out:
            raise ConfigError(f"{what} {name!r} is listed twice")
        out.append(name)
    if not out:
        raise ConfigError(f"a bench needs at least one {what}")
    return out


async def _validate(spec: BenchSpec, session: Session) -> list[Task]:
    """Everything a cell needs, checked before anything is stored; the bench's tasks."""
    from corrigo.graphs.registry import parse_strategy
    from corrigo.models import resolve_specs
    from corrigo.models.pricing import require_prices
    from corrigo.sandbox.base import get_sandbox

    if spec.limit is not None and spec.limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {spec.limit}")
    if spec.max_rounds < 1:
        raise ConfigError(f"--max-rounds must be at least 1, got {spec.max_rounds}")
    _unique(spec.strategies, "strategy")
    _unique(spec.models, "model")
    tasks = suite_tasks(spec)
    if "max_rounds" in spec.params:
        raise ConfigError("set max_rounds with --max-rounds, not as a parameter")
    for strategy in spec.strategies:
        chosen, named = parse_strategy(strategy)
        chosen.resolve({**named, **spec.params, "max_rounds": spec.max_rounds})
    get_sandbox(spec.sandbox)  # an unknown backend fails here; nothing starts until used
    for model in spec.models:
        if model.partition(":")[0] == "replay":
            raise ConfigError("a bench cannot use replay: models")
        specs = resolve_specs(model, None, session.settings)
        require_prices(specs.values(), Budgets(max_cost=spec.max_cost), session.settings)
        await session.check(specs)
    return tasks


async def run_bench(
    spec: BenchSpec | None = None,
    *,
    suite: str | None = None,
    strategies: Sequence[str] = (),
    models: Sequence[str] = (),
    limit: int | None = None,
    max_rounds: int = 3,
    max_cost: float | None = None,
    params: Mapping[str, Any] | None = None,
    sandbox: str | None = None,
    resume: str | None = None,
    store: str | TrajectoryStore | None = None,
    settings: Settings | None = None,
    concurrency: int = 4,
    on_progress: ProgressCallback | None = None,
    executor: Executor | None = None,
) -> BenchReport:
    """Run a bench and return its report.

    Give a :class:`~corrigo.records.BenchSpec`, or its parts (``suite``, ``strategies``,
    ``models``, ...), or ``resume`` (a stored bench id, a unique prefix, or ``"last"``)
    to continue one. A strategy may carry its own parameters (``"best_of_n(n=5)"``: a
    cell of its own); ``params`` go to every cell (``{"tests": "always"}``);
    ``max_cost`` is each run's budget in dollars; ``executor``: where the runs execute
    (default: this process, ``concurrency`` at once). Bad input raises a
    :class:`~corrigo.errors.CorrigoError` before anything is stored.
    """
    settings = settings or Settings.from_env()
    given = spec is not None or suite or strategies or models or max_cost is not None
    if resume is not None and given:
        raise ConfigError(
            "--resume continues a stored bench as it was saved: give no suite, strategies, "
            "models or --max-cost"
        )
    if resume is None and spec is None:
        if not suite:
            raise ConfigError("a bench needs a task suite (e.g. 'humaneval[:20]')")
        spec = BenchSpec(
            suite=suite,
            strategies=_unique(strategies, "strategy"),
            models=_unique(models, "model"),
            limit=limit,
            max_rounds=max_rounds,
            max_cost=max_cost,
            params=dict(params or {}),
            sandbox=sandbox or settings.sandbox,
            corrigo_version=corrigo_version(),
        )
    session = Session(settings, store, executor)
    try:  # a new bench is checked before its store is opened: bad input opens nothing
        tasks = await _validate(spec, session) if spec is not None else []
    except BaseException:
        await session.close()
        raise
    async with session:
        if spec is not None:
            await session.store.save_bench(spec)
        else:
            assert resume is not None
            spec = await session.store.get_bench(resume)
            tasks = await _validate(spec, session)
        progress = on_progress or (lambda event: None)
        plan = await _plan(spec, tasks, session.store, progress)
        for cell in plan:
            await _run_cell(spec, cell, tasks, session, concurrency, progress)
        return await build_report(spec, session.store, [t.id for t in tasks])


@dataclass(frozen=True)
class _Cell:
    strategy: str
    model: str
    pending: list[Task]  # tasks without a finished run
    interrupted: list[str]  # of those, runs to continue (one per task, the newest)


async def _plan(
    spec: BenchSpec, tasks: list[Task], store: TrajectoryStore, progress: ProgressCallback
) -> list[_Cell]:
    """Per cell, the tasks without a finished run (all of them in a new bench), and the
    interrupted runs among them to continue rather than start again."""
    from corrigo.liveness import shown

    plan = []
    for strategy in spec.strategies:
        for model in spec.models:
            records = await cell_runs(store, spec.cell_batch(strategy, model))
            done, _ = newest_done(records)
            pending = [t for t in tasks if t.id not in done]
            waiting = {t.id for t in pending}
            interrupted: dict[str, str] = {}
            for record in records:  # newest first
                task_id = record.spec.task.id
                # Interrupted: its process died; queued: stored for a cluster's actors
                # by a driver that died before they took it.
                if task_id in waiting and shown(record).status in ("interrupted", "queued"):
                    interrupted.setdefault(task_id, record.id)
            plan.append(_Cell(strategy, model, pending, list(interrupted.values())))
            finished = len(tasks) - len(pending)
            progress(CellProgress(spec.id, "planned", strategy, model, len(tasks), finished))
    return plan


async def _run_cell(
    spec: BenchSpec,
    cell: _Cell,
    tasks: list[Task],
    session: Session,
    concurrency: int,
    progress: ProgressCallback,
) -> None:
    from corrigo.lifecycle.api import resume, run

    strategy, model = cell.strategy, cell.model
    finished = len(tasks) - len(cell.pending)

    def advance(outcome: Outcome) -> None:
        nonlocal finished
        finished += 1
        progress(CellProgress(spec.id, "task", strategy, model, len(tasks), finished, outcome))

    if cell.interrupted:
        await resume(cell.interrupted, session=session, concurrency=concurrency, on_outcome=advance)
    resumed = await _done_tasks(session.store, cell.interrupted)
    fresh = [t for t in cell.pending if t.id not in resumed]
    if fresh:
        await run(
            fresh,
            strategy=strategy,
            model=model,
            params=spec.params,
            max_rounds=spec.max_rounds,
            budgets=Budgets(max_cost=spec.max_cost),
            sandbox=spec.sandbox,
            session=session,
            concurrency=concurrency,
            batch_id=spec.cell_batch(strategy, model),
            on_outcome=advance,
        )
    progress(CellProgress(spec.id, "done", strategy, model, len(tasks), finished))


async def _done_tasks(store: TrajectoryStore, run_ids: Sequence[str]) -> set[str]:
    """Task ids whose run, among ``run_ids``, is now done (finished, not cancelled)."""
    from corrigo.bench.report import is_done

    done = set()
    for run_id in run_ids:
        record = await store.get_run(run_id)
        if is_done(record):
            done.add(record.spec.task.id)
    return done


async def list_benches(
    *, limit: int = 50, store: str | TrajectoryStore | None = None, settings: Settings | None = None
) -> list[BenchSpec]:
    """Stored benches, newest first."""
    settings = settings or Settings.from_env()
    async with AsyncExitStack() as stack:
        opened = await enter_store(stack, store, settings)
        return await opened.list_benches(limit=limit)
