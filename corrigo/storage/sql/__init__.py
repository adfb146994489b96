"""The ``sql`` store: SQLAlchemy Core over SQLite (default) or PostgreSQL (psycopg 3).

Records are stored as JSON text produced by pydantic, never pickled; the tables are in
:mod:`~corrigo.storage.sql.schema` and ``open()`` brings any database to the newest
schema with Alembic (:mod:`~corrigo.storage.sql.migrations`). Calls run in a worker
thread so the event loop is never blocked; each write commits before returning.

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

The modules follow the contracts: :mod:`.connection` (engines, transactions, errors,
migrating on open), :mod:`.runs`, :mod:`.lessons` and :mod:`.benches` (one part of the
store each, over :mod:`.rows`' shared helpers), and :mod:`.store`, which puts them
together as :class:`SQLStore`. :mod:`.direct` is what needs no SQLAlchemy: the runs
listing as SQL text, and reading a SQLite file already at head with ``sqlite3``, so
that importing this package and listing such a store (``corrigo runs``) load neither
SQLAlchemy nor Alembic; the engine starts with the first call that needs it.
"""

from corrigo.storage.sql.connection import engine_url
from corrigo.storage.sql.store import SQLStore

__all__ = ["SQLStore", "engine_url"]
