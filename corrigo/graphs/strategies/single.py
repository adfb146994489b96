"""``single``: one attempt, verified and scored; never retries.

The baseline every report compares against. It feeds nothing back: the solver's first
reply is the answer (its visible-test verdict is recorded, and decides nothing).
"""

from __future__ import annotations

from corrigo.graphs import nodes
from corrigo.graphs.registry import Strategy
from corrigo.graphs.routes import Graph, after_propose, new_graph


def build() -> Graph:
    graph = new_graph()
    graph.add_node("solve", nodes.solve)
    graph.add_edge("design_tests", "solve")
    graph.add_conditional_edges("solve", after_propose, ["verify", "score"])
    graph.add_edge("verify", "score")
    return graph


STRATEGY = Strategy("single", build, roles=("solver",), params={"tests": "never"})
