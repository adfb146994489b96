"""A run's model-call budgets, kept call by call: reserve before asking, settle after.

The graph's ``spend`` channel adds up only when a super-step ends, so every call of a
parallel wave (``Send`` fan-out) sees the spending from before the wave: checked there
alone, a wave could overshoot a budget by all of its calls. The :class:`Ledger` sees each
call as it starts. A call first reserves its worst case: one call, its prompt's tokens
(estimated on the high side: a token per three bytes of text, plus four per message)
and the most its reply may be (the role's ``max_tokens``, else the model's own cap,
else ``UNCAPPED_REPLY``), and what those tokens cost at the model's price. It is made
only if that fits in what is left once finished calls and calls still in flight are
counted; when it returns, its reservation is replaced by what it really spent.

So calls made together stay within ``max_model_calls``, ``max_tokens`` and ``max_cost``
as long as the prompt estimate holds and no reply outgrows its cap (a model with no cap
of its own, such as a script, is assumed to stay under ``UNCAPPED_REPLY``). A call that
does not fit is not made, and the branch that wanted it reports the budget by name.
Rounds, wall-clock seconds and sandbox seconds are not reserved: they are checked
between steps (:mod:`corrigo.graphs.policies`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from corrigo.models.pricing import Price
from corrigo.records import BudgetName, Budgets, Message, Spend, Step

#: The reply size reserved for a model without a token cap of its own.
UNCAPPED_REPLY = 1024
# Slack for adding up dollars in floating point.
_EPSILON = 1e-9


def prompt_tokens(messages: Sequence[Message]) -> int:
    """A high estimate of a prompt's tokens: a token per three bytes, four per message."""
    return sum(-(-len(m.content.encode("utf-8")) // 3) + 4 for m in messages)


def worst_case(messages: Sequence[Message], reply_tokens: int, price: Price | None) -> Spend:
    """The most one call may spend: its prompt, a reply of ``reply_tokens``, their cost."""
    tokens_in = prompt_tokens(messages)
    if price is None:
        return Spend(calls=1, tokens_in=tokens_in, tokens_out=reply_tokens, unpriced=1)
    cost = price.cost(tokens_in, reply_tokens)
    return Spend(calls=1, tokens_in=tokens_in, tokens_out=reply_tokens, cost=cost)


def step_spend(step: Step) -> Spend:
    """What a stored model step spent (a failed call: the call, nothing more)."""
    unpriced = 1 if step.cost is None and step.error is None else 0
    return Spend(
        calls=1,
        tokens_in=step.usage.tokens_in,
        tokens_out=step.usage.tokens_out,
        cost=step.cost or 0.0,
        unpriced=unpriced,
    )


class Ledger:
    """What a run's model calls have spent (``spent``) and what calls in flight hold
    (``held``). :meth:`reserve` and :meth:`settle` run without awaiting in between
    checks and updates, so the calls of one event loop cannot race past a budget."""

    def __init__(self, budgets: Budgets, spent: Spend | None = None) -> None:
        self.budgets = budgets
        self.spent = spent or Spend()
        self.held = Spend()

    @classmethod
    def opening(cls, budgets: Budgets, steps: Iterable[Step]) -> Ledger:
        """A ledger that starts from the model steps a run has stored (resuming it)."""
        spent = Spend()
        for step in steps:
            if step.kind == "model":
                spent = spent + step_spend(step)
        return cls(budgets, spent)

    @property
    def used(self) -> Spend:
        return self.spent + self.held

    def short(self, worst: Spend) -> BudgetName | None:
        """The budget ``worst`` does not fit in, or None."""
        budgets, used = self.budgets, self.used
        if used.calls + worst.calls > budgets.max_model_calls:
            return "model_calls"
        if used.tokens + worst.tokens > budgets.max_tokens:
            return "tokens"
        if budgets.max_cost is not None:
            if worst.unpriced:  # no price: nothing bounds what the call costs
                return "cost"
            if used.cost + worst.cost > budgets.max_cost + _EPSILON:
                return "cost"
        return None

    def reserve(self, worst: Spend) -> BudgetName | None:
        """Hold ``worst`` for a call about to be made; or, when it does not fit, hold
        nothing and name the budget."""
        missing = self.short(worst)
        if missing is None:
            self.held = self.held + worst
        return missing

    def settle(self, worst: Spend, actual: Spend) -> None:
        """A reserved call has ended: release ``worst``, count ``actual``."""
        self.held = self.held - worst
        self.spent = self.spent + actual

    def count(self, actual: Spend) -> None:
        """Count a call made without a reservation (a recorded reply in a replay)."""
        self.spent = self.spent + actual
