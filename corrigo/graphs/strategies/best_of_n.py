"""``best_of_n``: sample, filter by tests, select by execution agreement.

The first wave is one greedy sample (what ``single`` returns); later waves draw samples
at temperature in parallel (``Send`` fan-out), up to ``n`` in all. Candidates are
ranked by visible tests, then by how many candidates return the same outputs on the
generated inputs (self-consistency over executions, MBR-exec). The generated tests'
expected values are not used by default (``expected=False``): a small model's expected
values are often wrong, and a wrong test that two degenerate samples happen to pass
would outvote the majority; with ``expected=True`` they rank before agreement (CodeT-like). Sampling stops early once a candidate passes the tests and — where
there are generated inputs to compare on — ``agree`` candidates agree with it
(early-stopping self-consistency): easy tasks cost one sample, hard ones up to ``n``.
Nothing is fed back to the model: feedback here is selection. A wave goes out while a
call fits the budgets; each sample reserves its call (:mod:`corrigo.graphs.ledger`), so
a wave is cut where the budget ends instead of overshooting it.

On math tasks the vote is over final answers compared as mathematics
(self-consistency), each sample also checked against the run's independent program;
sampling stops once ``agree`` votes name one answer, the program's agreement counting
as a vote. On instructions tasks a sample that follows every instruction stops it.
"""

from __future__ import annotations

import math
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import Send

from corrigo.graphs import nodes
from corrigo.graphs.context import RunContext
from corrigo.graphs.policies import agreement, best_attempt, gate_passed, stop_check
from corrigo.graphs.registry import Strategy
from corrigo.graphs.routes import Graph, new_graph
from corrigo.graphs.selection import agree, largest_agreement
from corrigo.graphs.state import Branch, LoopState


def wave(state: LoopState, ctx: RunContext) -> list[Send]:
    """The next wave of samples: one greedy sample first, then the rest in equal waves."""
    n = int(ctx.param("n", 8))
    drawn = len(state.get("attempts") or []) + len(state.get("pending") or [])
    if drawn >= n:
        return []
    round_ = state.get("round", 0) + 1
    size = 1 if round_ == 1 else math.ceil((n - 1) / max(1, ctx.max_rounds - 1))
    size = min(size, n - drawn)
    return [Send("sample", {"round": round_, "index": drawn + i}) for i in range(size)]


def enough(state: LoopState, ctx: RunContext) -> bool:
    """A passing candidate, agreed on by ``agree`` samples when there are inputs to compare."""
    attempts, outputs = state.get("attempts") or [], state.get("outputs")
    best = best_attempt(attempts, outputs)
    if ctx.task.kind == "math":
        if best is None or not best.candidate.extracted:
            return False
        # Self-consistency with early stop: ``agree`` votes for one final answer, the
        # independent program counting as one when it agrees.
        votes = agreement(attempts, outputs or {}).get(best.candidate.key, 1)
        return votes + int(best.verdict.passed) >= int(ctx.param("agree", 2))
    if best is None or not best.verdict.passed:
        return False
    if not state.get("probes"):
        # Nothing to compare outputs on: a passing candidate is enough where there are
        # visible tests; without them, nothing here can say which sample is right.
        return gate_passed(ctx, best, attempts, outputs)
    return largest_agreement(state) >= int(ctx.param("agree", 2))


def start(state: LoopState, runtime: Runtime[RunContext]) -> list[Send] | str:
    return wave(state, runtime.context) or "score"


def after_select(state: LoopState, runtime: Runtime[RunContext]) -> list[Send] | str:
    ctx = runtime.context
    if enough(state, ctx):
        return "score"
    nxt = wave(state, ctx)
    if not nxt or stop_check(state, ctx, next_calls=1, verified=False):
        return "score"
    return nxt


async def select(state: LoopState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Agreement of executions (code); on math, votes that agree are the verification
    (self-consistency), which the stop reason records."""
    update = await agree(state, runtime)
    if runtime.context.task.kind == "math" and enough(state, runtime.context):
        update["stop_reason"] = "verified"
    return update


def build() -> Graph:
    graph = new_graph()
    graph.add_node("sample", nodes.sample, input_schema=Branch)  # type: ignore[call-overload]
    graph.add_node("agree", select)
    graph.add_conditional_edges("design_tests", start, ["sample", "score"])
    graph.add_edge("sample", "verify")
    graph.add_edge("verify", "agree")
    graph.add_conditional_edges("agree", after_select, ["sample", "score"])
    return graph


STRATEGY = Strategy(
    "best_of_n",
    build,
    roles=("solver", "test_designer"),
    params={"n": 8, "agree": 2, "temperature": 0.8, "tests": "auto", "expected": False},
)
