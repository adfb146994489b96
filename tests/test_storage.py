"""The storage conformance suite against every backend, and what the sql store adds:
data that survives reopening, records that fail loudly when tampered with, URLs and
errors of PostgreSQL, several processes writing one SQLite file."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from stores import ALL_KINDS, POSTGRES_URL, execute_sql, fresh_store_url

from corrigo.errors import RunNotFound, StoreError, StoreUnavailable
from corrigo.records import BenchSpec, Lesson
from corrigo.storage.factory import open_store
from corrigo.testing.storage import CHECKS, Check, _spec, _step

# Kinds whose stored rows a test can reach with SQL.
SQL_KINDS = ["sqlite-file", "postgres"]


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__ for c in CHECKS])
@pytest.mark.parametrize("backend", ALL_KINDS)
async def test_conformance(backend: str, check: Check, tmp_path: Path) -> None:
    with fresh_store_url(backend, tmp_path) as url:
        async with open_store(url) as store:
            await check(store)


@pytest.mark.parametrize("backend", ["sqlite-file", "postgres", "redis"])
async def test_data_survives_reopening(backend: str, tmp_path: Path) -> None:
    with fresh_store_url(backend, tmp_path) as url:
        async with open_store(url) as store:
            run = await store.create_run(_spec(), owner="h/1/1")
            await store.append_step(_step(run.id, 1))
            lesson = Lesson(text="Mind the bounds", scope_key="t/1")
            await store.add_lesson(lesson)
            await store.record_lesson_outcome(["t/1"], [lesson.id], passed=True)
        async with open_store(url) as store:
            got = await store.get_run(run.id)
            assert (got.spec.task.id, got.owner) == ("t/1", "h/1/1")
            assert [s.seq for s in await store.get_steps(run.id)] == [1]
            assert (await store.get_lesson(lesson.id)).helped == 1


@pytest.mark.parametrize("backend", SQL_KINDS)
async def test_undecodable_run_fails_loudly(backend: str, tmp_path: Path) -> None:
    with fresh_store_url(backend, tmp_path) as url:
        async with open_store(url) as store:
            run = await store.create_run(_spec())
            await store.append_step(_step(run.id, 1))
        execute_sql(url, "update corrigo_runs set record = :r", {"r": '{"schema_version": 99}'})
        execute_sql(url, "update corrigo_steps set record = :r", {"r": "not json"})
        async with open_store(url) as store:
            with pytest.raises(StoreError, match="stored RunRecord cannot be decoded"):
                await store.get_run(run.id)
            with pytest.raises(StoreError, match="stored RunRecord cannot be decoded"):
                await store.list_runs()
            with pytest.raises(StoreError, match="stored Step cannot be decoded"):
                await store.get_steps(run.id)


@pytest.mark.parametrize("backend", SQL_KINDS)
async def test_bench_survives_reopening_and_undecodable_bench_fails_loudly(
    backend: str, tmp_path: Path
) -> None:
    spec = BenchSpec(suite="humaneval[:3]", strategies=["refine"], models=["scripted:x.yaml"])
    with fresh_store_url(backend, tmp_path) as url:
        async with open_store(url) as store:
            await store.save_bench(spec)
        async with open_store(url) as store:
            assert await store.get_bench("last") == spec
        execute_sql(
            url, "update corrigo_benches set record = :r", {"r": '{"schema_version": 1, "id": 7}'}
        )
        async with open_store(url) as store:
            with pytest.raises(StoreError, match="stored BenchSpec cannot be decoded"):
                await store.get_bench(spec.id)


@pytest.mark.parametrize("backend", SQL_KINDS)
async def test_undecodable_lesson_fails_loudly(backend: str, tmp_path: Path) -> None:
    lesson = Lesson(text="Check types", scope_key="t/1")
    with fresh_store_url(backend, tmp_path) as url:
        async with open_store(url) as store:
            await store.add_lesson(lesson)
        execute_sql(url, "update corrigo_reflections set status = 'bogus'")
        async with open_store(url) as store:
            with pytest.raises(StoreError, match="stored Lesson cannot be decoded"):
                await store.get_lesson(lesson.id)
        execute_sql(url, "update corrigo_reflections set status = 'active', record = '[]'")
        async with open_store(url) as store:
            with pytest.raises(StoreError, match="stored Lesson cannot be decoded"):
                await store.list_lessons()


@pytest.mark.parametrize("backend", SQL_KINDS)
async def test_owner_and_counters_are_columns(backend: str, tmp_path: Path) -> None:
    """A claim and the lesson counters change columns in place; reads merge them in."""
    with fresh_store_url(backend, tmp_path) as url:
        async with open_store(url) as store:
            run = await store.create_run(_spec(), owner="a/1/1")
            await store.claim_run(run.id, "b/2/2", expected="a/1/1")
            lesson = Lesson(text="x", scope_key="s")
            await store.add_lesson(lesson)
            await store.record_lesson_outcome(["s"], [lesson.id, lesson.id], passed=True)
        ((owner,),) = execute_sql(url, "select owner from corrigo_runs")
        ((uses, helped),) = execute_sql(url, "select uses, helped from corrigo_reflections")
        assert (owner, uses, helped) == ("b/2/2", 1, 1)  # a lesson used twice counts once
        async with open_store(url) as store:
            assert [r.owner for r in await store.list_runs()] == ["b/2/2"]
            await store.claim_run(run.id, "c/3/3", expected="b/2/2")


@pytest.mark.parametrize("backend", SQL_KINDS)
async def test_nul_in_lesson_text(backend: str, tmp_path: Path) -> None:
    """PostgreSQL text cannot hold NUL: the search copy drops it, the record keeps it."""
    with fresh_store_url(backend, tmp_path) as url:
        async with open_store(url) as store:
            lesson = Lesson(text="zero\x00byte", scope_key="t")
            await store.add_lesson(lesson)
            assert (await store.get_lesson(lesson.id)).text == "zero\x00byte"
            assert [r.id for r in await store.search_lessons("zerobyte")] == [lesson.id]


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg"])
async def test_postgres_url_schemes(scheme: str, tmp_path: Path) -> None:
    with fresh_store_url("postgres", tmp_path) as url:
        url = url.replace("postgresql", scheme, 1)
        async with open_store(url) as store:
            run = await store.create_run(_spec())
            assert (await store.get_run(run.id)).id == run.id
            assert store.url == url  # what callers see is the URL they gave


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("postgresql://corrigo:corrigo@127.0.0.1:1/corrigo", "Connection refused"),
        ("postgresql://corrigo:wrong-password@127.0.0.1:5432/corrigo", "authentication failed"),
        ("postgresql+nosuchdriver://u@127.0.0.1/x", "nosuchdriver"),
        ("sqlite:////proc/no/such/dir/store.db", "cannot open store"),
    ],
)
async def test_unavailable_store_says_why_in_one_line(url: str, reason: str) -> None:
    with pytest.raises(StoreUnavailable) as caught:
        async with open_store(url):
            pass
    message = str(caught.value)
    assert reason in message and "\n" not in message
    assert "wrong-password" not in message


def test_missing_driver_names_the_extra(tmp_path: Path) -> None:
    """Without psycopg installed, opening a PostgreSQL store says what to install."""
    code = textwrap.dedent(
        f"""
        import asyncio, sys
        sys.modules["psycopg"] = None  # as if corrigo[postgres] were not installed
        from corrigo.errors import StoreUnavailable
        from corrigo.storage.factory import open_store

        async def main():
            try:
                async with open_store({POSTGRES_URL!r}):
                    pass
            except StoreUnavailable as exc:
                print(exc)

        asyncio.run(main())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert "install corrigo[postgres]" in out and "corrigo:***@" in out, out


async def test_closed_store_refuses_calls(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    with pytest.raises(StoreError, match="not open"):
        await store.get_run("run_x")
    async with store:
        pass
    await store.close()  # twice is fine
    with pytest.raises(StoreError, match="not open"):
        await store.list_runs()


_WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from corrigo.records import Outcome, Lesson
    from corrigo.storage.factory import open_store
    from corrigo.testing.storage import _spec, _step

    async def main(url, worker, lesson_id):
        async with open_store(url) as store:
            for i in range(15):
                run = await store.create_run(_spec(f"w{worker}/{i}"), owner=f"h/{worker}/0")
                for seq in range(1, 4):
                    await store.append_step(_step(run.id, seq))
                await store.record_lesson_outcome(["fam", "*"], [lesson_id], passed=i % 3 == 0)
                await store.finish_run(
                    run.id, Outcome(run_id=run.id, task_id="t", stop_reason="verified")
                )

    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
    """
)


@pytest.mark.parametrize("backend", SQL_KINDS)
async def test_processes_share_one_store(backend: str, tmp_path: Path) -> None:
    """Four processes write one store at once: none sees an error (on SQLite: "database
    is locked"), every step is stored and no count is lost."""
    with fresh_store_url(backend, tmp_path) as url:
        await _four_writers(url)


async def _four_writers(url: str) -> None:
    lesson = Lesson(text="shared lesson", scope_key="fam")
    async with open_store(url) as store:
        await store.add_lesson(lesson)
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _WRITER,
            url,
            str(worker),
            lesson.id,
            stderr=asyncio.subprocess.PIPE,
        )
        for worker in range(4)
    ]
    for proc in procs:
        _, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
    async with open_store(url) as store:
        listed = await store.list_runs(limit=1000)
        assert len(listed) == 60 and {r.status for r in listed} == {"finished"}
        for run in listed:
            assert [s.seq for s in await store.get_steps(run.id)] == [1, 2, 3]
        stats = await store.scope_stats(["fam", "*"])
        assert (stats["fam"].runs, stats["fam"].passed) == (60, 20)
        counted = await store.get_lesson(lesson.id)
        assert (counted.uses, counted.helped) == (60, 20)


async def test_claim_is_compare_and_set_across_stores(tmp_path: Path) -> None:
    """Two stores (as two processes would) claim one run from the same owner: one wins."""
    with fresh_store_url("postgres", tmp_path) as url:
        async with open_store(url) as a, open_store(url) as b:
            run = await a.create_run(_spec(), owner="gone/1/1")
            results = await asyncio.gather(
                a.claim_run(run.id, "a/1/1", expected="gone/1/1"),
                b.claim_run(run.id, "b/1/1", expected="gone/1/1"),
                return_exceptions=True,
            )
            won = [r for r in results if not isinstance(r, BaseException)]
            lost = [r for r in results if isinstance(r, BaseException)]
            assert len(won) == 1 and len(lost) == 1 and isinstance(lost[0], StoreError)
            assert (await b.get_run(run.id)).owner == won[0].owner
            with pytest.raises(RunNotFound):
                await a.claim_run("run_missing", "a/1/1", expected=None)


def test_sqlite_reads_without_the_engine_match_what_the_engine_does() -> None:
    """A SQLite file at head is listed through sqlite3 (corrigo.storage.sql.direct): its
    times are compared as the text SQLAlchemy stores, its URLs read as SQLAlchemy reads
    them (or left to the engine)."""
    import sqlalchemy as sa
    from sqlalchemy.dialects import sqlite

    from corrigo.storage.sql import direct
    from corrigo.storage.sql.rows import as_utc
    from corrigo.storage.sql.schema import runs

    dialect = sqlite.dialect()
    bind = runs.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
    assert bind is not None
    for moment in (
        datetime(2025, 1, 31, 14, 0, tzinfo=UTC),
        datetime(2025, 6, 1, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5))),
        datetime(5, 1, 2, 3, 4, 5, 6),  # naive: UTC
    ):
        assert direct.stored_time(moment, "sqlite") == bind(as_utc(moment))
    urls = [
        "sqlite:////tmp/a.db",
        "sqlite:///relative/a.db",
        "sqlite:///~/a.db",
        "sqlite:///a#b@c:d.db",
        "sqlite:///a%20b.db",
        "sqlite:///a.db?timeout=1",
        "sqlite:///:memory:",
        "sqlite://",
        "sqlite+pysqlite:///a.db",
        POSTGRES_URL,
    ]
    for url in urls:
        path = direct.sqlite_file(url)
        assert path is None or path == sa.engine.make_url(url).database, url
    assert direct.sqlite_file("sqlite:////tmp/a.db") == "/tmp/a.db"
