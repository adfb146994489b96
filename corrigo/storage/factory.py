"""Stores chosen by URL: the one place that knows every backend.

The backends import their drivers (SQLAlchemy, redis-py) only when they are chosen,
so opening a SQLite store never needs the redis extra. Nothing else under
:mod:`corrigo.storage` imports this module: the interface and the backends stay
beneath it, and a new backend is one more branch here.
"""

from __future__ import annotations

from corrigo.errors import StoreUnavailable
from corrigo.storage.base import TrajectoryStore
from corrigo.storage.urls import redact_url

__all__ = ["open_store", "redact_url"]


def open_store(url: str) -> TrajectoryStore:
    """A store for ``url`` (not yet opened): SQLAlchemy URLs (sqlite, postgresql) or
    redis URLs."""
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme in {"sqlite", "postgresql", "postgres"}:
        from corrigo.storage.sql import SQLStore

        return SQLStore(url)
    if scheme in {"redis", "rediss"}:
        from corrigo.storage.redis import RedisStore

        return RedisStore(url)
    raise StoreUnavailable(f"cannot open store {url!r}: unknown URL scheme {scheme!r}")
