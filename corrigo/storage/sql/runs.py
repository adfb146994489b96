"""Runs and steps in the ``sql`` store.

A run is a row of ``corrigo_runs`` (its record as JSON, plus the columns queries filter
on) and one row of ``corrigo_run_models`` per model its roles use; its steps are rows
of ``corrigo_steps`` keyed by ``(run_id, seq)``. The owner column, not the record's
copy, says who runs it now: ``claim_run`` swaps it with one conditional UPDATE.

The listing is SQL text (:func:`.direct.listing`), which a SQLite file answers through
``sqlite3``; everything else imports SQLAlchemy and the tables where it is used.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from corrigo.errors import RunNotFound, StoreError, UsageError
from corrigo.records import Outcome, RunQuery, RunRecord, RunSpec, Step, new_id, utcnow
from corrigo.storage.runs import RunStore
from corrigo.storage.sql.connection import SQLConnection
from corrigo.storage.sql.direct import listing
from corrigo.storage.sql.rows import as_utc, chunks, decode, locked, only_row

if TYPE_CHECKING:
    import sqlalchemy as sa


class SQLRuns(SQLConnection, RunStore):
    """:class:`~corrigo.storage.runs.RunStore` on SQLite or PostgreSQL."""

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
            from corrigo.storage.sql.schema import run_models, runs

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
            import sqlalchemy as sa

            from corrigo.storage.sql.schema import runs

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
            record = decode(RunRecord, row.record)
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
            import sqlalchemy as sa
            from sqlalchemy.exc import IntegrityError

            from corrigo.storage.sql.schema import steps

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
            old = decode(Step, stored)
            if old.model_dump(exclude={"created_at"}) != step.model_dump(exclude={"created_at"}):
                raise StoreError(
                    f"step {step.seq} of run {step.run_id} is already stored with other content"
                )

        await self._call(insert, write=True)

    async def finish_run(self, run_id: str, outcome: Outcome) -> None:
        finished_at = utcnow()

        def update(conn: sa.Connection) -> None:
            from corrigo.storage.sql.schema import runs

            row = only_row(conn, runs, run_id, "run", lock=True)
            current = decode(RunRecord, row.record)
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
            from corrigo.storage.sql.schema import runs

            row = only_row(conn, runs, run_id, "run")
            return row.record, row.owner

        return _run_record(*await self._call(select))

    async def get_steps(self, run_id: str) -> list[Step]:
        def select(conn: sa.Connection) -> list[str]:
            import sqlalchemy as sa

            from corrigo.storage.sql.schema import runs, steps

            run = only_row(conn, runs, run_id, "run")
            query = sa.select(steps.c.record).where(steps.c.run_id == run.id)
            return list(conn.execute(query.order_by(steps.c.seq)).scalars())

        return [decode(Step, text) for text in await self._call(select)]

    async def list_runs(
        self, limit: int = 50, batch_id: str | None = None, query: RunQuery | None = None
    ) -> list[RunRecord]:
        q = query or RunQuery(limit=limit, batch_id=batch_id)
        rows = await self._select(lambda dialect: listing(q, dialect))
        return [_run_record(record, owner) for record, owner in rows]

    async def delete_run(self, run_id: str) -> None:
        def delete(conn: sa.Connection) -> None:
            _delete_runs(conn, [run_id])

        await self._call(delete, write=True)

    async def prune_runs(
        self, *, older_than: datetime | None = None, keep: int | None = None
    ) -> int:
        if keep is not None and keep < 0:
            raise UsageError(f"keep must be 0 or more, not {keep}")
        import sqlalchemy as sa

        from corrigo.storage.sql.schema import runs

        finished = runs.c.status == "finished"
        doomed: list[sa.ColumnElement[bool]] = []
        if older_than is not None:
            doomed.append(runs.c.created_at < as_utc(older_than))
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
                    locked(conn, sa.select(runs.c.id).where(finished, sa.or_(*doomed)))
                ).scalars()
            )
            _delete_runs(conn, ids)
            return len(ids)

        return await self._call(prune, write=True)


@functools.cache
def _step_insert(dialect_name: str) -> Any:
    """The step INSERT, built once per database kind (the hot path: one per step)."""
    from sqlalchemy.dialects import postgresql, sqlite

    from corrigo.storage.sql.schema import steps

    dialect = postgresql if dialect_name == "postgresql" else sqlite
    return dialect.insert(steps).on_conflict_do_nothing(index_elements=["run_id", "seq"])


def _delete_runs(conn: sa.Connection, ids: list[str]) -> None:
    from corrigo.storage.sql.schema import run_models, runs, steps

    for chunk in chunks(ids):
        conn.execute(steps.delete().where(steps.c.run_id.in_(chunk)))
        conn.execute(run_models.delete().where(run_models.c.run_id.in_(chunk)))
        conn.execute(runs.delete().where(runs.c.id.in_(chunk)))


def _run_record(text: str, owner: str | None) -> RunRecord:
    """A stored run with its current owner (the column, which claims update)."""
    record = decode(RunRecord, text)
    return record if record.owner == owner else record.model_copy(update={"owner": owner})
