"""The trajectory store: the whole contract every storage backend implements.

A store holds runs and their steps (:class:`~corrigo.storage.runs.RunStore`), lessons
with their help counters (:class:`~corrigo.storage.lessons.LessonStore`) and benches
(:class:`~corrigo.storage.benches.BenchStore`). Code that needs only one of those asks
for that contract; a backend implements all three plus the lifecycle here. Backends are
chosen by URL in :mod:`corrigo.storage.factory`, which this module does not import.

Every method is async; backends translate their own errors into
:class:`~corrigo.errors.StoreError` subclasses at this boundary. Stored records are
JSON produced by pydantic: reading one that does not decode raises StoreError naming
the record type, never returns ``None`` and never runs code.
"""

from __future__ import annotations

from abc import abstractmethod
from types import TracebackType
from typing import Self

from corrigo.storage.benches import BenchStore
from corrigo.storage.lessons import LessonStore
from corrigo.storage.runs import RunStore


class TrajectoryStore(RunStore, LessonStore, BenchStore):
    """Durable record of runs, steps, lessons and benches, opened with ``async with``.

    Nothing connects in ``__init__``: ``open()`` does, so a store can be built, passed
    around and opened where its connections will be used."""

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
