"""Lessons and their counters in the ``sql`` store.

A lesson is a row of ``corrigo_reflections`` (the table's name from before lessons had
one name): its record as added, its text again for search, and the columns updated in
place, ``uses``, ``helped`` and ``status``, which override the record's copies on every
read. Scope counters are rows of ``corrigo_lesson_scopes``. Every counter changes by
``UPDATE ... SET n = n + 1`` (an upsert for scopes), so concurrent runs lose no count.
SQLAlchemy and the tables are imported where they are used (see :mod:`.connection`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, get_args

from corrigo.errors import RunNotFound, StoreError, UsageError
from corrigo.records import Lesson, LessonStatus, ScopeStats
from corrigo.storage.lessons import LessonStore
from corrigo.storage.sql.connection import SQLConnection
from corrigo.storage.sql.rows import chunks, decode, dialect_insert, only_row

if TYPE_CHECKING:
    import sqlalchemy as sa

_LESSON_STATUSES = frozenset(get_args(LessonStatus))


class SQLLessons(SQLConnection, LessonStore):
    """:class:`~corrigo.storage.lessons.LessonStore` on SQLite or PostgreSQL."""

    async def add_lesson(self, lesson: Lesson) -> None:
        def insert(conn: sa.Connection) -> None:
            from corrigo.storage.sql.schema import lessons

            conn.execute(
                lessons.insert().values(
                    id=lesson.id,
                    scope_key=lesson.scope_key,
                    text=lesson.text.replace("\x00", ""),
                    record=lesson.model_dump_json(),
                    created_at=lesson.created_at,
                    scope=lesson.scope,
                    status=lesson.status,
                    uses=lesson.uses,
                    helped=lesson.helped,
                )
            )

        await self._call(insert, write=True)

    async def get_lesson(self, lesson_id: str) -> Lesson:
        def select(conn: sa.Connection) -> Any:
            from corrigo.storage.sql.schema import lessons

            return only_row(conn, lessons, lesson_id, "lesson", *_counters())

        return _lesson(await self._call(select))

    async def list_lessons(
        self,
        scope_keys: Sequence[str] | None = None,
        statuses: Sequence[LessonStatus] | None = None,
        limit: int = 100,
    ) -> list[Lesson]:
        import sqlalchemy as sa

        from corrigo.storage.sql.schema import lessons

        stmt = sa.select(lessons.c.record, *_counters())
        if scope_keys is not None:
            stmt = stmt.where(lessons.c.scope_key.in_(list(scope_keys)))
        if statuses is not None:
            stmt = stmt.where(lessons.c.status.in_(list(statuses)))
        return await self._lessons(stmt, limit)

    async def search_lessons(
        self, query: str = "", scope_key: str | None = None, limit: int = 5
    ) -> list[Lesson]:
        import sqlalchemy as sa

        from corrigo.storage.sql.schema import lessons

        stmt = sa.select(lessons.c.record, *_counters())
        for word in query.lower().split():
            stmt = stmt.where(sa.func.lower(lessons.c.text).contains(word, autoescape=True))
        if scope_key is not None:
            stmt = stmt.where(lessons.c.scope_key == scope_key)
        return await self._lessons(stmt, limit)

    async def _lessons(self, stmt: sa.Select[Any], limit: int) -> list[Lesson]:
        from corrigo.storage.sql.schema import lessons

        stmt = stmt.order_by(lessons.c.created_at.desc(), lessons.c.id.desc())

        def select(conn: sa.Connection) -> list[Any]:
            return list(conn.execute(stmt.limit(limit)).all())

        return [_lesson(row) for row in await self._call(select)]

    async def record_lesson_outcome(
        self, scope_keys: Sequence[str], used: Sequence[str], passed: bool
    ) -> None:
        keys, ids, won = sorted(set(scope_keys)), sorted(set(used)), int(passed)
        if not keys and not ids:
            return

        def count(conn: sa.Connection) -> None:
            from corrigo.storage.sql.schema import lesson_scopes, lessons

            # Sorted keys and ids: concurrent transactions lock rows in one order.
            for key in keys:
                stmt = dialect_insert(conn, lesson_scopes).values(scope_key=key, runs=1, passed=won)
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["scope_key"],
                        set_={
                            "runs": lesson_scopes.c.runs + 1,
                            "passed": lesson_scopes.c.passed + won,
                        },
                    )
                )
            for lesson_id in ids:
                conn.execute(
                    lessons.update()
                    .where(lessons.c.id == lesson_id)
                    .values(uses=lessons.c.uses + 1, helped=lessons.c.helped + won)
                )

        await self._call(count, write=True)

    async def scope_stats(self, scope_keys: Sequence[str]) -> dict[str, ScopeStats]:
        keys = list(dict.fromkeys(scope_keys))

        def select(conn: sa.Connection) -> dict[str, tuple[int, int]]:
            import sqlalchemy as sa

            from corrigo.storage.sql.schema import lesson_scopes

            query = sa.select(lesson_scopes).where(lesson_scopes.c.scope_key.in_(keys))
            return {row.scope_key: (row.runs, row.passed) for row in conn.execute(query)}

        counted = await self._call(select) if keys else {}
        return {
            key: ScopeStats(
                scope_key=key, runs=counted.get(key, (0, 0))[0], passed=counted.get(key, (0, 0))[1]
            )
            for key in keys
        }

    async def set_lesson_status(self, lesson_id: str, status: LessonStatus) -> None:
        if status not in _LESSON_STATUSES:
            raise UsageError(f"unknown lesson status {status!r}")

        def update(conn: sa.Connection) -> int:
            from corrigo.storage.sql.schema import lessons

            stmt = lessons.update().where(lessons.c.id == lesson_id)
            return conn.execute(stmt.values(status=status)).rowcount

        if await self._call(update, write=True) == 0:
            raise RunNotFound(f"no lesson {lesson_id!r} in the store")

    async def delete_lessons(self, lesson_ids: Sequence[str]) -> int:
        ids = sorted(set(lesson_ids))

        def delete(conn: sa.Connection) -> int:
            from corrigo.storage.sql.schema import lessons

            return sum(
                conn.execute(lessons.delete().where(lessons.c.id.in_(chunk))).rowcount
                for chunk in chunks(ids)
            )

        return await self._call(delete, write=True) if ids else 0


def _counters() -> tuple[sa.Column[Any], ...]:
    """The columns updated in place, which override the record's copies."""
    from corrigo.storage.sql.schema import lessons

    return (lessons.c.uses, lessons.c.helped, lessons.c.status)


def _lesson(row: Any) -> Lesson:
    """A stored lesson with its current counters and status (the columns)."""
    lesson = decode(Lesson, row.record)
    if row.status not in _LESSON_STATUSES:
        raise StoreError(f"stored Lesson cannot be decoded: unknown status {row.status!r}")
    current = {"uses": int(row.uses), "helped": int(row.helped), "status": row.status}
    if all(getattr(lesson, name) == value for name, value in current.items()):
        return lesson
    return lesson.model_copy(update=current)
