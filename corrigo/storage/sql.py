"""The ``sql`` store: SQLAlchemy Core over SQLite (default) or PostgreSQL (psycopg 3).

Records are stored as JSON text produced by pydantic, never pickled; the tables are in
:mod:`corrigo.storage.sql_schema` and ``open()`` brings any database to the newest
schema with Alembic (:mod:`corrigo.storage.migrations`). Calls run in a worker thread
so the event loop is never blocked; each write commits before returning.

A SQLite file is used in WAL mode with ``synchronous=NORMAL``: a commit appends to the
log without waiting for the disk (tens of microseconds instead of the ~20 ms of an
fsync, which serialised every run's steps behind one another), readers such as
``corrigo runs`` never block the writer, and the file stays consistent after any crash.
Only a power loss or OS crash may lose the last commits (a run left ``running`` is run
again by ``--resume``); a killed corrigo process loses nothing it committed.

Several processes may write one SQLite file. Every write transaction starts with
``BEGIN IMMEDIATE`` (it takes the write lock before reading, so a read-then-write never
fails on a stale snapshot) and waits up to 30 s for the lock: "database is locked"
does not reach callers. Counters are ``UPDATE ... SET n = n + 1``, never a read and a
write of JSON, so concurrent runs lose no count on either database.

``postgresql://`` and ``postgres://`` URLs use psycopg 3 (``corrigo[postgres]``); a
``?options=-csearch_path%3D<schema>`` query keeps a store in its own schema.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from corrigo.errors import RunNotFound, StoreError, StoreUnavailable, UsageError
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
    new_id,
    utcnow,
)
from corrigo.storage import migrations
from corrigo.storage.base import TrajectoryStore
from corrigo.storage.sql_schema import (
    benches,
    lesson_scopes,
    reflections,
    run_models,
    runs,
    steps,
)

T = TypeVar("T")

_BUSY_TIMEOUT_MS = 30_000
_CHUNK = 500  # ids per IN (...) list
_LESSON_STATUSES = frozenset(get_args(LessonStatus))
_LESSON_COLUMNS = (reflections.c.uses, reflections.c.helped, reflections.c.status)


def _redact(url: str) -> str:
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable URL>"


def engine_url(url: str) -> sa.URL:
    """The SQLAlchemy URL for a store URL: PostgreSQL without a driver means psycopg 3."""
    parsed = sa.engine.make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


class SQLStore(TrajectoryStore):
    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: sa.Engine | None = None
        self._writer: sa.Engine | None = None  # the same pool, write transactions
        # SQLite takes one writer at a time anyway (and an in-memory database is a
        # single connection): calls from this process queue here, not on the file lock.
        self._serial: threading.Lock | None = None

    # -- plumbing -------------------------------------------------------------------

    async def _call(self, fn: Callable[[sa.Connection], T], *, write: bool = False) -> T:
        engine = self._writer if write else self._engine
        if engine is None:
            raise StoreError("store is not open: use 'async with' or await open()")
        guard: AbstractContextManager[Any] = self._serial or nullcontext()

        def run() -> T:
            with guard, engine.begin() if write else engine.connect() as conn:
                return fn(conn)

        try:
            return await asyncio.to_thread(run)
        except SQLAlchemyError as exc:
            raise self._translate(exc) from None

    def _translate(self, exc: SQLAlchemyError) -> StoreError:
        reason = _reason(exc)
        orig = getattr(exc, "orig", None)
        lost = isinstance(exc, DBAPIError) and exc.connection_invalidated
        postgres = self._engine is not None and self._engine.dialect.name == "postgresql"
        if isinstance(exc, OperationalError) and postgres:
            # No SQLSTATE: the client could not talk to the server; 08/57: the
            # connection failed or the server is shutting down.
            state = getattr(orig, "sqlstate", None)
            lost = lost or state is None or state[:2] in ("08", "57")
        if lost:
            return StoreUnavailable(f"store {_redact(self.url)} is unavailable: {reason}")
        return StoreError(f"store error: {reason}")

    async def open(self) -> None:
        if self._engine is not None:
            return
        try:
            url = engine_url(self.url)
        except Exception:
            raise StoreUnavailable(f"cannot open store: malformed URL {self.url!r}") from None
        backend = url.get_backend_name()
        sqlite_file = backend == "sqlite" and url.database not in (None, "", ":memory:")
        options: dict[str, Any] = {}
        if sqlite_file:
            assert url.database is not None
            try:
                Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreUnavailable(
                    f"cannot open store {_redact(self.url)}: {exc.strerror}"
                ) from None
            options = {"connect_args": {"timeout": _BUSY_TIMEOUT_MS / 1000}}
        elif backend == "sqlite":
            # One shared connection, or each worker thread would see its own empty database.
            options = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
        else:
            options = {"pool_pre_ping": True}
        try:
            engine = sa.create_engine(url, **options)
        except ModuleNotFoundError as exc:
            hint = "install corrigo[postgres]" if backend == "postgresql" else "install it"
            raise StoreUnavailable(
                f"cannot open store {_redact(self.url)}: driver missing ({exc.name}): {hint}"
            ) from None
        except (SQLAlchemyError, ValueError) as exc:
            raise StoreUnavailable(f"cannot open store {_redact(self.url)}: {exc}") from None
        if backend == "sqlite":
            sa.event.listen(engine, "connect", _sqlite_connect if sqlite_file else _sqlite_memory)
            sa.event.listen(engine, "begin", _sqlite_begin)
            self._serial = threading.Lock()
        writer = engine.execution_options(corrigo_write=True)
        try:
            await _migrate(engine, writer, sqlite=backend == "sqlite")
        except StoreUnavailable:
            engine.dispose()
            raise
        except (SQLAlchemyError, OSError) as exc:
            engine.dispose()
            raise StoreUnavailable(
                f"cannot open store {_redact(self.url)}: {_reason(exc)}"
            ) from None
        self._engine, self._writer = engine, writer

    async def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = self._writer = None

    # -- runs and steps -------------------------------------------------------------

    async def create_run(
        self,
        spec: RunSpec,
        run_id: str | None = None,
        owner: str | None = None,
        *,
        status: Literal["running", "queued"] = "running",
    ) -> RunRecord:
        record = RunRecord(id=run_id or new_id("run_"), status=status, spec=spec, owner=owner)
        models = sorted(set(spec.roles.values()))

        def insert(conn: sa.Connection) -> None:
            conn.execute(
                runs.insert().values(
                    id=record.id,
                    batch_id=spec.batch_id,
                    task_id=spec.task.id,
                    strategy=spec.strategy,
                    status=record.status,
                    record=record.model_dump_json(),
                    created_at=record.created_at,
                    owner=owner,
                )
            )
            if models:
                conn.execute(
                    run_models.insert(), [{"run_id": record.id, "model": m} for m in models]
                )

        await self._call(insert, write=True)
        return record

    async def claim_run(self, run_id: str, owner: str, expected: str | None) -> RunRecord:
        def claim(conn: sa.Connection) -> tuple[str, str | None]:
            swapped = conn.execute(
                runs.update()
                .where(
                    runs.c.id == run_id,
                    runs.c.status.in_(("running", "queued")),
                    runs.c.owner.is_not_distinct_from(expected),
                )
                .values(owner=owner, status="running")
            ).rowcount
            row = conn.execute(
                sa.select(runs.c.record, runs.c.owner, runs.c.status).where(runs.c.id == run_id)
            ).first()
            if row is None:
                raise RunNotFound(f"no run {run_id!r} in the store")
            if swapped != 1 and row.status not in ("running", "queued"):
                raise StoreError(f"run {run_id} is {row.status}: it cannot be claimed")
            if swapped != 1:
                raise StoreError(
                    f"run {run_id} is now owned by {row.owner or 'nobody'}, not "
                    f"{expected or 'nobody'}: another process claimed it first"
                )
            record = _decode(RunRecord, row.record)
            if record.status == "queued":  # taken from the queue: the record says so too
                text = record.model_copy(update={"status": "running"}).model_dump_json()
                conn.execute(runs.update().where(runs.c.id == run_id).values(record=text))
                return text, row.owner
            return row.record, row.owner

        return _run_record(*await self._call(claim, write=True))

    async def append_step(self, step: Step) -> None:
        payload = step.model_dump_json()

        row = {
            "run_id": step.run_id,
            "seq": step.seq,
            "role": step.role,
            "kind": step.kind,
            "record": payload,
        }

        def insert(conn: sa.Connection) -> None:
            try:
                if conn.execute(_step_insert(conn.dialect.name), row).rowcount == 1:
                    return
            except IntegrityError:  # the foreign key: only PostgreSQL enforces it
                raise StoreError(f"run {step.run_id} does not exist") from None
            stored = conn.execute(
                sa.select(steps.c.record).where(
                    steps.c.run_id == step.run_id, steps.c.seq == step.seq
                )
            ).scalar_one()
            old = _decode(Step, stored)
            if old.model_dump(exclude={"created_at"}) != step.model_dump(exclude={"created_at"}):
                raise StoreError(
                    f"step {step.seq} of run {step.run_id} is already stored with other content"
                )

        await self._call(insert, write=True)

    async def finish_run(self, run_id: str, outcome: Outcome) -> None:
        finished_at = utcnow()

        def update(conn: sa.Connection) -> None:
            row = _only(conn, runs, run_id, "run", lock=True)
            current = _decode(RunRecord, row.record)
            record = current.model_copy(
                update={"status": "finished", "outcome": outcome, "finished_at": finished_at}
            )
            conn.execute(
                runs.update()
                .where(runs.c.id == current.id)
                .values(status="finished", record=record.model_dump_json())
            )

        await self._call(update, write=True)

    async def get_run(self, run_id: str) -> RunRecord:
        def select(conn: sa.Connection) -> tuple[str, str | None]:
            row = _only(conn, runs, run_id, "run")
            return row.record, row.owner

        return _run_record(*await self._call(select))

    async def get_steps(self, run_id: str) -> list[Step]:
        def select(conn: sa.Connection) -> list[str]:
            run = _only(conn, runs, run_id, "run")
            query = sa.select(steps.c.record).where(steps.c.run_id == run.id)
            return list(conn.execute(query.order_by(steps.c.seq)).scalars())

        return [_decode(Step, text) for text in await self._call(select)]

    async def list_runs(
        self, limit: int = 50, batch_id: str | None = None, query: RunQuery | None = None
    ) -> list[RunRecord]:
        q = query or RunQuery(limit=limit, batch_id=batch_id)
        stmt = sa.select(runs.c.record, runs.c.owner)
        if q.batch_id:
            stmt = stmt.where(runs.c.batch_id == q.batch_id)
        if q.status is not None:
            stmt = stmt.where(runs.c.status == q.status)
        if q.task_id is not None:
            if q.task_id.endswith("*"):
                stmt = stmt.where(runs.c.task_id.like(_like_prefix(q.task_id[:-1]), escape="\\"))
            else:
                stmt = stmt.where(runs.c.task_id == q.task_id)
        if q.strategy is not None:
            stmt = stmt.where(runs.c.strategy == q.strategy)
        if q.model is not None:
            used = sa.select(run_models.c.run_id).where(
                run_models.c.run_id == runs.c.id, run_models.c.model == q.model
            )
            stmt = stmt.where(used.exists())
        if q.since is not None:
            stmt = stmt.where(runs.c.created_at >= _utc(q.since))
        if q.until is not None:
            stmt = stmt.where(runs.c.created_at < _utc(q.until))
        # Any limit fits a 64-bit LIMIT: "everything" may be asked for with a huge one.
        most = min(q.limit, 2**62)
        stmt = stmt.order_by(runs.c.created_at.desc(), runs.c.id.desc()).limit(most)

        def select(conn: sa.Connection) -> list[Any]:
            return list(conn.execute(stmt).all())

        return [_run_record(row.record, row.owner) for row in await self._call(select)]

    async def delete_run(self, run_id: str) -> None:
        def delete(conn: sa.Connection) -> None:
            _delete_runs(conn, [run_id])

        await self._call(delete, write=True)

    async def prune_runs(
        self, *, older_than: datetime | None = None, keep: int | None = None
    ) -> int:
        if keep is not None and keep < 0:
            raise UsageError(f"keep must be 0 or more, not {keep}")
        finished = runs.c.status == "finished"
        doomed: list[sa.ColumnElement[bool]] = []
        if older_than is not None:
            doomed.append(runs.c.created_at < _utc(older_than))
        if keep is not None:
            newest = (
                sa.select(runs.c.id)
                .where(finished)
                .order_by(runs.c.created_at.desc(), runs.c.id.desc())
                .limit(keep)
            )
            doomed.append(runs.c.id.not_in(newest.scalar_subquery()))
        if not doomed:
            return 0

        def prune(conn: sa.Connection) -> int:
            ids = list(
                conn.execute(
                    _locked(conn, sa.select(runs.c.id).where(finished, sa.or_(*doomed)))
                ).scalars()
            )
            _delete_runs(conn, ids)
            return len(ids)

        return await self._call(prune, write=True)

    # -- lessons --------------------------------------------------------------------

    async def add_reflection(self, reflection: Reflection) -> None:
        def insert(conn: sa.Connection) -> None:
            conn.execute(
                reflections.insert().values(
                    id=reflection.id,
                    scope_key=reflection.scope_key,
                    text=reflection.text.replace("\x00", ""),
                    record=reflection.model_dump_json(),
                    created_at=reflection.created_at,
                    scope=reflection.scope,
                    status=reflection.status,
                    uses=reflection.uses,
                    helped=reflection.helped,
                )
            )

        await self._call(insert, write=True)

    async def get_reflection(self, reflection_id: str) -> Reflection:
        def select(conn: sa.Connection) -> Any:
            return _only(conn, reflections, reflection_id, "lesson", *_LESSON_COLUMNS)

        return _lesson(await self._call(select))

    async def list_reflections(
        self,
        scope_keys: Sequence[str] | None = None,
        statuses: Sequence[LessonStatus] | None = None,
        limit: int = 100,
    ) -> list[Reflection]:
        stmt = sa.select(reflections.c.record, *_LESSON_COLUMNS)
        if scope_keys is not None:
            stmt = stmt.where(reflections.c.scope_key.in_(list(scope_keys)))
        if statuses is not None:
            stmt = stmt.where(reflections.c.status.in_(list(statuses)))
        return await self._lessons(stmt, limit)

    async def search_reflections(
        self, query: str = "", scope_key: str | None = None, limit: int = 5
    ) -> list[Reflection]:
        stmt = sa.select(reflections.c.record, *_LESSON_COLUMNS)
        for word in query.lower().split():
            stmt = stmt.where(sa.func.lower(reflections.c.text).contains(word, autoescape=True))
        if scope_key is not None:
            stmt = stmt.where(reflections.c.scope_key == scope_key)
        return await self._lessons(stmt, limit)

    async def _lessons(self, stmt: sa.Select[Any], limit: int) -> list[Reflection]:
        stmt = stmt.order_by(reflections.c.created_at.desc(), reflections.c.id.desc())

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
            # Sorted keys and ids: concurrent transactions lock rows in one order.
            for key in keys:
                stmt = _insert(conn, lesson_scopes).values(scope_key=key, runs=1, passed=won)
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["scope_key"],
                        set_={
                            "runs": lesson_scopes.c.runs + 1,
                            "passed": lesson_scopes.c.passed + won,
                        },
                    )
                )
            for reflection_id in ids:
                conn.execute(
                    reflections.update()
                    .where(reflections.c.id == reflection_id)
                    .values(uses=reflections.c.uses + 1, helped=reflections.c.helped + won)
                )

        await self._call(count, write=True)

    async def scope_stats(self, scope_keys: Sequence[str]) -> dict[str, ScopeStats]:
        keys = list(dict.fromkeys(scope_keys))

        def select(conn: sa.Connection) -> dict[str, tuple[int, int]]:
            query = sa.select(lesson_scopes).where(lesson_scopes.c.scope_key.in_(keys))
            return {row.scope_key: (row.runs, row.passed) for row in conn.execute(query)}

        counted = await self._call(select) if keys else {}
        return {
            key: ScopeStats(
                scope_key=key, runs=counted.get(key, (0, 0))[0], passed=counted.get(key, (0, 0))[1]
            )
            for key in keys
        }

    async def set_reflection_status(self, reflection_id: str, status: LessonStatus) -> None:
        if status not in _LESSON_STATUSES:
            raise UsageError(f"unknown lesson status {status!r}")

        def update(conn: sa.Connection) -> int:
            stmt = reflections.update().where(reflections.c.id == reflection_id)
            return conn.execute(stmt.values(status=status)).rowcount

        if await self._call(update, write=True) == 0:
            raise RunNotFound(f"no lesson {reflection_id!r} in the store")

    async def delete_reflections(self, reflection_ids: Sequence[str]) -> int:
        ids = sorted(set(reflection_ids))

        def delete(conn: sa.Connection) -> int:
            return sum(
                conn.execute(reflections.delete().where(reflections.c.id.in_(chunk))).rowcount
                for chunk in _chunks(ids)
            )

        return await self._call(delete, write=True) if ids else 0

    # -- benches --------------------------------------------------------------------

    async def save_bench(self, spec: BenchSpec) -> None:
        payload = spec.model_dump_json()

        def insert(conn: sa.Connection) -> None:
            stmt = (
                _insert(conn, benches)
                .values(id=spec.id, record=payload, created_at=spec.created_at)
                .on_conflict_do_nothing(index_elements=["id"])
            )
            if conn.execute(stmt).rowcount == 1:
                return
            stored = conn.execute(
                sa.select(benches.c.record).where(benches.c.id == spec.id)
            ).scalar_one()
            if _decode(BenchSpec, stored) != spec:
                raise StoreError(f"bench {spec.id} is already stored with another spec")

        await self._call(insert, write=True)

    async def get_bench(self, bench_id: str) -> BenchSpec:
        def select(conn: sa.Connection) -> str:
            if bench_id != "last":
                return str(_only(conn, benches, bench_id, "bench").record)
            newest = sa.select(benches.c.record).order_by(
                benches.c.created_at.desc(), benches.c.id.desc()
            )
            text = conn.execute(newest.limit(1)).scalar()
            if text is None:
                raise RunNotFound("no benches in the store yet")
            return str(text)

        return _decode(BenchSpec, await self._call(select))

    async def list_benches(self, limit: int = 50) -> list[BenchSpec]:
        def select(conn: sa.Connection) -> list[str]:
            query = sa.select(benches.c.record).order_by(
                benches.c.created_at.desc(), benches.c.id.desc()
            )
            return list(conn.execute(query.limit(limit)).scalars())

        return [_decode(BenchSpec, text) for text in await self._call(select)]


# -- connections and migrations -----------------------------------------------------


async def _migrate(engine: sa.Engine, writer: sa.Engine, *, sqlite: bool) -> None:
    """Bring the database to head. On SQLite, another process opening the same fresh
    file may hold the lock in a way the busy timeout does not wait out (switching to
    WAL, or a read snapshot that became stale): try again for up to the busy timeout."""
    deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
    delay = 0.05
    while True:
        try:
            await asyncio.to_thread(migrations.bring_to_head, engine, writer)
            return
        except OperationalError as exc:
            locked = sqlite and "locked" in str(exc.orig or exc).lower()
            if not locked or time.monotonic() + delay > deadline:
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    """Each new SQLite file connection: transactions begun by us (``_sqlite_begin``), a
    generous busy timeout, write-ahead log without fsync per commit (module docstring)."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_memory(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None


def _sqlite_begin(conn: sa.Connection) -> None:
    """Writes take the lock up front (BEGIN IMMEDIATE); reads use a plain snapshot."""
    write = conn.get_execution_options().get("corrigo_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


# -- helpers ------------------------------------------------------------------------


@functools.cache
def _step_insert(dialect_name: str) -> Any:
    """The step INSERT, built once per database kind (the hot path: one per step)."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    return dialect.insert(steps).on_conflict_do_nothing(index_elements=["run_id", "seq"])


def _insert(conn: sa.Connection, table: sa.Table) -> Any:
    """An INSERT that can say ``ON CONFLICT`` on this database."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def _locked(conn: sa.Connection, stmt: sa.Select[Any]) -> sa.Select[Any]:
    """``stmt`` locking its rows to the end of the transaction (SQLite: the write lock
    taken by BEGIN IMMEDIATE already does)."""
    return stmt.with_for_update() if conn.dialect.name == "postgresql" else stmt


def _only(
    conn: sa.Connection,
    table: sa.Table,
    key: str,
    what: str,
    *columns: sa.ColumnElement[Any],
    lock: bool = False,
) -> Any:
    """The one row (``id``, ``record``, columns) whose id is ``key`` or, for 6+
    characters, starts with it; RunNotFound when there is none or several."""
    extra = [table.c.owner] if table is runs else []
    query = sa.select(table.c.id, table.c.record, *extra, *columns)
    exact = query.where(table.c.id == key)
    found = conn.execute(_locked(conn, exact) if lock else exact).all()
    if not found and len(key) >= 6:
        prefixed = query.where(table.c.id.like(_like_prefix(key), escape="\\")).limit(2)
        found = conn.execute(_locked(conn, prefixed) if lock else prefixed).all()
    if not found:
        raise RunNotFound(f"no {what} {key!r} in the store")
    if len(found) > 1:
        raise RunNotFound(f"{what} id prefix {key!r} is ambiguous")
    return found[0]


def _delete_runs(conn: sa.Connection, ids: list[str]) -> None:
    for chunk in _chunks(ids):
        conn.execute(steps.delete().where(steps.c.run_id.in_(chunk)))
        conn.execute(run_models.delete().where(run_models.c.run_id.in_(chunk)))
        conn.execute(runs.delete().where(runs.c.id.in_(chunk)))


def _chunks(ids: list[str]) -> list[list[str]]:
    return [ids[i : i + _CHUNK] for i in range(0, len(ids), _CHUNK)]


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _utc(moment: datetime) -> datetime:
    """Stored times are UTC; a naive ``moment`` is taken to be UTC too."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _reason(exc: BaseException) -> str:
    """One line saying what went wrong, from the driver's error when there is one."""
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    text = lines[0].strip() if lines else ""
    return f"{type(orig).__name__}: {text}" if text else type(orig).__name__


def _run_record(text: str, owner: str | None) -> RunRecord:
    """A stored run with its current owner (the column, which claims update)."""
    record = _decode(RunRecord, text)
    return record if record.owner == owner else record.model_copy(update={"owner": owner})


def _lesson(row: Any) -> Reflection:
    """A stored lesson with its current counters and status (the columns)."""
    lesson = _decode(Reflection, row.record)
    if row.status not in _LESSON_STATUSES:
        raise StoreError(f"stored Reflection cannot be decoded: unknown status {row.status!r}")
    current = {"uses": int(row.uses), "helped": int(row.helped), "status": row.status}
    if all(getattr(lesson, name) == value for name, value in current.items()):
        return lesson
    return lesson.model_copy(update=current)


def _decode(cls: type[T], text: str) -> T:
    try:
        return cls.model_validate_json(text)  # type: ignore[attr-defined]
    except ValidationError as exc:
        raise StoreError(
            f"stored {cls.__name__} cannot be decoded: {exc.errors()[0]['msg']}"
        ) from None
