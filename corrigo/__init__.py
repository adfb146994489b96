"""corrigo: self-correcting LLM workflows with grounded feedback.

The public API. Names resolve lazily, so ``import corrigo`` loads nothing heavy::

    import corrigo
    outcomes = corrigo.run_sync("humaneval[:5]", model="openai:gpt-4o-mini")
    stored = await corrigo.load_run(outcomes[0].run_id)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "BenchSpec",
    "Budgets",
    "CorrigoError",
    "ExecResult",
    "Limits",
    "Outcome",
    "ReplayReport",
    "RunOptions",
    "RunQuery",
    "RunRecord",
    "RunSpec",
    "Settings",
    "Step",
    "StoredRun",
    "Task",
    "Verdict",
    "bench_report",
    "export_training_data",
    "fork",
    "get_model",
    "get_sandbox",
    "get_strategy",
    "list_runs",
    "load_run",
    "load_tasks",
    "open_store",
    "prune_runs",
    "replay_run",
    "resume",
    "run",
    "run_bench",
    "run_sync",
    "strategy_graph",
]

_WHERE = {
    "BenchSpec": "corrigo.records",
    "Budgets": "corrigo.records",
    "ExecResult": "corrigo.records",
    "Limits": "corrigo.records",
    "Outcome": "corrigo.records",
    "RunQuery": "corrigo.records",
    "RunRecord": "corrigo.records",
    "RunSpec": "corrigo.records",
    "Step": "corrigo.records",
    "Task": "corrigo.records",
    "Verdict": "corrigo.records",
    "CorrigoError": "corrigo.errors",
    "Settings": "corrigo.config",
    "get_model": "corrigo.models",
    "get_sandbox": "corrigo.sandbox.base",
    "get_strategy": "corrigo.graphs.registry",
    "open_store": "corrigo.storage.factory",
    "load_tasks": "corrigo.tasks",
    "run": "corrigo.lifecycle.api",
    "run_sync": "corrigo.lifecycle.api",
    "load_run": "corrigo.lifecycle.stored",
    "list_runs": "corrigo.lifecycle.stored",
    "prune_runs": "corrigo.lifecycle.stored",
    "resume": "corrigo.lifecycle.api",
    "fork": "corrigo.lifecycle.fork",
    "RunOptions": "corrigo.lifecycle.options",
    "StoredRun": "corrigo.lifecycle.stored",
    "replay_run": "corrigo.replay",
    "ReplayReport": "corrigo.replay",
    "run_bench": "corrigo.bench",
    "bench_report": "corrigo.bench",
    "export_training_data": "corrigo.export",
    "strategy_graph": "corrigo.lifecycle.as_graph",
}

if TYPE_CHECKING:
    from corrigo.bench import bench_report, run_bench
    from corrigo.config import Settings
    from corrigo.errors import CorrigoError
    from corrigo.export import export_training_data
    from corrigo.graphs.registry import get_strategy
    from corrigo.lifecycle.api import resume, run, run_sync
    from corrigo.lifecycle.as_graph import strategy_graph
    from corrigo.lifecycle.fork import fork
    from corrigo.lifecycle.options import RunOptions
    from corrigo.lifecycle.stored import StoredRun, list_runs, load_run, prune_runs
    from corrigo.models import get_model
    from corrigo.records import (
        BenchSpec,
        Budgets,
        ExecResult,
        Limits,
        Outcome,
        RunQuery,
        RunRecord,
        RunSpec,
        Step,
        Task,
        Verdict,
    )
    from corrigo.replay import ReplayReport, replay_run
    from corrigo.sandbox.base import get_sandbox
    from corrigo.storage.factory import open_store
    from corrigo.tasks import load_tasks


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'corrigo' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
