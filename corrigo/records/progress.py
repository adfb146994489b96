"""What a strategy graph carries and its checkpointer stores: attempts and spending."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from corrigo.records.results import Candidate, Verdict

# What graphs carry and the checkpointer stores: shared by graphs and storage.


class Spend(BaseModel):
    """What a node spent; the ``spend`` channel sums them. ``cost`` is the dollars of
    the priced calls; ``unpriced`` counts calls whose model has no price."""

    model_config = ConfigDict(frozen=True)

    calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    sandbox_seconds: float = 0.0
    cost: float = 0.0
    unpriced: int = 0

    def __add__(self, other: Spend) -> Spend:
        return Spend(
            calls=self.calls + other.calls,
            tokens_in=self.tokens_in + other.tokens_in,
            tokens_out=self.tokens_out + other.tokens_out,
            sandbox_seconds=self.sandbox_seconds + other.sandbox_seconds,
            cost=self.cost + other.cost,
            unpriced=self.unpriced + other.unpriced,
        )

    def __sub__(self, other: Spend) -> Spend:
        return Spend(
            calls=self.calls - other.calls,
            tokens_in=self.tokens_in - other.tokens_in,
            tokens_out=self.tokens_out - other.tokens_out,
            sandbox_seconds=self.sandbox_seconds - other.sandbox_seconds,
            cost=self.cost - other.cost,
            unpriced=self.unpriced - other.unpriced,
        )

    @property
    def known_cost(self) -> float | None:
        """The dollars spent, or None when some call's cost is unknown."""
        return None if self.unpriced else round(self.cost, 12)

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out


class Attempt(BaseModel):
    """A candidate and what the verifier found: visible tests, and generated ones if any."""

    model_config = ConfigDict(frozen=True)

    candidate: Candidate
    verdict: Verdict
    generated_score: float | None = None
    generated_passed: bool | None = None
    repeat: bool = False
