"""``self_debug``: execution feedback straight to the fixer (Self-Debugging, Chen et al.).

Feeds back, for each failing test, the call, the value expected and the value the code
returned — or the exception and the candidate's line that raised it — and asks the
model to trace the code on that input before fixing it. No separate reviewer: the
execution is the critique. A fix that repeats itself gets a fresh sample instead.
"""

from __future__ import annotations

from langgraph.runtime import Runtime

from corrigo.graphs import nodes
from corrigo.graphs.context import RunContext
from corrigo.graphs.policies import stop_check
from corrigo.graphs.registry import Strategy
from corrigo.graphs.routes import Graph, after_propose, fresh_or, new_graph
from corrigo.graphs.state import LoopState


def after_verify(state: LoopState, runtime: Runtime[RunContext]) -> str:
    ctx = runtime.context
    if stop_check(state, ctx):
        return "score"
    return fresh_or(state, ctx, "debug")


def build() -> Graph:
    graph = new_graph()
    for name, node in (("solve", nodes.solve), ("debug", nodes.debug), ("fresh", nodes.fresh)):
        graph.add_node(name, node)
        graph.add_conditional_edges(name, after_propose, ["verify", "score"])
    graph.add_edge("design_tests", "solve")
    graph.add_conditional_edges("verify", after_verify, ["debug", "fresh", "score"])
    return graph


STRATEGY = Strategy(
    "self_debug",
    build,
    roles=("solver", "refiner", "test_designer"),
    params={"trace": True},
    kinds=("code",),  # its feedback is a failing call's values and trace
)
