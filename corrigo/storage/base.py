"""The trajectory store interface, and backends chosen by URL.

A store holds runs (spec, status, outcome), their steps in order, reflection notes,
and benches (the spec of a task × strategy × model grid; its runs are found by their
cells' batch ids). Every method is async; backends translate their own errors into
:class:`~corrigo.errors.StoreError` subclasses at this boundary.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

from corrigo.errors import StoreUnavailable
from corrigo.records import BenchSpec, Outcome, Reflection, RunRecord, RunSpec, Step


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
    async def create_run(self, spec: RunSpec, run_id: str | None = None) -> RunRecord:
        """Store a new run in status ``running``."""

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
    async def list_runs(self, limit: int = 50, batch_id: str | None = None) -> list[RunRecord]:
        """Most recent runs first."""

    @abstractmethod
    async def delete_run(self, run_id: str) -> None:
        """Remove a run and its steps (used to undo a run that never started)."""

    @abstractmethod
    async def add_reflection(self, reflection: Reflection) -> None:
        """Store a lesson."""

    @abstractmethod
    async def search_reflections(
        self, query: str = "", scope_key: str | None = None, limit: int = 5
    ) -> list[Reflection]:
        """Lessons whose text contains every word of ``query``, newest first."""

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
    """A store for ``url`` (not yet opened): SQLAlchemy URLs (sqlite, postgresql)."""
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme in {"sqlite", "postgresql", "postgres"}:
        from corrigo.storage.sql import SQLStore

        return SQLStore(url)
    if scheme in {"redis", "rediss"}:
        raise StoreUnavailable("the redis store is not available yet: use a SQLAlchemy URL")
    raise StoreUnavailable(f"cannot open store {url!r}: unknown URL scheme {scheme!r}")
