"""Versioned, JSON-safe records: everything corrigo stores or returns.

Records are pydantic models with a ``schema_version``. Stored state is plain JSON:
decoding unknown fields or a newer schema fails loudly instead of guessing.

The records live in one module per subject (``base``, ``tasks``, ``results``, ``runs``,
``lessons``, ``benches``, ``progress``); import them from here.
"""

from __future__ import annotations

from corrigo.records.base import SCHEMA_VERSION, Record, new_id, utcnow
from corrigo.records.benches import BenchSpec
from corrigo.records.lessons import Lesson, LessonScope, LessonStatus, ScopeStats
from corrigo.records.progress import Attempt, Spend
from corrigo.records.results import (
    CallKind,
    CallOutcome,
    Candidate,
    ExecResult,
    ExecStatus,
    OutputsResult,
    Review,
    TestResult,
    Trace,
    TraceSnapshot,
    Verdict,
)
from corrigo.records.runs import (
    BudgetName,
    Budgets,
    ForkPoint,
    Limits,
    Message,
    Outcome,
    RunQuery,
    RunRecord,
    RunSpec,
    RunStatus,
    Sampling,
    Step,
    StepKind,
    StopReason,
    Totals,
    Usage,
)
from corrigo.records.tasks import TASK_KINDS, Instruction, Task, TaskKind, TestCase

__all__ = [
    "SCHEMA_VERSION",
    "TASK_KINDS",
    "Attempt",
    "BenchSpec",
    "BudgetName",
    "Budgets",
    "CallKind",
    "CallOutcome",
    "Candidate",
    "ExecResult",
    "ExecStatus",
    "ForkPoint",
    "Instruction",
    "Lesson",
    "LessonScope",
    "LessonStatus",
    "Limits",
    "Message",
    "Outcome",
    "OutputsResult",
    "Record",
    "Review",
    "RunQuery",
    "RunRecord",
    "RunSpec",
    "RunStatus",
    "Sampling",
    "ScopeStats",
    "Spend",
    "Step",
    "StepKind",
    "StopReason",
    "Task",
    "TaskKind",
    "TestCase",
    "TestResult",
    "Totals",
    "Trace",
    "TraceSnapshot",
    "Usage",
    "Verdict",
    "new_id",
    "utcnow",
]
