"""The trajectory store interface, and backends chosen by URL.

A store holds runs (spec, status, owner, outcome), their steps in order, reflection
notes (lessons) with their help counters, and benches (the spec of a task × strategy ×
model grid; its runs are found by their cells' batch ids). Every method is async;
backends translate their own errors into :class:`~corrigo.errors.StoreError`
subclasses at this boundary. Stored records are JSON produced by pydantic: reading
one that does not decode raises StoreError naming the record type, never returns
``None`` and never runs code.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Literal, Self

from corrigo.errors import StoreUnavailable
from corrigo.records import (
    BenchSpec,
    LessonStatus,
    Outcome,
    Reflection,
    RunQuery,
    RunRecord,
    RunSpec,
    ScopeStats,
    Step,
)


class TrajectoryStore(ABC):
    """Durable record of runs and steps. ``append_step`` returns only once stored."""

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @abstractmethod
    async def open(self) -> None:
        """Connect and create the schema if needed; raises StoreUnavailable."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections; safe to call twice."""

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

    @abstractmethod
    async def add_reflection(self, reflection: Reflection) -> None:
        """Store a lesson (its counters and status as given, normally zero and active)."""

    @abstractmethod
    async def get_reflection(self, reflection_id: str) -> Reflection:
        """The lesson with this id or a unique prefix of 6+ characters, with its current
        counters and status; raises RunNotFound."""

    @abstractmethod
    async def list_reflections(
        self,
        scope_keys: Sequence[str] | None = None,
        statuses: Sequence[LessonStatus] | None = None,
        limit: int = 100,
    ) -> list[Reflection]:
        """Lessons newest first, in any of ``scope_keys`` and ``statuses`` when given."""

    @abstractmethod
    async def search_reflections(
        self, query: str = "", scope_key: str | None = None, limit: int = 5
    ) -> list[Reflection]:
        """Lessons whose text contains every word of ``query`` (case-insensitive, as
        literal text), newest first."""

    @abstractmethod
    async def record_lesson_outcome(
        self, scope_keys: Sequence[str], used: Sequence[str], passed: bool
    ) -> None:
        """Count one finished run: in each of ``scope_keys`` (runs +1, passed +1 if it
        passed) and for each lesson id in ``used`` (uses +1, helped +1 if it passed).
        Increments are atomic: concurrent runs never lose a count. Unknown lesson ids
        are ignored (a lesson may be pruned while a run that used it finishes)."""

    @abstractmethod
    async def scope_stats(self, scope_keys: Sequence[str]) -> dict[str, ScopeStats]:
        """Counters of each scope key (zeros for one never counted)."""

    @abstractmethod
    async def set_reflection_status(self, reflection_id: str, status: LessonStatus) -> None:
        """Set a lesson's status (the help gate's decision); raises RunNotFound."""

    @abstractmethod
    async def delete_reflections(self, reflection_ids: Sequence[str]) -> int:
        """Delete these lessons (full ids); returns how many existed."""

    @abstractmethod
    async def save_bench(self, spec: BenchSpec) -> None:
        """Store a bench's spec; saving the same spec again is a no-op, another one an error."""

    @abstractmethod
    async def get_bench(self, bench_id: str) -> BenchSpec:
        """The bench with this id, a unique prefix of 6+ characters, or ``"last"`` (the newest).

        Raises RunNotFound when there is no such bench.
        """

    @abstractmethod
    async def list_benches(self, limit: int = 50) -> list[BenchSpec]:
        """Most recent benches first."""


def redact_url(url: str) -> str:
    """``url`` with any password replaced, safe to log or store."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


def open_store(url: str) -> TrajectoryStore:
    """A store for ``url`` (not yet opened): SQLAlchemy URLs (sqlite, postgresql) or
    redis URLs."""
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme in {"sqlite", "postgresql", "postgres"}:
        from corrigo.storage.sql import SQLStore

        return SQLStore(url)
    if scheme in {"redis", "rediss"}:
        from corrigo.storage.redis import RedisStore

        return RedisStore(url)
    raise StoreUnavailable(f"cannot open store {url!r}: unknown URL scheme {scheme!r}")
