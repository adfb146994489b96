"""Helpers every part of the ``sql`` store uses to find, lock and decode rows.

Each runs inside a function given to ``SQLConnection._call``, on its connection: they
never start transactions of their own. SQLAlchemy is imported by the functions that use
it, as in the rest of the package: reading a SQLite file (:mod:`.direct`) needs none.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import ValidationError

from corrigo.errors import RunNotFound, StoreError

if TYPE_CHECKING:
    import sqlalchemy as sa

T = TypeVar("T")

CHUNK = 500  # ids per IN (...) list


def dialect_insert(conn: sa.Connection, table: sa.Table) -> Any:
    """An INSERT that can say ``ON CONFLICT`` on this database."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)


def locked(conn: sa.Connection, stmt: sa.Select[Any]) -> sa.Select[Any]:
    """``stmt`` locking its rows to the end of the transaction (SQLite: the write lock
    taken by BEGIN IMMEDIATE already does)."""
    return stmt.with_for_update() if conn.dialect.name == "postgresql" else stmt


def only_row(
    conn: sa.Connection,
    table: sa.Table,
    key: str,
    what: str,
    *columns: sa.ColumnElement[Any],
    lock: bool = False,
) -> Any:
    """The one row (``id``, ``record``, columns) whose id is ``key`` or, for 6+
    characters, starts with it; RunNotFound when there is none or several."""
    import sqlalchemy as sa

    from corrigo.storage.sql.schema import runs

    extra = [table.c.owner] if table is runs else []
    query = sa.select(table.c.id, table.c.record, *extra, *columns)
    exact = query.where(table.c.id == key)
    found = conn.execute(locked(conn, exact) if lock else exact).all()
    if not found and len(key) >= 6:
        prefixed = query.where(table.c.id.like(like_prefix(key), escape="\\")).limit(2)
        found = conn.execute(locked(conn, prefixed) if lock else prefixed).all()
    if not found:
        raise RunNotFound(f"no {what} {key!r} in the store")
    if len(found) > 1:
        raise RunNotFound(f"{what} id prefix {key!r} is ambiguous")
    return found[0]


def chunks(ids: list[str]) -> list[list[str]]:
    """``ids`` in lists short enough for one ``IN (...)`` on every database."""
    return [ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)]


def like_prefix(prefix: str) -> str:
    """A LIKE pattern (escape ``\\``) matching what starts with ``prefix``, literally."""
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def as_utc(moment: datetime) -> datetime:
    """Stored times are UTC; a naive ``moment`` is taken to be UTC too."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def decode(cls: type[T], text: str) -> T:
    """A stored record; StoreError naming its type when the JSON does not decode."""
    try:
        return cls.model_validate_json(text)  # type: ignore[attr-defined]
    except ValidationError as exc:
        raise StoreError(
            f"stored {cls.__name__} cannot be decoded: {exc.errors()[0]['msg']}"
        ) from None
