"""What a store promises about benches.

A bench is only its spec (a task × strategy × model grid): its runs are ordinary runs,
found again by their cells' batch ids (:meth:`~corrigo.records.BenchSpec.cell_batch`),
so a bench interrupted half-way resumes by asking the run store what is finished.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from corrigo.records import BenchSpec


class BenchStore(ABC):
    """Bench specs, in an opened store."""

    @abstractmethod
    async def save_bench(self, spec: BenchSpec) -> None:
        """Store a bench's spec; saving the same spec again is a no-op, another one an error."""

    @abstractmethod
    async def get_bench(self, bench_id: str) -> BenchSpec:
        """The bench with this id, a unique prefix of 6+ characters, or ``"last"`` (the newest).

        Raises RunNotFound when there is no such bench.
        """

    @abstractmethod
    async def list_benches(self, limit: int = 50) -> list[BenchSpec]:
        """Most recent benches first."""
