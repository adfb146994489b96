"""What the ``sql`` store does without SQLAlchemy: the runs listing as SQL text, and
reads of a SQLite file with the standard library's ``sqlite3``.

The listing query is written once, here, as text with named parameters for a dialect:
the engine runs it (:meth:`SQLRuns.list_runs` on PostgreSQL and in-memory SQLite) and
so does ``sqlite3`` for a SQLite file, so that ``corrigo runs`` never loads SQLAlchemy.
A file is read this way only once :func:`at_head` found its schema at the newest
revision: any other database opens through the engine, which migrates it.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corrigo.storage.sql.rows import as_utc, like_prefix

if TYPE_CHECKING:
    from corrigo.records import RunQuery

#: Alembic's version table for corrigo's revisions (not ``alembic_version``, so a
#: database shared with an application that uses Alembic itself keeps both apart).
VERSION_TABLE = "corrigo_alembic_version"
#: The newest revision, which the tables of :mod:`.schema` match: a store already there
#: is opened without loading Alembic at all.
HEAD_REVISION = "0002"

BUSY_TIMEOUT_MS = 30_000
#: Any limit fits a 64-bit LIMIT: "everything" may be asked for with a huge one.
MAX_LIMIT = 2**62


def listing(q: RunQuery, dialect: str) -> tuple[str, dict[str, Any]]:
    """``list_runs(query=q)`` as SQL text and its parameters on ``dialect``
    (``"sqlite"`` or ``"postgresql"``): rows of ``(record, owner)``, newest first."""
    where: list[str] = []
    params: dict[str, Any] = {}
    if q.batch_id:
        where.append("batch_id = :batch_id")
        params["batch_id"] = q.batch_id
    if q.status is not None:
        where.append("status = :status")
        params["status"] = q.status
    if q.task_id is not None:
        if q.task_id.endswith("*"):
            where.append("task_id LIKE :task_id ESCAPE '\\'")
            params["task_id"] = like_prefix(q.task_id[:-1])
        else:
            where.append("task_id = :task_id")
            params["task_id"] = q.task_id
    if q.strategy is not None:
        where.append("strategy = :strategy")
        params["strategy"] = q.strategy
    if q.model is not None:
        where.append(
            "EXISTS (SELECT 1 FROM corrigo_run_models WHERE "
            "corrigo_run_models.run_id = corrigo_runs.id AND corrigo_run_models.model = :model)"
        )
        params["model"] = q.model
    if q.since is not None:
        where.append("created_at >= :since")
        params["since"] = stored_time(q.since, dialect)
    if q.until is not None:
        where.append("created_at < :until")
        params["until"] = stored_time(q.until, dialect)
    params["limit"] = min(q.limit, MAX_LIMIT)
    filters = f" WHERE {' AND '.join(where)}" if where else ""
    order = " ORDER BY created_at DESC, id DESC LIMIT :limit"
    return f"SELECT record, owner FROM corrigo_runs{filters}{order}", params


def stored_time(moment: datetime, dialect: str) -> datetime | str:
    """``moment`` as a parameter compared with a time column: in UTC, and on SQLite as
    the text SQLAlchemy's ``DateTime`` stores there (``2025-01-31 14:00:00.000000``)."""
    utc = as_utc(moment)
    if dialect != "sqlite":
        return utc
    return utc.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def sqlite_file(url: str) -> str | None:
    """The file of a plain ``sqlite:///PATH`` store URL, as SQLAlchemy reads the URL;
    None for every other URL (another database or driver, in memory, a query string,
    %-escapes), which only the engine opens."""
    prefix = "sqlite:///"
    path = url[len(prefix) :] if url.startswith(prefix) else ""
    if path in ("", ":memory:") or "?" in path or "%" in path:
        return None
    return path


def at_head(path: str) -> bool:
    """Whether ``path`` is a SQLite database whose schema is at :data:`HEAD_REVISION`
    (the check ``migrations.bring_to_head`` makes first). Never creates the file."""
    try:
        with closing(_connect(path)) as conn:
            found = conn.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchall()
    except sqlite3.Error:
        return False
    return found == [(HEAD_REVISION,)]


def select(path: str, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The rows of one read-only query on the SQLite file ``path`` (sqlite3's errors are
    the caller's to translate)."""
    with closing(_connect(path)) as conn:
        return conn.execute(sql, params).fetchall()


def _connect(path: str) -> sqlite3.Connection:
    # The file SQLAlchemy opens for this path (relative to the working directory), which
    # must exist: "mode=rw" never creates one. Not "mode=ro": the last connection to
    # close removes the empty write-ahead log, as the engine's do, and a read-only one
    # cannot.
    uri = Path(path).absolute().as_uri() + "?mode=rw"
    return sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
