"""The ``redis`` store, whole: its runs, lessons and benches over one client."""

from __future__ import annotations

from corrigo.storage.base import TrajectoryStore
from corrigo.storage.redis.benches import RedisBenches
from corrigo.storage.redis.lessons import RedisLessons
from corrigo.storage.redis.runs import RedisRuns


class RedisStore(RedisRuns, RedisLessons, RedisBenches, TrajectoryStore):
    """A :class:`~corrigo.storage.base.TrajectoryStore` on plain Redis types, by URL (see
    :mod:`corrigo.storage.redis` for the keys). Nothing connects until ``open()``."""
