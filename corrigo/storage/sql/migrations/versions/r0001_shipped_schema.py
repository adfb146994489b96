"""The schema corrigo shipped before migrations: runs, steps, reflections, benches.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

A store written by that code has these tables and no version table; the oldest ones
lack ``corrigo_benches``. Each table is created only when missing, so upgrading such a
store from nothing is the same as stamping it at 0001.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "corrigo_runs" not in existing:
        op.create_table(
            "corrigo_runs",
            sa.Column("id", sa.String(64), primary_key=True),
            sa.Column("batch_id", sa.String(512)),
            sa.Column("task_id", sa.String(256), nullable=False),
            sa.Column("strategy", sa.String(64), nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("record", sa.Text, nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        )
        op.create_index("ix_corrigo_runs_batch_id", "corrigo_runs", ["batch_id"])
        op.create_index("ix_corrigo_runs_created_at", "corrigo_runs", ["created_at"])
    if "corrigo_steps" not in existing:
        op.create_table(
            "corrigo_steps",
            sa.Column("run_id", sa.String(64), sa.ForeignKey("corrigo_runs.id"), primary_key=True),
            sa.Column("seq", sa.Integer, primary_key=True),
            sa.Column("role", sa.String(32), nullable=False),
            sa.Column("kind", sa.String(16), nullable=False),
            sa.Column("record", sa.Text, nullable=False),
        )
    if "corrigo_reflections" not in existing:
        op.create_table(
            "corrigo_reflections",
            sa.Column("id", sa.String(64), primary_key=True),
            sa.Column("scope_key", sa.String(256)),
            sa.Column("text", sa.Text, nullable=False),
            sa.Column("record", sa.Text, nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        )
        op.create_index("ix_corrigo_reflections_scope_key", "corrigo_reflections", ["scope_key"])
    if "corrigo_benches" not in existing:
        op.create_table(
            "corrigo_benches",
            sa.Column("id", sa.String(64), primary_key=True),
            sa.Column("record", sa.Text, nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        )
        op.create_index("ix_corrigo_benches_created_at", "corrigo_benches", ["created_at"])


def downgrade() -> None:
    raise NotImplementedError("corrigo's migrations go forward only")
