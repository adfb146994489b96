"""``multi_agent``: several solvers, a reviewer that ranks them, a refiner that fixes the
most promising (after MapCoder / AgentCoder's separate roles).

Round one: ``solvers`` candidates in parallel (one greedy, the rest at temperature).
If none passes, the reviewer sees them all with their test results, picks the most
promising (the tests decide first; its pick breaks ties) and names its fault; the
refiner fixes that one with the failures and the reviewer's diagnosis. Later rounds
review the single refined candidate the same way.
"""

from __future__ import annotations

from langgraph.runtime import Runtime
from langgraph.types import Send

from corrigo.graphs import nodes
from corrigo.graphs.context import RunContext
from corrigo.graphs.policies import stop_check
from corrigo.graphs.registry import Strategy
from corrigo.graphs.routes import Graph, after_propose, fresh_or, new_graph, unless_error
from corrigo.graphs.selection import rank
from corrigo.graphs.state import Branch, LoopState


def solvers(state: LoopState, runtime: Runtime[RunContext]) -> list[Send]:
    count = int(runtime.context.param("solvers", 3))
    return [Send("sample", {"round": 1, "index": i}) for i in range(count)]


def after_verify(state: LoopState, runtime: Runtime[RunContext]) -> str:
    ctx = runtime.context
    if stop_check(state, ctx, next_calls=2):
        return "score"
    return fresh_or(state, ctx, "rank")


def build() -> Graph:
    graph = new_graph()
    graph.add_node("sample", nodes.sample, input_schema=Branch)  # type: ignore[call-overload]
    graph.add_node("rank", rank)
    graph.add_node("refine", nodes.refine)
    graph.add_node("fresh", nodes.fresh)
    graph.add_conditional_edges("design_tests", solvers, ["sample"])
    graph.add_edge("sample", "verify")
    graph.add_conditional_edges("verify", after_verify, ["rank", "fresh", "score"])
    graph.add_conditional_edges("rank", unless_error("refine"), ["refine", "score"])
    for name in ("refine", "fresh"):
        graph.add_conditional_edges(name, after_propose, ["verify", "score"])
    return graph


STRATEGY = Strategy(
    "multi_agent",
    build,
    roles=("solver", "reviewer", "refiner", "test_designer"),
    params={"solvers": 3, "temperature": 0.8},
)
