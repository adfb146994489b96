"""``refine``: critique → revise (Self-Refine, grounded in test execution).

Feeds back the visible (and generated) tests' failures to a reviewer, whose critique
goes with the failures to the refiner. A round whose candidate repeats an earlier one,
or fails in the same way, gets a fresh sample from the solver; a second such round
stops the run (``no_progress``).
"""

from __future__ import annotations

from langgraph.runtime import Runtime

from corrigo.graphs import nodes
from corrigo.graphs.context import RunContext
from corrigo.graphs.policies import stop_check
from corrigo.graphs.registry import Strategy
from corrigo.graphs.routes import Graph, after_propose, fresh_or, new_graph, unless_error
from corrigo.graphs.state import LoopState


def after_verify(state: LoopState, runtime: Runtime[RunContext]) -> str:
    ctx = runtime.context
    if stop_check(state, ctx, next_calls=2):
        return "score"
    return fresh_or(state, ctx, "review")


def build() -> Graph:
    graph = new_graph()
    for name, node in (
        ("solve", nodes.solve),
        ("review", nodes.review),
        ("refine", nodes.refine),
        ("fresh", nodes.fresh),
    ):
        graph.add_node(name, node)
    graph.add_edge("design_tests", "solve")
    for name in ("solve", "refine", "fresh"):
        graph.add_conditional_edges(name, after_propose, ["verify", "score"])
    graph.add_conditional_edges("verify", after_verify, ["review", "fresh", "score"])
    graph.add_conditional_edges("review", unless_error("refine"), ["refine", "score"])
    return graph


STRATEGY = Strategy(
    "refine", build, roles=("solver", "reviewer", "refiner", "test_designer"), params={}
)
