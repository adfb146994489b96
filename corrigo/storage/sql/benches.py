"""Bench specs in the ``sql`` store: one row of ``corrigo_benches`` each (SQLAlchemy and
the table are imported where they are used, see :mod:`.connection`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from corrigo.errors import RunNotFound, StoreError
from corrigo.records import BenchSpec
from corrigo.storage.benches import BenchStore
from corrigo.storage.sql.connection import SQLConnection
from corrigo.storage.sql.rows import decode, dialect_insert, only_row

if TYPE_CHECKING:
    import sqlalchemy as sa


class SQLBenches(SQLConnection, BenchStore):
    """:class:`~corrigo.storage.benches.BenchStore` on SQLite or PostgreSQL."""

    async def save_bench(self, spec: BenchSpec) -> None:
        payload = spec.model_dump_json()

        def insert(conn: sa.Connection) -> None:
            import sqlalchemy as sa

            from corrigo.storage.sql.schema import benches

            stmt = (
                dialect_insert(conn, benches)
                .values(id=spec.id, record=payload, created_at=spec.created_at)
                .on_conflict_do_nothing(index_elements=["id"])
            )
            if conn.execute(stmt).rowcount == 1:
                return
            stored = conn.execute(
                sa.select(benches.c.record).where(benches.c.id == spec.id)
            ).scalar_one()
            if decode(BenchSpec, stored) != spec:
                raise StoreError(f"bench {spec.id} is already stored with another spec")

        await self._call(insert, write=True)

    async def get_bench(self, bench_id: str) -> BenchSpec:
        def select(conn: sa.Connection) -> str:
            import sqlalchemy as sa

            from corrigo.storage.sql.schema import benches

            if bench_id != "last":
                return str(only_row(conn, benches, bench_id, "bench").record)
            newest = sa.select(benches.c.record).order_by(
                benches.c.created_at.desc(), benches.c.id.desc()
            )
            text = conn.execute(newest.limit(1)).scalar()
            if text is None:
                raise RunNotFound("no benches in the store yet")
            return str(text)

        return decode(BenchSpec, await self._call(select))

    async def list_benches(self, limit: int = 50) -> list[BenchSpec]:
        def select(conn: sa.Connection) -> list[str]:
            import sqlalchemy as sa

            from corrigo.storage.sql.schema import benches

            query = sa.select(benches.c.record).order_by(
                benches.c.created_at.desc(), benches.c.id.desc()
            )
            return list(conn.execute(query.limit(limit)).scalars())

        return [decode(BenchSpec, text) for text in await self._call(select)]
