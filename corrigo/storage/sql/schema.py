"""The ``sql`` store's tables, as the newest migration leaves them.

The schema is versioned with Alembic (:mod:`corrigo.storage.sql.migrations`): these
definitions and the migrations must describe the same tables, which
``tests/test_migrations.py`` checks with Alembic's ``compare_metadata``. Change one, add
a revision for the other.

Every record is stored whole as pydantic JSON text in a ``record`` column; the other
columns are copies of the fields queries filter or sort on. Columns the store updates
in place are the truth and are merged into the decoded record on every read:
``corrigo_runs.owner`` (compare-and-set by ``claim_run``) and the lesson counters and
status of ``corrigo_reflections`` (atomic increments).

Lessons were once called reflections: their table keeps that name (``lessons`` here),
so stores written before the rename open without a migration.
"""

from __future__ import annotations

import sqlalchemy as sa

# The version table and the newest revision, which these tables match: defined with the
# reads that need no SQLAlchemy, which check a SQLite file's revision too.
from corrigo.storage.sql.direct import HEAD_REVISION as HEAD_REVISION
from corrigo.storage.sql.direct import VERSION_TABLE as VERSION_TABLE

metadata = sa.MetaData()

runs = sa.Table(
    "corrigo_runs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    # Wide enough for a bench cell's batch: "<bench id>/<strategy>/<model spec>".
    sa.Column("batch_id", sa.String(512), index=True),
    sa.Column("task_id", sa.String(256), nullable=False),
    sa.Column("strategy", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("record", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    # The owning process ("host/pid/start"); the record's own copy is only its first.
    sa.Column("owner", sa.String(256)),
    # list_runs orders by (created_at, id) and filters by one column at most cheaply.
    sa.Index("ix_corrigo_runs_created", "created_at", "id"),
    sa.Index("ix_corrigo_runs_status_created", "status", "created_at"),
    sa.Index("ix_corrigo_runs_task_created", "task_id", "created_at"),
    sa.Index("ix_corrigo_runs_strategy_created", "strategy", "created_at"),
)

# Each model spec a run's roles use, once: list_runs(model=...) matches it exactly.
run_models = sa.Table(
    "corrigo_run_models",
    metadata,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("corrigo_runs.id"), primary_key=True),
    sa.Column("model", sa.Text, primary_key=True),
    sa.Index("ix_corrigo_run_models_model", "model", "run_id"),
)

steps = sa.Table(
    "corrigo_steps",
    metadata,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("corrigo_runs.id"), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("record", sa.Text, nullable=False),
)

lessons = sa.Table(
    "corrigo_reflections",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("scope_key", sa.String(256), index=True),
    # The lesson's text for search (NUL removed: PostgreSQL text cannot hold it).
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("record", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("scope", sa.String(16), nullable=False, server_default="task"),
    sa.Column("status", sa.String(16), nullable=False, server_default="active"),
    sa.Column("uses", sa.Integer, nullable=False, server_default="0"),
    sa.Column("helped", sa.Integer, nullable=False, server_default="0"),
    sa.Index("ix_corrigo_reflections_created", "created_at", "id"),
)

# Finished runs with lessons enabled, per scope key, and how many of them passed.
lesson_scopes = sa.Table(
    "corrigo_lesson_scopes",
    metadata,
    sa.Column("scope_key", sa.String(256), primary_key=True),
    sa.Column("runs", sa.Integer, nullable=False, server_default="0"),
    sa.Column("passed", sa.Integer, nullable=False, server_default="0"),
)

benches = sa.Table(
    "corrigo_benches",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("record", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
)
