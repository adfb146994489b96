"""The sql store's schema migrations: every database ``open()`` meets ends at head.

From nothing, from a store written by corrigo before migrations existed (tables made
by that code's DDL, rows as it wrote them), from a store older still (no benches
table); at head nothing runs; a newer revision is refused; several processes opening
one fresh store at once all succeed; and the head revision matches ``storage.sql.schema``.
"""

from __future__ import annotations

import asyncio
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from stores import execute_sql, fresh_store_url

from corrigo.errors import StoreUnavailable
from corrigo.records import BenchSpec, Lesson, Outcome, RunQuery, RunRecord
from corrigo.storage.factory import open_store
from corrigo.storage.sql import engine_url, migrations
from corrigo.storage.sql.schema import HEAD_REVISION, VERSION_TABLE, metadata
from corrigo.testing.storage import _spec, _step

KINDS = ["sqlite-file", "postgres"]

# The tables exactly as corrigo/storage/sql.py defined them before migrations (its
# metadata.create_all made them on open): the starting point of revision 0001.
shipped = sa.MetaData()
sa.Table(
    "corrigo_runs",
    shipped,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("batch_id", sa.String(512), index=True),
    sa.Column("task_id", sa.String(256), nullable=False),
    sa.Column("strategy", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("record", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
)
sa.Table(
    "corrigo_steps",
    shipped,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("corrigo_runs.id"), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("record", sa.Text, nullable=False),
)
sa.Table(
    "corrigo_reflections",
    shipped,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("scope_key", sa.String(256), index=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("record", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Table(
    "corrigo_benches",
    shipped,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("record", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
)


@contextmanager
def connected(url: str) -> Iterator[sa.Connection]:
    engine = sa.create_engine(engine_url(url))
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


def schema_differences(url: str) -> list[object]:
    """What Alembic's autogenerate would change to make the database match storage.sql.schema."""
    with connected(url) as conn:
        context = MigrationContext.configure(
            conn, opts={"version_table": VERSION_TABLE, "compare_type": True}
        )
        return list(compare_metadata(context, metadata))


def version_of(url: str) -> list[str]:
    return [row[0] for row in execute_sql(url, f"select version_num from {VERSION_TABLE}")]


def test_head_revision_is_the_scripts_head() -> None:
    assert migrations.head() == HEAD_REVISION


@pytest.mark.parametrize("kind", KINDS)
async def test_empty_database_to_head(kind: str, tmp_path: Path) -> None:
    with fresh_store_url(kind, tmp_path) as url:
        async with open_store(url) as store:
            await store.create_run(_spec())
        assert version_of(url) == [HEAD_REVISION]
        assert schema_differences(url) == []


@pytest.mark.parametrize("kind", KINDS)
async def test_the_head_migration_matches_the_tables_of_sql_schema(
    kind: str, tmp_path: Path
) -> None:
    """Migrations and metadata describe one schema: change one, change the other."""
    with fresh_store_url(kind, tmp_path) as url:
        with connected(url) as conn:
            migrations.upgrade_to_head(conn)
        assert schema_differences(url) == []
        # And the check does see a difference when there is one.
        execute_sql(url, "drop index ix_corrigo_runs_task_created")
        assert schema_differences(url) != []


def _write_as_shipped(url: str, *, with_benches: bool = True) -> dict[str, str]:
    """Tables and rows as corrigo wrote them before migrations: records without the
    fields added since (a run's owner, a lesson's status and topic)."""
    tables = [t for t in shipped.sorted_tables if with_benches or t.name != "corrigo_benches"]
    spec = _spec("HumanEval/7", strategy="self_debug", model="openai:gpt-x")
    running = RunRecord(id="run_00shipped0running", status="running", spec=spec)
    done_spec = _spec("mbpp/2", batch="b-1", model="local:q")
    finished = RunRecord(
        id="run_00shipped1finished",
        status="finished",
        spec=done_spec,
        created_at=running.created_at + timedelta(seconds=1),
        outcome=Outcome(run_id="run_00shipped1finished", task_id="mbpp/2", stop_reason="verified"),
    )
    lesson = Lesson(text="Guard the empty list", scope="family", scope_key="HumanEval")
    lesson = lesson.model_copy(update={"uses": 3, "helped": 2})
    bench = BenchSpec(suite="humaneval[:2]", strategies=["refine"], models=["scripted:a"])
    with connected(url) as conn:
        shipped.create_all(conn, tables=tables)
        for run in (running, finished):
            conn.execute(
                sa.text(
                    "insert into corrigo_runs (id, batch_id, task_id, strategy, status, record,"
                    " created_at) values (:id, :batch, :task, :strategy, :status, :record, :at)"
                ),
                {
                    "id": run.id,
                    "batch": run.spec.batch_id,
                    "task": run.spec.task.id,
                    "strategy": run.spec.strategy,
                    "status": run.status,
                    "record": run.model_dump_json(exclude={"owner"}),
                    "at": run.created_at,
                },
            )
        for seq in (1, 2):
            step = _step(running.id, seq, f"reply {seq}")
            conn.execute(
                sa.text(
                    "insert into corrigo_steps (run_id, seq, role, kind, record)"
                    " values (:run, :seq, :role, :kind, :record)"
                ),
                {
                    "run": step.run_id,
                    "seq": step.seq,
                    "role": step.role,
                    "kind": step.kind,
                    "record": step.model_dump_json(),
                },
            )
        conn.execute(
            sa.text(
                "insert into corrigo_reflections (id, scope_key, text, record, created_at)"
                " values (:id, :key, :text, :record, :at)"
            ),
            {
                "id": lesson.id,
                "key": lesson.scope_key,
                "text": lesson.text,
                "record": lesson.model_dump_json(exclude={"status", "topic"}),
                "at": lesson.created_at,
            },
        )
        if with_benches:
            conn.execute(
                sa.text("insert into corrigo_benches values (:id, :record, :at)"),
                {"id": bench.id, "record": bench.model_dump_json(), "at": bench.created_at},
            )
    return {
        "running": running.id,
        "finished": finished.id,
        "lesson": lesson.id,
        "bench": bench.id,
    }


@pytest.mark.parametrize("kind", KINDS)
async def test_shipped_store_to_head_keeps_working(kind: str, tmp_path: Path) -> None:
    with fresh_store_url(kind, tmp_path) as url:
        ids = _write_as_shipped(url)
        async with open_store(url) as store:
            running = await store.get_run(ids["running"])
            assert (running.status, running.owner, running.spec.task.id) == (
                "running",
                None,
                "HumanEval/7",
            )
            assert [s.output for s in await store.get_steps(running.id)] == ["reply 1", "reply 2"]
            assert (await store.get_run(ids["finished"])).outcome is not None
            assert (await store.get_bench("last")).id == ids["bench"]

            async def listed(**fields: object) -> list[str]:
                return [r.id for r in await store.list_runs(query=RunQuery(**fields))]

            assert await listed() == [ids["finished"], ids["running"]]
            # Filters work on migrated rows: the model rows were filled from the records.
            assert await listed(model="openai:gpt-x") == [ids["running"]]
            assert await listed(model="scripted:review") == [ids["finished"], ids["running"]]
            assert await listed(strategy="self_debug", task_id="HumanEval*") == [ids["running"]]
            assert await listed(status="finished", batch_id="b-1") == [ids["finished"]]

            # Lesson counters were copied into their columns and count on from there.
            lesson = await store.get_lesson(ids["lesson"])
            assert (lesson.uses, lesson.helped, lesson.status) == (3, 2, "active")
            await store.record_lesson_outcome(["HumanEval"], [lesson.id], passed=True)
            lesson = await store.get_lesson(lesson.id)
            assert (lesson.uses, lesson.helped) == (4, 3)
            assert [r.id for r in await store.search_lessons("empty")] == [lesson.id]
            assert [r.id for r in await store.list_lessons(["HumanEval"])] == [lesson.id]

            # A run of the shipped code has no owner: it is claimed from nobody.
            claimed = await store.claim_run(running.id, "host/1/1", expected=None)
            assert claimed.owner == "host/1/1"
            assert await store.prune_runs(keep=0) == 1
        assert version_of(url) == [HEAD_REVISION]
        assert schema_differences(url) == []


@pytest.mark.parametrize("kind", KINDS)
async def test_store_older_than_benches_to_head(kind: str, tmp_path: Path) -> None:
    with fresh_store_url(kind, tmp_path) as url:
        ids = _write_as_shipped(url, with_benches=False)
        async with open_store(url) as store:
            assert (await store.get_run(ids["running"])).id == ids["running"]
            assert await store.list_benches() == []
        assert schema_differences(url) == []


async def test_a_store_at_head_loads_no_migration_code(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/store.db"
    async with open_store(url):
        pass
    code = textwrap.dedent(
        f"""
        import asyncio, sys
        from corrigo.storage.factory import open_store

        async def main():
            async with open_store({url!r}) as store:
                await store.list_runs()
        asyncio.run(main())
        print(sorted(m for m in sys.modules if m.split(".")[0] == "alembic"))
        """
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0 and out.decode().strip() == "[]"


@pytest.mark.parametrize("kind", KINDS)
async def test_a_newer_revision_is_refused_untouched(kind: str, tmp_path: Path) -> None:
    with fresh_store_url(kind, tmp_path) as url:
        async with open_store(url):
            pass
        execute_sql(url, f"update {VERSION_TABLE} set version_num = '0999'")
        with pytest.raises(StoreUnavailable, match=r"revision 0999.*upgrade corrigo"):
            async with open_store(url):
                pass
        assert version_of(url) == ["0999"]


_OPENER = textwrap.dedent(
    """
    import asyncio, sys
    from corrigo.storage.factory import open_store
    from corrigo.testing.storage import _spec

    async def main(url):
        async with open_store(url) as store:
            await store.create_run(_spec())

    asyncio.run(main(sys.argv[1]))
    """
)


@pytest.mark.parametrize("kind", KINDS)
async def test_processes_opening_one_fresh_store_at_once(kind: str, tmp_path: Path) -> None:
    with fresh_store_url(kind, tmp_path) as url:
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable, "-c", _OPENER, url, stderr=asyncio.subprocess.PIPE
            )
            for _ in range(4)
        ]
        for proc in procs:
            _, err = await proc.communicate()
            assert proc.returncode == 0, err.decode()
        async with open_store(url) as store:
            assert len(await store.list_runs()) == 4
        assert version_of(url) == [HEAD_REVISION]
