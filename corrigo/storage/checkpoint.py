"""LangGraph checkpointers beside each store, so an interrupted run can resume.

The graph's state after each step of a run (a LangGraph "super-step") is saved by
LangGraph's own checkpointers: ``langgraph-checkpoint-sqlite`` in the same SQLite file
as the store (its synchronous saver, each write one trip to a worker thread),
``langgraph-checkpoint-postgres`` in the same PostgreSQL database, and
for Redis corrigo's :class:`~corrigo.storage.redis.checkpoint.RedisSaver` on plain
Redis types (LangGraph's Redis package needs the RedisJSON and RediSearch modules).
Every one serializes with :class:`~corrigo.storage.serde.JsonSerde`: no pickle.

Checkpoints only save work: correctness on resume comes from the step log. A node
that was running when the process died runs again and finds its model and sandbox
steps already stored under their keys (see :class:`corrigo.graphs.context.StepLog`).
Runs write checkpoints in LangGraph's ``sync`` durability mode (each before the next
step starts): on two cores it measured faster than ``async``, whose writes compete with
the next step for the same CPU (``benchmarks/store.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from corrigo.errors import StoreUnavailable
from corrigo.storage.base import TrajectoryStore
from corrigo.storage.serde import JsonSerde


@asynccontextmanager
async def open_checkpointer(store: TrajectoryStore) -> AsyncIterator[Any]:
    """The checkpointer for ``store`` (None for a store corrigo does not know)."""
    from corrigo.storage.sql import SQLStore

    if isinstance(store, SQLStore):
        import sqlalchemy as sa

        url = sa.engine.make_url(store.url)
        if url.get_backend_name() == "sqlite":
            if url.database in (None, "", ":memory:"):
                from langgraph.checkpoint.memory import InMemorySaver

                yield InMemorySaver(serde=JsonSerde())
                return
            async with _sqlite_saver(str(url.database)) as saver:
                yield saver
            return
        async with _postgres_saver(store.url) as saver:
            yield saver
        return
    # By module name: the redis package (and its extra) is imported only for its stores.
    if type(store).__module__.startswith("corrigo.storage.redis."):
        from corrigo.storage.redis.checkpoint import RedisSaver

        client, prefix = getattr(store, "client"), getattr(store, "prefix")  # noqa: B009
        yield RedisSaver(client, prefix=prefix, serde=JsonSerde())
        return
    yield None


@asynccontextmanager
async def _sqlite_saver(path: str) -> AsyncIterator[Any]:
    import sqlite3
    from pathlib import Path

    conn = sqlite3.connect(Path(path).expanduser(), timeout=30.0, check_same_thread=False)
    try:
        # As the store does (see corrigo.storage.sql): WAL, no fsync per commit.
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        saver = _threaded_sqlite_saver()(conn, serde=JsonSerde())
        await asyncio.to_thread(saver.setup)
        yield saver
    finally:
        conn.close()


def _threaded_sqlite_saver() -> type:
    """LangGraph's ``SqliteSaver``, its async methods each one trip to a worker thread.

    LangGraph's ``AsyncSqliteSaver`` goes through aiosqlite, which hands every statement
    and every commit to its thread separately: four thread round trips per step. The
    synchronous saver does a write and its commit in one call under its own lock, so
    running that call in a thread costs one (``benchmarks/store.py`` measures both).
    """
    from langgraph.checkpoint.sqlite import SqliteSaver

    class ThreadedSqliteSaver(SqliteSaver):
        async def aget_tuple(self, config: Any) -> Any:
            return await asyncio.to_thread(self.get_tuple, config)

        async def alist(
            self,
            config: Any,
            *,
            filter: dict[str, Any] | None = None,
            before: Any = None,
            limit: int | None = None,
        ) -> AsyncIterator[Any]:
            found = await asyncio.to_thread(
                lambda: list(self.list(config, filter=filter, before=before, limit=limit))
            )
            for item in found:
                yield item

        async def aput(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
            return await asyncio.to_thread(self.put, config, checkpoint, metadata, new_versions)

        async def aput_writes(
            self, config: Any, writes: Any, task_id: str, task_path: str = ""
        ) -> None:
            await asyncio.to_thread(self.put_writes, config, writes, task_id, task_path)

        async def adelete_thread(self, thread_id: str) -> None:
            await asyncio.to_thread(self.delete_thread, thread_id)

        async def aget_delta_channel_history(self, *args: Any, **kwargs: Any) -> Any:
            return await asyncio.to_thread(self.get_delta_channel_history, *args, **kwargs)

    return ThreadedSqliteSaver


@asynccontextmanager
async def _postgres_saver(url: str) -> AsyncIterator[Any]:
    try:
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        from psycopg import AsyncConnection
        from psycopg.errors import Error as PsycopgError
        from psycopg.rows import dict_row
    except ImportError as exc:
        raise StoreUnavailable(
            f"PostgreSQL checkpoints need corrigo[postgres] (missing {exc.name})"
        ) from None
    conninfo = url.replace("postgresql+psycopg://", "postgresql://", 1)
    conninfo = conninfo.replace("postgres://", "postgresql://", 1)
    try:
        conn = await AsyncConnection.connect(
            conninfo, autocommit=True, prepare_threshold=0, row_factory=dict_row
        )
    except PsycopgError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StoreUnavailable(f"cannot open checkpoints: {reason}") from None
    try:
        saver = AsyncPostgresSaver(conn, serde=JsonSerde())
        await _setup_once(conn, saver)
        yield saver
    finally:
        await conn.close()


async def _setup_once(conn: Any, saver: Any) -> None:
    """LangGraph's own migrations, one process at a time (two may open a fresh store).

    The lock is taken by polling, never by waiting in the server: LangGraph builds its
    indexes with ``CREATE INDEX CONCURRENTLY``, which waits for every open transaction,
    and a session blocked in ``pg_advisory_lock`` would be one of them (a deadlock)."""
    import asyncio

    while True:
        async with conn.cursor() as cur:
            await cur.execute("SELECT pg_try_advisory_lock(7242651) AS locked")
            row = await cur.fetchone()
        if row and row["locked"]:
            break
        await asyncio.sleep(0.05)
    try:
        await saver.setup()
    finally:
        async with conn.cursor() as cur:
            await cur.execute("SELECT pg_advisory_unlock(7242651)")
