"""The ``sql`` store: SQLAlchemy Core over SQLite (default) or PostgreSQL.

Records are stored as JSON text produced by pydantic, never pickled. Calls run in a
worker thread so the event loop is never blocked; each write commits before returning.

A SQLite file is used in WAL mode with ``synchronous=NORMAL``: a commit appends to the
log without waiting for the disk (tens of microseconds instead of the ~20 ms of an
fsync, which serialised every run's steps behind one another), readers such as
``corrigo runs`` never block the writer, and the file stays consistent after any crash.
Only a power loss or OS crash may lose the last commits (a run left ``running`` is run
again by ``--resume``); a killed corrigo process loses nothing it committed.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from corrigo.errors import RunNotFound, StoreError, StoreUnavailable
from corrigo.records import (
    BenchSpec,
    Outcome,
    Reflection,
    RunRecord,
    RunSpec,
    Step,
    new_id,
    utcnow,
)
from corrigo.storage.base import TrajectoryStore

T = TypeVar("T")

metadata = sa.MetaData()
runs = sa.Table(
    "corrigo_runs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    # Wide enough for a bench cell's batch: "<bench id>/<strategy>/<model spec>".
    sa.Column("batch_id", sa.String(512), index=True),
    sa.Column("task_id", sa.String(256), nullable=False),
    sa.Column("strategy", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("record", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
)
steps = sa.Table(
    "corrigo_steps",
    metadata,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("corrigo_runs.id"), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("record", sa.Text, nullable=False),
)
reflections = sa.Table(
    "corrigo_reflections",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("scope_key", sa.String(256), index=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("record", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

benches = sa.Table(
    "corrigo_benches",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("record", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
)


def _redact(url: str) -> str:
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable URL>"


class SQLStore(TrajectoryStore):
    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: sa.Engine | None = None
        self._lock = threading.Lock()

    async def _call(self, fn: Callable[[sa.Engine], T]) -> T:
        engine = self._engine
        if engine is None:
            raise StoreError("store is not open: use 'async with' or await open()")

        def locked() -> T:
            with self._lock:
                return fn(engine)

        try:
            return await asyncio.to_thread(locked)
        except SQLAlchemyError as exc:
            raise StoreError(
                f"store error: {type(exc).__name__}: {exc.args[0] if exc.args else exc}"
            ) from None

    async def open(self) -> None:
        if self._engine is not None:
            return
        try:
            url = sa.engine.make_url(self.url)
        except Exception:
            raise StoreUnavailable(f"cannot open store: malformed URL {self.url!r}") from None
        sqlite = url.get_backend_name() == "sqlite"
        sqlite_file = sqlite and url.database not in (None, "", ":memory:")
        if sqlite_file:
            assert url.database is not None
            folder = Path(url.database).expanduser().parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreUnavailable(
                    f"cannot open store {_redact(self.url)}: {exc.strerror}"
                ) from None
        options: dict[str, Any] = {}
        if sqlite and not sqlite_file:
            # One shared connection, or each worker thread would see its own empty database.
            options = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
        try:
            engine = sa.create_engine(url, **options)
            if sqlite_file:
                sa.event.listen(engine, "connect", _wal_without_fsync)
            with engine.begin() as conn:
                metadata.create_all(conn)
        except ModuleNotFoundError as exc:
            raise StoreUnavailable(
                f"cannot open store {_redact(self.url)}: driver missing ({exc.name})"
            ) from None
        except (SQLAlchemyError, OSError) as exc:
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise StoreUnavailable(f"cannot open store {_redact(self.url)}: {reason}") from None
        self._engine = engine

    async def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    async def create_run(self, spec: RunSpec, run_id: str | None = None) -> RunRecord:
        record = RunRecord(id=run_id or new_id("run_"), status="running", spec=spec)

        def insert(engine: sa.Engine) -> None:
            with engine.begin() as conn:
                conn.execute(
                    runs.insert().values(
                        id=record.id,
                        batch_id=spec.batch_id,
                        task_id=spec.task.id,
                        strategy=spec.strategy,
                        status=record.status,
                        record=record.model_dump_json(),
                        created_at=record.created_at,
                    )
                )

        await self._call(insert)
        return record

    async def append_step(self, step: Step) -> None:
        payload = step.model_dump_json()

        def insert(engine: sa.Engine) -> None:
            try:
                with engine.begin() as conn:
                    conn.execute(
                        steps.insert().values(
                            run_id=step.run_id,
                            seq=step.seq,
                            role=step.role,
                            kind=step.kind,
                            record=payload,
                        )
                    )
            except IntegrityError:
                with engine.connect() as conn:
                    row = conn.execute(
                        sa.select(steps.c.record).where(
                            steps.c.run_id == step.run_id, steps.c.seq == step.seq
                        )
                    ).first()
                if row is None:
                    raise StoreError(f"run {step.run_id} does not exist") from None
                old = Step.model_validate_json(row[0])
                if old.model_dump(exclude={"created_at"}) != step.model_dump(
                    exclude={"created_at"}
                ):
                    raise StoreError(
                        f"step {step.seq} of run {step.run_id} is already stored with other content"
                    ) from None

        await self._call(insert)

    async def finish_run(self, run_id: str, outcome: Outcome) -> None:
        finished_at = utcnow()

        def update(engine: sa.Engine) -> list[Any]:
            # One trip to the worker thread and one transaction: read, then mark finished.
            with engine.begin() as conn:
                rows = _by_id_or_prefix(conn, runs, run_id)
                if len(rows) != 1:
                    return rows
                current = _decode(RunRecord, rows[0][0])
                record = current.model_copy(
                    update={"status": "finished", "outcome": outcome, "finished_at": finished_at}
                )
                conn.execute(
                    runs.update()
                    .where(runs.c.id == current.id)
                    .values(status="finished", record=record.model_dump_json())
                )
                return rows

        _only_run(await self._call(update), run_id)

    async def get_run(self, run_id: str) -> RunRecord:
        def select(engine: sa.Engine) -> list[Any]:
            with engine.connect() as conn:
                return _by_id_or_prefix(conn, runs, run_id)

        return _decode(RunRecord, _only_run(await self._call(select), run_id))

    async def get_steps(self, run_id: str) -> list[Step]:
        run = await self.get_run(run_id)

        def select(engine: sa.Engine) -> list[Any]:
            with engine.connect() as conn:
                return list(
                    conn.execute(
                        sa.select(steps.c.record)
                        .where(steps.c.run_id == run.id)
                        .order_by(steps.c.seq)
                    ).all()
                )

        return [_decode(Step, row[0]) for row in await self._call(select)]

    async def list_runs(self, limit: int = 50, batch_id: str | None = None) -> list[RunRecord]:
        def select(engine: sa.Engine) -> list[Any]:
            query = sa.select(runs.c.record).order_by(runs.c.created_at.desc(), runs.c.id.desc())
            if batch_id:
                query = query.where(runs.c.batch_id == batch_id)
            with engine.connect() as conn:
                return list(conn.execute(query.limit(limit)).all())

        return [_decode(RunRecord, row[0]) for row in await self._call(select)]

    async def delete_run(self, run_id: str) -> None:
        def delete(engine: sa.Engine) -> None:
            with engine.begin() as conn:
                conn.execute(steps.delete().where(steps.c.run_id == run_id))
                conn.execute(runs.delete().where(runs.c.id == run_id))

        await self._call(delete)

    async def add_reflection(self, reflection: Reflection) -> None:
        def insert(engine: sa.Engine) -> None:
            with engine.begin() as conn:
                conn.execute(
                    reflections.insert().values(
                        id=reflection.id,
                        scope_key=reflection.scope_key,
                        text=reflection.text,
                        record=reflection.model_dump_json(),
                        created_at=reflection.created_at,
                    )
                )

        await self._call(insert)

    async def search_reflections(
        self, query: str = "", scope_key: str | None = None, limit: int = 5
    ) -> list[Reflection]:
        def select(engine: sa.Engine) -> list[Any]:
            stmt = sa.select(reflections.c.record)
            for word in query.lower().split():
                stmt = stmt.where(sa.func.lower(reflections.c.text).contains(word, autoescape=True))
            if scope_key is not None:
                stmt = stmt.where(reflections.c.scope_key == scope_key)
            stmt = stmt.order_by(reflections.c.created_at.desc()).limit(limit)
            with engine.connect() as conn:
                return list(conn.execute(stmt).all())

        return [_decode(Reflection, row[0]) for row in await self._call(select)]

    async def save_bench(self, spec: BenchSpec) -> None:
        payload = spec.model_dump_json()

        def insert(engine: sa.Engine) -> None:
            try:
                with engine.begin() as conn:
                    conn.execute(
                        benches.insert().values(
                            id=spec.id, record=payload, created_at=spec.created_at
                        )
                    )
            except IntegrityError:
                with engine.connect() as conn:
                    row = conn.execute(
                        sa.select(benches.c.record).where(benches.c.id == spec.id)
                    ).first()
                if row is None or _decode(BenchSpec, row[0]) != spec:
                    raise StoreError(
                        f"bench {spec.id} is already stored with another spec"
                    ) from None

        await self._call(insert)

    async def get_bench(self, bench_id: str) -> BenchSpec:
        def select(engine: sa.Engine) -> list[Any]:
            newest = sa.select(benches.c.record).order_by(
                benches.c.created_at.desc(), benches.c.id.desc()
            )
            with engine.connect() as conn:
                if bench_id != "last":
                    return _by_id_or_prefix(conn, benches, bench_id)
                return list(conn.execute(newest.limit(1)).all())

        rows = await self._call(select)
        if not rows:
            raise RunNotFound(
                "no benches in the store yet"
                if bench_id == "last"
                else f"no bench {bench_id!r} in the store"
            )
        if len(rows) > 1:
            raise RunNotFound(f"bench id prefix {bench_id!r} is ambiguous")
        return _decode(BenchSpec, rows[0][0])

    async def list_benches(self, limit: int = 50) -> list[BenchSpec]:
        def select(engine: sa.Engine) -> list[Any]:
            query = sa.select(benches.c.record).order_by(
                benches.c.created_at.desc(), benches.c.id.desc()
            )
            with engine.connect() as conn:
                return list(conn.execute(query.limit(limit)).all())

        return [_decode(BenchSpec, row[0]) for row in await self._call(select)]


def _wal_without_fsync(dbapi_connection: Any, _record: Any) -> None:
    """Each new SQLite connection: write-ahead log, no fsync per commit (module docstring)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _by_id_or_prefix(conn: sa.Connection, table: sa.Table, key: str) -> list[Any]:
    """Records whose id is ``key``, else (for 6+ characters) up to two it prefixes."""
    exact = conn.execute(sa.select(table.c.record).where(table.c.id == key)).all()
    if exact:
        return list(exact)
    if len(key) < 6:
        return []
    escaped = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    query = sa.select(table.c.record).where(table.c.id.like(escaped + "%", escape="\\"))
    return list(conn.execute(query.limit(2)).all())


def _only_run(rows: list[Any], run_id: str) -> str:
    """The one stored run record ``rows`` should hold; RunNotFound otherwise."""
    if not rows:
        raise RunNotFound(f"no run {run_id!r} in the store")
    if len(rows) > 1:
        raise RunNotFound(f"run id prefix {run_id!r} is ambiguous")
    return str(rows[0][0])


def _decode(cls: type[T], text: str) -> T:
    try:
        return cls.model_validate_json(text)  # type: ignore[attr-defined]
    except ValidationError as exc:
        raise StoreError(
            f"stored {cls.__name__} cannot be decoded: {exc.errors()[0]['msg']}"
        ) from None
