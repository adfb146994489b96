"""Lessons carried across tasks, and the per-scope counts their help gate reads."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from corrigo.records.base import Record, new_id, utcnow

LessonScope = Literal["task", "family", "global"]
LessonStatus = Literal["active", "demoted", "retired"]


class Lesson(Record):
    """A lesson: text the solver is shown on later attempts and tasks.

    ``scope_key`` is what it applies to: the task id (scope ``task``), the task family
    (``family``, the part of a task id before its first "/") or ``"*"`` (``global``).
    ``uses`` counts finished runs whose prompts carried it and ``helped`` those of them
    that ended verified; the store keeps both counters, the help gate sets ``status``.
    """

    id: str = Field(default_factory=lambda: new_id("rf_"))
    text: str
    run_id: str | None = None
    step_seq: int | None = None
    scope: LessonScope = "task"
    scope_key: str = ""
    # Words of the task it was learned on: what retrieval matches a new task against.
    topic: str = ""
    uses: int = 0
    helped: int = 0
    status: LessonStatus = "active"
    created_at: datetime = Field(default_factory=utcnow)


class ScopeStats(Record):
    """Finished runs with lessons enabled in one scope, and how many ended verified."""

    scope_key: str
    runs: int = 0
    passed: int = 0
