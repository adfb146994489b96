"""Run owners, exact model filters, lesson counters and scope statistics.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02

- ``corrigo_runs.owner``: the process running it, compare-and-set by ``claim_run``.
- ``corrigo_run_models``: each model spec of a run's roles, so ``list_runs`` matches a
  model exactly without decoding records.
- Indexes for ``list_runs``: newest first overall and within a status, task or strategy.
- ``corrigo_reflections``: ``scope``, ``status``, ``uses``, ``helped`` as columns, so
  counts are atomic increments.
- ``corrigo_lesson_scopes``: finished runs and passes per lesson scope.

Existing rows are filled from their JSON records (read as plain JSON, not through
today's record classes): model rows and owners of runs, counters, scope and status of
lessons. A record that is not valid JSON is left as it is; reading it still fails
loudly, as before.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_PAGE = 500


def upgrade() -> None:
    op.add_column("corrigo_runs", sa.Column("owner", sa.String(256)))
    op.drop_index("ix_corrigo_runs_created_at", table_name="corrigo_runs")
    op.create_index("ix_corrigo_runs_created", "corrigo_runs", ["created_at", "id"])
    op.create_index("ix_corrigo_runs_status_created", "corrigo_runs", ["status", "created_at"])
    op.create_index("ix_corrigo_runs_task_created", "corrigo_runs", ["task_id", "created_at"])
    op.create_index("ix_corrigo_runs_strategy_created", "corrigo_runs", ["strategy", "created_at"])
    op.create_table(
        "corrigo_run_models",
        sa.Column("run_id", sa.String(64), sa.ForeignKey("corrigo_runs.id"), primary_key=True),
        sa.Column("model", sa.Text, primary_key=True),
    )
    op.create_index("ix_corrigo_run_models_model", "corrigo_run_models", ["model", "run_id"])

    op.add_column(
        "corrigo_reflections",
        sa.Column("scope", sa.String(16), nullable=False, server_default="task"),
    )
    op.add_column(
        "corrigo_reflections",
        sa.Column("status", sa.String(16), nullable=False, server_default="active"),
    )
    op.add_column(
        "corrigo_reflections",
        sa.Column("uses", sa.Integer, nullable=False, server_default="0"),
    )
    op.add_column(
        "corrigo_reflections",
        sa.Column("helped", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_corrigo_reflections_created", "corrigo_reflections", ["created_at", "id"])
    op.create_table(
        "corrigo_lesson_scopes",
        sa.Column("scope_key", sa.String(256), primary_key=True),
        sa.Column("runs", sa.Integer, nullable=False, server_default="0"),
        sa.Column("passed", sa.Integer, nullable=False, server_default="0"),
    )
    _fill_runs()
    _fill_reflections()


def downgrade() -> None:
    raise NotImplementedError("corrigo's migrations go forward only")


_runs = sa.table("corrigo_runs", sa.column("id"), sa.column("record"), sa.column("owner"))
_run_models = sa.table("corrigo_run_models", sa.column("run_id"), sa.column("model"))
_reflections = sa.table(
    "corrigo_reflections",
    sa.column("id"),
    sa.column("record"),
    sa.column("scope"),
    sa.column("status"),
    sa.column("uses"),
    sa.column("helped"),
)


def _fill_runs() -> None:
    bind = op.get_bind()
    for run_id, data in _records(bind, _runs):
        spec = data.get("spec")
        roles = spec.get("roles") if isinstance(spec, dict) else None
        models = sorted(
            {m for m in roles.values() if isinstance(m, str)} if isinstance(roles, dict) else ()
        )
        if models:
            bind.execute(_run_models.insert(), [{"run_id": run_id, "model": m} for m in models])
        owner = data.get("owner")
        if isinstance(owner, str):
            bind.execute(_runs.update().where(_runs.c.id == run_id).values(owner=owner))


def _fill_reflections() -> None:
    bind = op.get_bind()
    for reflection_id, data in _records(bind, _reflections):
        values: dict[str, Any] = {}
        for name, kind in (("uses", int), ("helped", int), ("scope", str), ("status", str)):
            value = data.get(name)
            if isinstance(value, kind) and not isinstance(value, bool):
                values[name] = value
        if values:
            bind.execute(
                _reflections.update().where(_reflections.c.id == reflection_id).values(**values)
            )


def _records(bind: sa.Connection, table: sa.TableClause) -> Iterator[tuple[str, dict[str, Any]]]:
    """(id, decoded JSON object) of every row, a page at a time, in id order."""
    after = ""
    while True:
        page = bind.execute(
            sa.select(table.c.id, table.c.record)
            .where(table.c.id > after)
            .order_by(table.c.id)
            .limit(_PAGE)
        ).all()
        if not page:
            return
        for row_id, text in page:
            try:
                data = json.loads(text)
            except (TypeError, ValueError):
                continue
            if isinstance(data, dict):
                yield row_id, data
        after = page[-1][0]
