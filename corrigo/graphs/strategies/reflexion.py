"""``reflexion``: verbal reflection that conditions the next attempt (Reflexion, Shinn et al.).

After a failed round the reflector writes what went wrong and what to do differently;
the reflection is stored as a lesson (with the run and step it came from) and every
reflection so far goes, with the last attempt and its test results, into the solver's
next prompt.
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
    return fresh_or(state, ctx, "reflect")


def build() -> Graph:
    graph = new_graph()
    for name, node in (
        ("solve", nodes.solve),
        ("reflect", nodes.reflect),
        ("retry", nodes.retry),
        ("fresh", nodes.fresh),
    ):
        graph.add_node(name, node)
    graph.add_edge("design_tests", "solve")
    for name in ("solve", "retry", "fresh"):
        graph.add_conditional_edges(name, after_propose, ["verify", "score"])
    graph.add_conditional_edges("verify", after_verify, ["reflect", "fresh", "score"])
    graph.add_conditional_edges("reflect", unless_error("retry"), ["retry", "score"])
    return graph


STRATEGY = Strategy("reflexion", build, roles=("solver", "reflector", "test_designer"), params={})
