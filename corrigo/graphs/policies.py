"""Rules every strategy shares: which candidate is best, when a run stops, and why.

**Monotone rule.** The returned candidate is the best one the run has verified, by
(visible score, generated-test score where used, size of its agreement group), the
earliest winning what is still tied; a later round can never replace a better earlier
candidate.

**Stop policy** (``stop_check``, used by every strategy's edges and by the score node
to record the reason): ``error`` when a model call failed; ``verified`` when the best
candidate passes its gate; ``no_progress`` after rounds that brought nothing new (a
repeated candidate, or the same failure again); ``budget_exhausted`` when rounds, model
calls, tokens, dollars, wall seconds or sandbox seconds run out, with the budget named
(:func:`exhausted_budget`). Model calls, tokens and dollars are also reserved call by
call (:mod:`corrigo.graphs.ledger`): a call that did not fit ends the run on its budget.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence

from corrigo.graphs.context import RunContext
from corrigo.graphs.state import LoopState
from corrigo.records import Attempt, BudgetName, Spend


def agreement(attempts: Sequence[Attempt], outputs: Mapping[str, list[str]]) -> dict[str, int]:
    """For each candidate whose outputs are known, how many candidates share them.

    Outputs are recorded once per distinct code; a repeated sample shares its twin's."""
    by_code = {
        a.candidate.code: tuple(outputs[a.candidate.key])
        for a in attempts
        if a.candidate.key in outputs
    }
    vectors = {
        a.candidate.key: by_code[a.candidate.code] for a in attempts if a.candidate.code in by_code
    }
    sizes = Counter(vectors.values())
    return {key: sizes[vector] for key, vector in vectors.items()}


def rank_key(attempt: Attempt, agree: Mapping[str, int]) -> tuple[float, float, int]:
    return (
        attempt.verdict.score,
        attempt.generated_score if attempt.generated_score is not None else 0.0,
        agree.get(attempt.candidate.key, 0),
    )


def _top(
    attempts: Sequence[Attempt], outputs: Mapping[str, list[str]] | None, latest: bool
) -> Attempt | None:
    """A best-ranked candidate (one with code when any has); ``max`` keeps the first of
    a tie, so ``latest`` looks at the attempts newest first."""
    usable = [a for a in attempts if a.candidate.extracted] or list(attempts)
    if not usable:
        return None
    agree = agreement(usable, outputs or {})
    return max(reversed(usable) if latest else usable, key=lambda a: rank_key(a, agree))


def best_attempt(
    attempts: Sequence[Attempt], outputs: Mapping[str, list[str]] | None = None
) -> Attempt | None:
    """The best verified candidate; the earliest wins ties."""
    return _top(attempts, outputs, latest=False)


def focus_attempt(
    attempts: Sequence[Attempt], outputs: Mapping[str, list[str]] | None = None
) -> Attempt | None:
    """The candidate to revise next: a best one, the latest winning ties (a revision as
    good as its parent is worked on, so a loop does not send the same prompt again)."""
    return _top(attempts, outputs, latest=True)


def answer_attempt(
    attempts: Sequence[Attempt], outputs: Mapping[str, list[str]] | None, keep: str
) -> Attempt | None:
    """The attempt a run returns: the best verified one, or with ``keep="last"`` the
    latest (``intrinsic``: with no signal from outside the model there is nothing to
    choose by, so the last revision is the answer, as in the literature)."""
    if keep == "last":
        return attempts[-1] if attempts else None
    return best_attempt(attempts, outputs)


def first_attempt(attempts: Sequence[Attempt]) -> Attempt | None:
    """The first round's first candidate: what a single attempt would have returned."""
    return attempts[0] if attempts else None


def gate_passed(
    ctx: RunContext,
    attempt: Attempt,
    attempts: Sequence[Attempt] = (),
    outputs: Mapping[str, list[str]] | None = None,
) -> bool:
    """Visible tests pass. A task without visible tests needs more than loading cleanly:
    its generated tests pass, or ``agree`` candidates return the same outputs as this one
    on the generated inputs."""
    if not attempt.verdict.passed:
        return False
    if ctx.task.kind != "code" or ctx.task.visible_tests or attempt.generated_passed:
        return True
    sizes = agreement(attempts, outputs or {})
    return sizes.get(attempt.candidate.key, 0) >= int(ctx.param("agree", 2))


def spent(state: LoopState) -> Spend:
    return state.get("spend") or Spend()


def exhausted_budget(state: LoopState, ctx: RunContext, next_calls: int = 1) -> BudgetName | None:
    """The budget that has run out, or None: one a model call did not fit, else model
    calls (no room for ``next_calls`` more), tokens, dollars, wall seconds or sandbox
    seconds. Calls, tokens and dollars are the ledger's (it counts every finished call
    at once, where the state's ``spend`` waits for the end of a super-step)."""
    refused = state.get("exhausted")
    if refused:
        return refused[0]  # type: ignore[return-value]
    budgets, state_spend, ledger = ctx.budgets, spent(state), ctx.ledger.used
    if max(ledger.calls, state_spend.calls) + next_calls > budgets.max_model_calls:
        return "model_calls"
    if max(ledger.tokens, state_spend.tokens) >= budgets.max_tokens:
        return "tokens"
    if budgets.max_cost is not None and max(ledger.cost, state_spend.cost) >= budgets.max_cost:
        return "cost"
    if time.time() - ctx.started >= budgets.max_seconds:
        return "seconds"
    if state_spend.sandbox_seconds >= budgets.max_sandbox_seconds:
        return "sandbox_seconds"
    return None


def over_budget(state: LoopState, ctx: RunContext, next_calls: int = 1) -> bool:
    return exhausted_budget(state, ctx, next_calls) is not None


def stop_budget(state: LoopState, ctx: RunContext, next_calls: int = 1) -> BudgetName | None:
    """Why a run stops for budget: a call that did not fit, the rounds, or another
    budget run out (:func:`exhausted_budget`)."""
    if not state.get("exhausted") and state.get("round", 0) >= ctx.max_rounds:
        return "rounds"
    return exhausted_budget(state, ctx, next_calls)


def stop_check(
    state: LoopState, ctx: RunContext, *, next_calls: int = 1, verified: bool | None = None
) -> str | None:
    """Why the run should stop now, or None to go on. ``verified`` overrides the gate.

    A verified answer wins over an error: a failed call in a parallel wave does not
    undo a sibling's passing candidate."""
    attempts = state.get("attempts") or []
    outputs = state.get("outputs")
    best = best_attempt(attempts, outputs)
    if verified is None:
        verified = best is not None and gate_passed(ctx, best, attempts, outputs)
    if verified:
        return "verified"
    if state.get("errors"):
        return "error"
    if state.get("exhausted"):
        return "budget_exhausted"
    if state.get("stale", 0) >= int(ctx.param("max_stale", 2)):
        return "no_progress"
    if stop_budget(state, ctx, next_calls):
        return "budget_exhausted"
    return None
