"""The ``sql`` store, whole: its runs, lessons and benches over one set of engines."""

from __future__ import annotations

from corrigo.storage.base import TrajectoryStore
from corrigo.storage.sql.benches import SQLBenches
from corrigo.storage.sql.lessons import SQLLessons
from corrigo.storage.sql.runs import SQLRuns


class SQLStore(SQLRuns, SQLLessons, SQLBenches, TrajectoryStore):
    """A :class:`~corrigo.storage.base.TrajectoryStore` on SQLite or PostgreSQL, by URL
    (see :mod:`corrigo.storage.sql`). Nothing connects until ``open()``."""
