"""Benches: a grid of tasks × strategies × models, stored so it can be resumed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from corrigo.records.base import Record, new_id, utcnow


class BenchSpec(Record):
    """A grid of runs: every task of ``suite`` × every strategy × every model."""

    id: str = Field(default_factory=lambda: new_id("bench_"))
    suite: str
    strategies: list[str]
    models: list[str]
    limit: int | None = None
    max_rounds: int = 3
    # Each run's cost budget in dollars (None: none).
    max_cost: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    params: dict[str, Any] = Field(default_factory=dict)
    sandbox: str = "process"
    corrigo_version: str = ""
    created_at: datetime = Field(default_factory=utcnow)

    def cell_batch(self, strategy: str, model: str) -> str:
        """The batch id of one cell's runs: how a cell's finished tasks are found again."""
        return f"{self.id}/{strategy}/{model}"
