"""The storage conformance suite against every backend available here."""

from __future__ import annotations

from pathlib import Path

import pytest

from corrigo.errors import StoreError
from corrigo.storage.base import open_store
from corrigo.storage.conformance import CHECKS, Check

BACKENDS = ["sqlite-file", "sqlite-memory"]


def _url(kind: str, tmp_path: Path) -> str:
    return {"sqlite-file": f"sqlite:///{tmp_path}/store.db", "sqlite-memory": "sqlite://"}[kind]


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__ for c in CHECKS])
@pytest.mark.parametrize("backend", BACKENDS)
async def test_conformance(backend: str, check: Check, tmp_path: Path) -> None:
    async with open_store(_url(backend, tmp_path)) as store:
        await check(store)


async def test_data_survives_reopening(tmp_path: Path) -> None:
    from corrigo.storage.conformance import _spec

    url = f"sqlite:///{tmp_path}/store.db"
    async with open_store(url) as store:
        run = await store.create_run(_spec())
    async with open_store(url) as store:
        assert (await store.get_run(run.id)).spec.task.id == "t/1"


async def test_undecodable_record_fails_loudly(tmp_path: Path) -> None:
    import sqlite3

    from corrigo.storage.conformance import _spec

    url = f"sqlite:///{tmp_path}/store.db"
    async with open_store(url) as store:
        run = await store.create_run(_spec())
    db = sqlite3.connect(tmp_path / "store.db")
    db.execute("update corrigo_runs set record = ?", ('{"schema_version": 99}',))
    db.commit()
    db.close()
    async with open_store(url) as store:
        with pytest.raises(StoreError, match="cannot be decoded"):
            await store.get_run(run.id)


async def test_bench_survives_reopening_and_undecodable_bench_fails_loudly(tmp_path: Path) -> None:
    import sqlite3

    from corrigo.records import BenchSpec

    url = f"sqlite:///{tmp_path}/store.db"
    spec = BenchSpec(suite="humaneval[:3]", strategies=["refine"], models=["scripted:x.yaml"])
    async with open_store(url) as store:
        await store.save_bench(spec)
    async with open_store(url) as store:
        assert await store.get_bench("last") == spec
    db = sqlite3.connect(tmp_path / "store.db")
    db.execute("update corrigo_benches set record = ?", ('{"schema_version": 1, "id": 7}',))
    db.commit()
    db.close()
    async with open_store(url) as store:
        with pytest.raises(StoreError, match="cannot be decoded"):
            await store.get_bench(spec.id)
