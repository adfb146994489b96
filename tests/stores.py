"""A fresh, empty store URL per test, on every backend: import this in any test.

    from stores import ALL_KINDS, BACKENDS, fresh_store_url

    @pytest.mark.parametrize("kind", BACKENDS)
    async def test_two_processes(kind: str, tmp_path: Path) -> None:
        with fresh_store_url(kind, tmp_path) as url:
            ...  # open_store(url) here and in subprocesses; every opener sees one store

Kinds:

- ``sqlite-file``: a new file under ``tmp_path``.
- ``sqlite-memory``: ``sqlite://``; every ``open_store`` of it is a new empty database,
  so it is never shared between store objects or processes (not in BACKENDS).
- ``postgres``: a new schema in the test database (``CORRIGO_TEST_POSTGRES_URL``,
  default the loopback server of ``scripts/start-stores.sh``), selected by
  ``?options=-csearch_path%3D<schema>`` and dropped afterwards with all it holds. The
  role needs no CREATEDB right, only to own the database.
- ``redis``: the test Redis (``CORRIGO_TEST_REDIS_URL``) with ``?prefix=t-<uuid>``;
  the prefix's keys are deleted afterwards.

(``from stores import`` works under both ``pytest`` and ``python -m pytest``, since
pytest puts ``tests/`` on ``sys.path``; ``from tests.stores import`` only under the
latter, which is what ``scripts/test.sh`` runs.)

Servers are not started here and a missing one is a test failure, not a skip: the
suite talks to real servers (``scripts/start-stores.sh``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

ALL_KINDS = ["sqlite-file", "sqlite-memory", "postgres", "redis"]
#: Kinds whose URL reaches the same store from every opener and process.
SHARED_KINDS = ["sqlite-file", "postgres", "redis"]
#: The three backends, for crash and concurrency tests (the same as SHARED_KINDS).
BACKENDS = SHARED_KINDS

POSTGRES_URL = os.environ.get(
    "CORRIGO_TEST_POSTGRES_URL", "postgresql://corrigo:corrigo@127.0.0.1:5432/corrigo"
)
REDIS_URL = os.environ.get("CORRIGO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@contextmanager
def fresh_store_url(kind: str, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty store of ``kind``, cleaned up when the block ends."""
    if kind == "sqlite-file":
        yield f"sqlite:///{tmp_path}/store-{uuid.uuid4().hex[:8]}.db"
    elif kind == "sqlite-memory":
        yield "sqlite://"
    elif kind == "postgres":
        with postgres_schema() as schema:
            yield with_query(POSTGRES_URL, "options=" + quote(f"-csearch_path={schema}"))
    elif kind == "redis":
        prefix = f"t-{uuid.uuid4().hex}"
        try:
            yield with_query(REDIS_URL, f"prefix={prefix}")
        finally:
            _delete_redis_keys(prefix)
    else:
        raise ValueError(f"unknown store kind {kind!r}; one of {ALL_KINDS}")


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A new empty schema in the test database, dropped (with its tables) afterwards."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            # A store left open by a failed test must not hang the drop forever.
            conn.execute("SET lock_timeout = '30s'")
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def with_query(url: str, parameter: str) -> str:
    """``url`` with one more query parameter."""
    return f"{url}{'&' if '?' in url else '?'}{parameter}"


def execute_sql(url: str, statement: str, params: dict[str, Any] | None = None) -> list[Any]:
    """Run one SQL statement against the database behind a ``sql`` store URL, outside
    the store (to tamper with rows or read them raw); returns the rows, if any."""
    import sqlalchemy as sa

    from corrigo.storage.sql import engine_url

    engine = sa.create_engine(engine_url(url))
    try:
        with engine.begin() as conn:
            result = conn.execute(sa.text(statement), params or {})
            return list(result.all()) if result.returns_rows else []
    finally:
        engine.dispose()


def _delete_redis_keys(prefix: str) -> None:
    try:
        import redis
    except ImportError:
        return
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
    finally:
        client.close()
