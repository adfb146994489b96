"""Benches: every task of a suite × every strategy × every model, and their report.

A bench is stored as a :class:`~corrigo.records.BenchSpec`; each of its *cells* (one
strategy with one model for every role) is an ordinary batch of runs whose batch id is
``spec.cell_batch(strategy, model)``. Nothing else is stored: the report is computed
from the cells' runs, so it can be redrawn at any time and a killed bench resumes by
running only the tasks that have no finished run in their cell.

- :mod:`corrigo.bench.grid`: validate, save, run the cells (``run_bench``).
- :mod:`corrigo.bench.report`: per-cell metrics and JSON, from the store (``bench_report``).
- :mod:`corrigo.bench.render`: the table, markdown, and the report files.
- :mod:`corrigo.bench.plot`: hidden pass rate against tokens spent, as a PNG.
"""

from __future__ import annotations

from corrigo.bench.grid import CellProgress, list_benches, run_bench
from corrigo.bench.render import write_report
from corrigo.bench.report import BenchReport, CellReport, bench_report

__all__ = [
    "BenchReport",
    "CellProgress",
    "CellReport",
    "bench_report",
    "list_benches",
    "run_bench",
    "write_report",
]
