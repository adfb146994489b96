"""A bench's report, computed from its cells' stored runs.

Per cell (strategy × model), over the tasks with a finished run (the newest one per
task; runs left ``running`` by a killed process and ``cancelled`` runs are ignored):

- ``first_round_pass_rate`` / ``final_pass_rate``: hidden pass@1 of the first round's
  candidate and of the returned one; ``lift`` = final − first round.
- ``vs_single``: final pass rate minus that of the ``single`` cell with the same model
  (None when the bench has no such cell, or for the single cell itself).
- ``fixed`` / ``broken``: incorrect→correct and correct→incorrect flips on hidden tests
  (for every kind: a math task's hidden answer, an instructions task's strict check).
- ``loose`` = ``loose_passed`` / ``loose_tasks``: instructions tasks only, the returned
  reply's prompt-level accuracy in IFEval's loose mode (``final_pass_rate`` is the
  strict one), over the cell's instructions tasks; None when it has none.
- ``model_calls``, ``tokens`` (in + out), ``seconds`` (the runs' wall-clock seconds,
  summed), ``tokens_per_solved`` = tokens / max(1, tasks solved).
- ``cost``: the runs' dollars at the price table's rates (None when some run's model
  has no price); ``cost_per_solved`` = cost / tasks solved on hidden tests (None when
  none was, or the cost is unknown).
- ``budgets``: how many runs stopped on each budget (``tokens``, ``cost``, ...).
- generated tests, over tasks where they were written (``generated_passed`` is not
  None): ``generated_false_positive_rate`` = share of hidden-failing tasks whose
  generated tests passed; ``generated_false_negative_rate`` = share of hidden-passing
  tasks whose generated tests failed. None when there is nothing to divide by.
- ``errors``: tasks whose run stopped with ``error``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from corrigo.config import Settings
from corrigo.errors import CorrigoError
from corrigo.records import BenchSpec, Outcome, RunRecord, Task
from corrigo.storage.base import TrajectoryStore


@dataclass(frozen=True)
class CellReport:
    strategy: str
    model: str
    batch_id: str
    tasks: int
    missing: list[str]
    first_round_passed: int
    final_passed: int
    first_round_pass_rate: float | None
    final_pass_rate: float | None
    lift: float | None
    vs_single: float | None
    fixed: int
    broken: int
    model_calls: int
    tokens_in: int
    tokens_out: int
    tokens: int
    seconds: float
    sandbox_seconds: float
    tokens_per_solved: float
    generated_tasks: int
    generated_false_positive_rate: float | None
    generated_false_negative_rate: float | None
    errors: int
    stop_reasons: dict[str, int]
    ignored_runs: int
    runs: dict[str, str] = field(default_factory=dict)
    loose_tasks: int = 0
    loose_passed: int = 0
    loose: float | None = None
    cost: float | None = None
    cost_per_solved: float | None = None
    budgets: dict[str, int] = field(default_factory=dict)

    @property
    def tokens_per_task(self) -> float:
        return self.tokens / self.tasks if self.tasks else 0.0


@dataclass(frozen=True)
class BenchReport:
    bench: BenchSpec
    # The suite's task ids, in order (None when the suite can no longer be loaded).
    task_ids: list[str] | None
    cells: list[CellReport]
    # How many of the tasks with a run are of each kind (code, math, instructions).
    kinds: dict[str, int] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.task_ids is not None and all(not c.missing for c in self.cells)

    def to_dict(self) -> dict[str, Any]:
        return {
            "bench": self.bench.model_dump(mode="json"),
            "tasks": self.task_ids,
            "complete": self.complete,
            "kinds": self.kinds,
            "cells": [asdict(c) for c in self.cells],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def to_markdown(self) -> str:
        from corrigo.bench.render import to_markdown

        return to_markdown(self)

    def write(self, out_dir: Path) -> dict[str, Path]:
        """``report.md``, ``report.json`` and ``pass_vs_tokens.png`` in ``out_dir``."""
        from corrigo.bench.render import write_report

        return write_report(self, out_dir)


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def summarize(
    strategy: str,
    model: str,
    batch_id: str,
    outcomes: Sequence[Outcome],
    *,
    missing: Sequence[str] = (),
    ignored_runs: int = 0,
    kinds: Mapping[str, str] | None = None,
) -> CellReport:
    """One cell's metrics from its outcomes (one per task); ``kinds`` (task id → kind)
    counts an instructions run that ended without a loose score as a loose fail."""
    n = len(outcomes)
    kinds = kinds or {}
    measured = [
        o
        for o in outcomes
        if o.hidden_loose_passed is not None or kinds.get(o.task_id) == "instructions"
    ]
    loose_passed = sum(1 for o in measured if o.hidden_loose_passed)
    first = sum(1 for o in outcomes if o.first_round_hidden_passed)
    final = sum(1 for o in outcomes if o.hidden_passed)
    tokens_in = sum(o.totals.tokens_in for o in outcomes)
    tokens_out = sum(o.totals.tokens_out for o in outcomes)
    generated = [o for o in outcomes if o.generated_passed is not None]
    hidden_fail = [o for o in generated if not o.hidden_passed]
    hidden_pass = [o for o in generated if o.hidden_passed]
    stops: dict[str, int] = {}
    budgets: dict[str, int] = {}
    for o in outcomes:
        stops[o.stop_reason] = stops.get(o.stop_reason, 0) + 1
        if o.stop_reason == "budget_exhausted" and o.budget:
            budgets[o.budget] = budgets.get(o.budget, 0) + 1
    costs = [o.totals.cost for o in outcomes]
    cost = None if None in costs else sum(c for c in costs if c is not None)
    first_rate, final_rate = _rate(first, n), _rate(final, n)
    return CellReport(
        strategy=strategy,
        model=model,
        batch_id=batch_id,
        tasks=n,
        missing=list(missing),
        first_round_passed=first,
        final_passed=final,
        first_round_pass_rate=first_rate,
        final_pass_rate=final_rate,
        lift=None if final_rate is None or first_rate is None else final_rate - first_rate,
        vs_single=None,
        fixed=sum(1 for o in outcomes if o.first_round_hidden_passed is False and o.hidden_passed),
        broken=sum(1 for o in outcomes if o.first_round_hidden_passed and o.hidden_passed is False),
        model_calls=sum(o.totals.model_calls for o in outcomes),
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        tokens=tokens_in + tokens_out,
        seconds=sum(o.totals.seconds for o in outcomes),
        sandbox_seconds=sum(o.totals.sandbox_seconds for o in outcomes),
        tokens_per_solved=(tokens_in + tokens_out) / max(1, final),
        generated_tasks=len(generated),
        generated_false_positive_rate=_rate(
            sum(1 for o in hidden_fail if o.generated_passed), len(hidden_fail)
        ),
        generated_false_negative_rate=_rate(
            sum(1 for o in hidden_pass if not o.generated_passed), len(hidden_pass)
        ),
        errors=stops.get("error", 0),
        stop_reasons=dict(sorted(stops.items())),
        ignored_runs=ignored_runs,
        runs={o.task_id: o.run_id for o in outcomes},
        loose_tasks=len(measured),
        loose_passed=loose_passed,
        loose=_rate(loose_passed, len(measured)),
        cost=cost,
        cost_per_solved=cost / final if cost is not None and final else None,
        budgets=dict(sorted(budgets.items())),
    )


def is_done(record: RunRecord) -> bool:
    """A run that counts for its cell: finished, and not cancelled half-way."""
    return (
        record.status == "finished"
        and record.outcome is not None
        and record.outcome.stop_reason != "cancelled"
    )


def newest_done(records: Iterable[RunRecord]) -> tuple[dict[str, RunRecord], int]:
    """Per task, the newest run that counts (records come newest first); and how many
    runs were ignored (unfinished, cancelled, or superseded by a newer one)."""
    chosen: dict[str, RunRecord] = {}
    ignored = 0
    for record in records:
        task_id = record.spec.task.id
        if is_done(record) and task_id not in chosen:
            chosen[task_id] = record
        else:
            ignored += 1
    return chosen, ignored


ALL_RUNS = 1_000_000


async def cell_runs(store: TrajectoryStore, batch_id: str) -> list[RunRecord]:
    """Every run of a cell, newest first."""
    return await store.list_runs(limit=ALL_RUNS, batch_id=batch_id)


async def build_report(
    spec: BenchSpec, store: TrajectoryStore, task_ids: Sequence[str] | None
) -> BenchReport:
    cells: list[CellReport] = []
    kinds: dict[str, str] = {}  # task id → kind, from the runs' specs
    wanted = set(task_ids) if task_ids is not None else None
    for strategy in spec.strategies:
        for model in spec.models:
            batch = spec.cell_batch(strategy, model)
            chosen, ignored = newest_done(await cell_runs(store, batch))
            if wanted is not None:
                ignored += sum(1 for t in chosen if t not in wanted)
                chosen = {t: r for t, r in chosen.items() if t in wanted}
            order = list(task_ids) if task_ids is not None else sorted(chosen)
            outcomes = [chosen[t].outcome for t in order if t in chosen]
            missing = [t for t in order if t not in chosen]
            kinds.update((t, r.spec.task.kind) for t, r in chosen.items())
            cells.append(
                summarize(
                    strategy,
                    model,
                    batch,
                    [o for o in outcomes if o is not None],
                    missing=missing,
                    ignored_runs=ignored,
                    kinds={t: r.spec.task.kind for t, r in chosen.items()},
                )
            )
    ids = list(task_ids) if task_ids is not None else None
    counts: dict[str, int] = {}
    for kind in kinds.values():
        counts[kind] = counts.get(kind, 0) + 1
    return BenchReport(
        bench=spec, task_ids=ids, cells=_vs_single(cells), kinds=dict(sorted(counts.items()))
    )


def _is_single(strategy: str) -> bool:
    return strategy.partition("(")[0].strip() == "single"


def _vs_single(cells: list[CellReport]) -> list[CellReport]:
    single: dict[str, float | None] = {}
    for cell in cells:
        if _is_single(cell.strategy):
            single.setdefault(cell.model, cell.final_pass_rate)
    out = []
    for cell in cells:
        base = single.get(cell.model)
        if not _is_single(cell.strategy) and base is not None and cell.final_pass_rate is not None:
            cell = replace(cell, vs_single=cell.final_pass_rate - base)
        out.append(cell)
    return out


def suite_tasks(spec: BenchSpec) -> list[Task]:
    """The bench's tasks, in order (loaded again each time); raises TaskNotFound /
    TaskFormatError."""
    from corrigo.tasks import load_tasks

    tasks = load_tasks(spec.suite)
    return tasks[: spec.limit] if spec.limit else tasks


async def bench_report(
    bench_id: str,
    *,
    store: str | TrajectoryStore | None = None,
    settings: Settings | None = None,
) -> BenchReport:
    """The report of a stored bench (``"last"``: the newest), from the store alone.

    The suite is loaded again only to list the tasks a cell is missing; when it cannot
    be loaded (a task file moved), the report covers the runs that are there.
    """
    from corrigo.lifecycle.stored import enter_store

    settings = settings or Settings.from_env()
    async with AsyncExitStack() as stack:
        opened = await enter_store(stack, store, settings)
        spec = await opened.get_bench(bench_id)
        try:
            task_ids: list[str] | None = [t.id for t in suite_tasks(spec)]
        except CorrigoError:
            task_ids = None
        return await build_report(spec, opened, task_ids)
