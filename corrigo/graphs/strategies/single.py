"""``single``: one attempt, verified and scored; never retries.

The baseline every report compares against. It feeds nothing back: the solver's first
reply is the answer (its visible-test verdict is recorded, and decides nothing). On math
tasks it is not checked at all: the check asks the model for programs, calls that would
decide nothing and be counted against the baseline's cost.
"""

from __future__ import annotations

from langgraph.runtime import Runtime

from corrigo.graphs import nodes
from corrigo.graphs.context import RunContext
from corrigo.graphs.registry import Strategy
from corrigo.graphs.routes import Graph, after_propose, new_graph
from corrigo.graphs.state import LoopState


def after_solve(state: LoopState, runtime: Runtime[RunContext]) -> str:
    route = after_propose(state)
    return "accept" if route == "verify" and runtime.context.task.kind == "math" else route


def build() -> Graph:
    graph = new_graph()
    graph.add_node("solve", nodes.solve)
    graph.add_node("accept", nodes.accept)
    graph.add_edge("design_tests", "solve")
    graph.add_conditional_edges("solve", after_solve, ["verify", "accept", "score"])
    graph.add_edge("verify", "score")
    graph.add_edge("accept", "score")
    return graph


STRATEGY = Strategy(
    "single", build, roles=("solver",), params={"tests": "never"}, math_checks=False
)
