"""What a store promises about runs and their steps.

A run is stored as its :class:`~corrigo.records.RunRecord` (spec, status, owner,
outcome) with its steps in ``seq`` order. Steps are the durable log a run resumes
from, so ``append_step`` returns only once the step is stored, and storing the same
step twice is harmless while storing a different one at the same place is an error.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from typing import Literal

from corrigo.records import Outcome, RunQuery, RunRecord, RunSpec, Step


class RunStore(ABC):
    """Runs and their steps, in an opened store."""

    @abstractmethod
    async def create_run(
        self,
        spec: RunSpec,
        run_id: str | None = None,
        owner: str | None = None,
        *,
        status: Literal["running", "queued"] = "running",
    ) -> RunRecord:
        """Store a new run in ``status``: ``running``, owned by ``owner``, or ``queued``
        (waiting to be claimed by a worker; normally without an owner)."""

    @abstractmethod
    async def claim_run(self, run_id: str, owner: str, expected: str | None) -> RunRecord:
        """Make ``owner`` the owner of a ``running`` or ``queued`` run whose owner is
        still ``expected`` (compare-and-set: two processes resuming one run, or two
        workers taking one queued run, cannot both win). A queued run becomes ``running``.

        Raises RunNotFound for an unknown run, StoreError when the run is finished or
        its owner is no longer ``expected``."""

    @abstractmethod
    async def append_step(self, step: Step) -> None:
        """Store a step; idempotent on ``(run_id, seq)`` (a different step there is an error)."""

    @abstractmethod
    async def finish_run(self, run_id: str, outcome: Outcome) -> None:
        """Record the outcome and mark the run finished."""

    @abstractmethod
    async def get_run(self, run_id: str) -> RunRecord:
        """The run with this id (or a unique prefix of 6+ characters); raises RunNotFound."""

    @abstractmethod
    async def get_steps(self, run_id: str) -> list[Step]:
        """The run's steps ordered by ``seq``."""

    @abstractmethod
    async def list_runs(
        self, limit: int = 50, batch_id: str | None = None, query: RunQuery | None = None
    ) -> list[RunRecord]:
        """Most recent runs first (``created_at``, then id), filtered by ``query``.

        ``limit`` and ``batch_id`` are shorthands for the query's fields (the query's win
        when it is given). Statuses are stored ones: a query for ``interrupted`` matches
        nothing here; :mod:`corrigo.liveness` derives it from ``running``."""

    @abstractmethod
    async def delete_run(self, run_id: str) -> None:
        """Remove a run and its steps (used to undo a run that never started)."""

    @abstractmethod
    async def prune_runs(
        self, *, older_than: datetime | None = None, keep: int | None = None
    ) -> int:
        """Delete finished runs (and their steps) created before ``older_than``, and/or
        all but the ``keep`` newest finished runs; runs still ``running`` are never
        touched. Returns how many runs were deleted."""
