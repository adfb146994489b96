"""What a store promises about lessons and the counters the help gate reads.

A store keeps each :class:`~corrigo.records.Lesson` with two counters (``uses``,
``helped``) and a status, and per scope key how many finished runs counted and how many
of them passed. The counters are updated in place by atomic increments, never by a
read and a write of the record, so concurrent runs lose no count. What a counter
*means* (which lessons help, which are demoted) is decided above the store, in
:mod:`corrigo.lessons.gate`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from corrigo.records import Lesson, LessonStatus, ScopeStats


class LessonStore(ABC):
    """Lessons, their counters and the counters of their scopes, in an opened store."""

    @abstractmethod
    async def add_lesson(self, lesson: Lesson) -> None:
        """Store a lesson (its counters and status as given, normally zero and active)."""

    @abstractmethod
    async def get_lesson(self, lesson_id: str) -> Lesson:
        """The lesson with this id or a unique prefix of 6+ characters, with its current
        counters and status; raises RunNotFound."""

    @abstractmethod
    async def list_lessons(
        self,
        scope_keys: Sequence[str] | None = None,
        statuses: Sequence[LessonStatus] | None = None,
        limit: int = 100,
    ) -> list[Lesson]:
        """Lessons newest first, in any of ``scope_keys`` and ``statuses`` when given."""

    @abstractmethod
    async def search_lessons(
        self, query: str = "", scope_key: str | None = None, limit: int = 5
    ) -> list[Lesson]:
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
    async def set_lesson_status(self, lesson_id: str, status: LessonStatus) -> None:
        """Set a lesson's status (the help gate's decision); raises RunNotFound."""

    @abstractmethod
    async def delete_lessons(self, lesson_ids: Sequence[str]) -> int:
        """Delete these lessons (full ids); returns how many existed."""
