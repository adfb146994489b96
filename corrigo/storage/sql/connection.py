"""The ``sql`` store's engines: opening (and migrating), transactions, and errors.

Every call of the store is a function of one connection run in a worker thread by
``SQLConnection._call``: reads on a plain connection, writes in a transaction that
commits before the call returns. SQLAlchemy's errors become corrigo's here and nowhere
else: a lost connection or a server going away is StoreUnavailable, anything else a
StoreError with the driver's one-line reason.

A SQLite file already at the newest revision is opened without SQLAlchemy: listings read
it with ``sqlite3`` (:mod:`.direct`) and the engine starts with the first call that
needs it, so ``corrigo runs`` loads no SQLAlchemy. SQLAlchemy and Alembic are imported
by the functions that use them.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from corrigo.errors import StoreError, StoreUnavailable
from corrigo.storage.sql import direct
from corrigo.storage.sql.direct import BUSY_TIMEOUT_MS

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy.exc import SQLAlchemyError

T = TypeVar("T")
#: A query for a dialect: its SQL text and parameters (see :func:`.direct.listing`).
Query = Callable[[str], tuple[str, dict[str, Any]]]


def engine_url(url: str) -> sa.URL:
    """The SQLAlchemy URL for a store URL: PostgreSQL without a driver means psycopg 3."""
    import sqlalchemy as sa

    parsed = sa.engine.make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


class SQLConnection:
    """The engines of one ``sql`` store URL, made by ``open()`` and dropped by ``close()``."""

    def __init__(self, url: str) -> None:
        self.url = url
        # A SQLite file's path while the store is open: listings read it with sqlite3.
        self._file: str | None = None
        self._engine: sa.Engine | None = None
        self._writer: sa.Engine | None = None  # the same pool, write transactions
        # SQLite takes one writer at a time anyway (and an in-memory database is a
        # single connection): calls from this process queue here, not on the file lock.
        self._serial: threading.Lock | None = None

    async def _call(self, fn: Callable[[sa.Connection], T], *, write: bool = False) -> T:
        """``fn(connection)`` in a worker thread; with ``write``, in a transaction
        committed before this returns. SQLAlchemy errors come out as StoreError."""
        from sqlalchemy.exc import SQLAlchemyError

        if self._engine is None and self._file is not None:
            await self._start()
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

    async def _select(self, query: Query) -> list[tuple[Any, ...]]:
        """The rows of a read written as SQL text: on a SQLite file through sqlite3,
        elsewhere through the engine; errors come out as StoreError either way."""
        path = self._file
        if path is None:

            def run(conn: sa.Connection) -> list[tuple[Any, ...]]:
                import sqlalchemy as sa

                sql, params = query(conn.dialect.name)
                return [tuple(row) for row in conn.execute(sa.text(sql), params)]

            return await self._call(run)
        sql, params = query("sqlite")
        try:
            return await asyncio.to_thread(direct.select, path, sql, params)
        except sqlite3.Error as exc:
            raise StoreError(f"store error: {_reason(exc)}") from None

    def _translate(self, exc: SQLAlchemyError) -> StoreError:
        from sqlalchemy.exc import DBAPIError, OperationalError

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
        if self._engine is not None or self._file is not None:
            return
        path = direct.sqlite_file(self.url)
        if path is not None and await asyncio.to_thread(direct.at_head, path):
            self._file = path  # the engine waits for the first call that needs it
            return
        await self._start()
        self._file = path

    async def _start(self) -> None:
        """Make the engines, bringing the database to the newest revision."""
        import sqlalchemy as sa
        from sqlalchemy.exc import SQLAlchemyError
        from sqlalchemy.pool import StaticPool

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
            options = {"connect_args": {"timeout": BUSY_TIMEOUT_MS / 1000}}
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
        serial = None
        if backend == "sqlite":
            sa.event.listen(engine, "connect", _sqlite_connect if sqlite_file else _sqlite_memory)
            sa.event.listen(engine, "begin", _sqlite_begin)
            serial = threading.Lock()
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
        if self._engine is not None:  # another call started them meanwhile
            engine.dispose()
            return
        self._engine, self._writer, self._serial = engine, writer, serial

    async def close(self) -> None:
        self._file = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = self._writer = None


async def _migrate(engine: sa.Engine, writer: sa.Engine, *, sqlite: bool) -> None:
    """Bring the database to head. On SQLite, another process opening the same fresh
    file may hold the lock in a way the busy timeout does not wait out (switching to
    WAL, or a read snapshot that became stale): try again for up to the busy timeout."""
    from sqlalchemy.exc import OperationalError

    from corrigo.storage.sql import migrations

    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
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
    generous busy timeout, write-ahead log without fsync per commit (package docstring)."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_memory(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None


def _sqlite_begin(conn: sa.Connection) -> None:
    """Writes take the lock up front (BEGIN IMMEDIATE); reads use a plain snapshot."""
    write = conn.get_execution_options().get("corrigo_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _redact(url: str) -> str:
    import sqlalchemy as sa

    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable URL>"


def _reason(exc: BaseException) -> str:
    """One line saying what went wrong, from the driver's error when there is one."""
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    text = lines[0].strip() if lines else ""
    return f"{type(orig).__name__}: {text}" if text else type(orig).__name__
