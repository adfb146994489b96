"""Lessons and their counters in the ``redis`` store.

A lesson is a hash: its record as added, and ``uses``, ``helped`` and ``status``, which
override the record's copies on every read. Sorted sets index lessons by time, scope
and status; a scope's counters are a hash of their own. Counters move by ``HINCRBY`` in
one script and a status change moves the lesson between status sets in another, so
concurrent runs never lose a count or leave a lesson in two status sets.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from typing import get_args

from pydantic import ValidationError

from corrigo.errors import RunNotFound, StoreError
from corrigo.records import Lesson, LessonStatus, ScopeStats
from corrigo.storage.lessons import LessonStore
from corrigo.storage.redis.connection import RedisConnection, as_text, decode, score_of

_LESSON_STATUSES: tuple[str, ...] = get_args(LessonStatus)


class RedisLessons(RedisConnection, LessonStore):
    """:class:`~corrigo.storage.lessons.LessonStore` on Redis."""

    async def add_lesson(self, lesson: Lesson) -> None:
        score, rid = score_of(lesson.created_at), lesson.id
        fields = {
            "record": lesson.model_dump_json(),
            "uses": str(lesson.uses),
            "helped": str(lesson.helped),
            "status": lesson.status,
        }
        indexes = [
            (self._k("lessons"), score, rid),
            (self._k("lessons", "ids"), 0, rid),
            (self._k("lessons", "scope", lesson.scope_key), score, rid),
            (self._k("lessons", "status", lesson.status), score, rid),
        ]
        with self._errors("Lesson"):
            created = await self._insert(self._k("lesson", rid), fields, indexes)
        if not created:
            raise StoreError(f"lesson {rid} already exists")

    async def _lessons(self, ids: Sequence[str]) -> list[Lesson]:
        with self._errors("Lesson"):
            async with self.client.pipeline(transaction=False) as pipe:
                for rid in ids:
                    pipe.hgetall(self._k("lesson", rid))
                rows = await pipe.execute()
        return [_lesson(row) for row in rows if row]

    async def get_lesson(self, lesson_id: str) -> Lesson:
        full = await self._resolve(self._k("lessons", "ids"), lesson_id, "lesson")
        found = await self._lessons([full])
        if not found:
            raise RunNotFound(f"no lesson {lesson_id!r} in the store")
        return found[0]

    async def list_lessons(
        self,
        scope_keys: Sequence[str] | None = None,
        statuses: Sequence[LessonStatus] | None = None,
        limit: int = 100,
    ) -> list[Lesson]:
        groups = []
        if scope_keys is not None:
            groups.append([self._k("lessons", "scope", s) for s in scope_keys])
        if statuses is not None:
            groups.append([self._k("lessons", "status", s) for s in statuses])
        if any(not group for group in groups):
            return []
        with self._errors("Lesson"):
            ids = await self._newest(groups or [[self._k("lessons")]], limit)
        return await self._lessons(ids)

    async def search_lessons(
        self, query: str = "", scope_key: str | None = None, limit: int = 5
    ) -> list[Lesson]:
        words = query.lower().split()
        index = self._k("lessons", "scope", scope_key) if scope_key is not None else None
        found: list[Lesson] = []
        start, page = 0, 200
        while len(found) < limit:
            with self._errors("Lesson"):
                ids = await self.client.zrevrange(
                    index or self._k("lessons"), start, start + page - 1
                )
            if not ids:
                break
            for lesson in await self._lessons(as_text(ids)):
                text = lesson.text.lower()
                if all(word in text for word in words) and len(found) < limit:
                    found.append(lesson)
            start += page
        return found

    async def record_lesson_outcome(
        self, scope_keys: Sequence[str], used: Sequence[str], passed: bool
    ) -> None:
        scopes = [self._k("scope", s) for s in dict.fromkeys(scope_keys)]
        lessons = [self._k("lesson", rid) for rid in dict.fromkeys(used)]
        with self._errors("Lesson"):
            await self._script("count", scopes + lessons, [len(scopes), int(passed)])

    async def scope_stats(self, scope_keys: Sequence[str]) -> dict[str, ScopeStats]:
        with self._errors("ScopeStats"):
            async with self.client.pipeline(transaction=False) as pipe:
                for key in scope_keys:
                    pipe.hmget(self._k("scope", key), ["runs", "passed"])
                rows = await pipe.execute()
        try:
            return {
                key: ScopeStats(scope_key=key, runs=int(runs or 0), passed=int(passed or 0))
                for key, (runs, passed) in zip(scope_keys, rows, strict=True)
            }
        except (ValueError, ValidationError):
            raise StoreError(
                "stored ScopeStats cannot be decoded: a counter is not a number"
            ) from None

    async def set_lesson_status(self, lesson_id: str, status: LessonStatus) -> None:
        full = await self._resolve(self._k("lessons", "ids"), lesson_id, "lesson")
        keys = [self._k("lesson", full), self._k("lessons"), self._k("lessons", "status", status)]
        keys += [self._k("lessons", "status", s) for s in _LESSON_STATUSES]
        with self._errors("Lesson"):
            done = await self._script("set_status", keys, [full, status])
        if not done:
            raise RunNotFound(f"no lesson {lesson_id!r} in the store")

    async def delete_lessons(self, lesson_ids: Sequence[str]) -> int:
        ids = list(dict.fromkeys(lesson_ids))
        with self._errors("Lesson"):
            async with self.client.pipeline(transaction=False) as pipe:
                for rid in ids:
                    pipe.hget(self._k("lesson", rid), "record")
                raws = await pipe.execute()
            deletes = []  # where each DEL's reply is in the transaction's replies
            async with self.client.pipeline(transaction=True) as pipe:
                for rid, raw in zip(ids, raws, strict=True):
                    deletes.append(len(pipe))
                    pipe.delete(self._k("lesson", rid))
                    sets = [self._k("lessons"), self._k("lessons", "ids")]
                    sets += [self._k("lessons", "status", s) for s in _LESSON_STATUSES]
                    # An undecodable lesson's scope index keeps a dangling id (read as gone).
                    with suppress(StoreError):
                        scope = decode(Lesson, raw).scope_key if raw is not None else None
                        sets += [self._k("lessons", "scope", scope)] if scope is not None else []
                    for key in sets:
                        pipe.zrem(key, rid)
                results = await pipe.execute()
        return sum(int(results[i]) for i in deletes)


def _lesson(fields: dict[bytes, bytes]) -> Lesson:
    """A lesson from its hash: the record as added, with its current counters and status."""
    try:
        added = Lesson.model_validate_json(fields[b"record"])
        return Lesson.model_validate(
            {
                **added.model_dump(),
                "uses": fields[b"uses"].decode(),
                "helped": fields[b"helped"].decode(),
                "status": fields[b"status"].decode(),
            }
        )
    except (KeyError, UnicodeDecodeError):
        raise StoreError(
            "stored Lesson cannot be decoded: a field is missing or not text"
        ) from None
    except ValidationError as exc:
        raise StoreError(f"stored Lesson cannot be decoded: {exc.errors()[0]['msg']}") from None
