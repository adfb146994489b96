"""Edge helpers shared by the strategies' graphs."""

from __future__ import annotations

from collections.abc import Callable

from langgraph.graph import END, START, StateGraph

from corrigo.graphs import nodes
from corrigo.graphs.context import RunContext
from corrigo.graphs.selection import score
from corrigo.graphs.state import LoopState

Graph = StateGraph[LoopState, RunContext, LoopState, LoopState]


def new_graph() -> Graph:
    """A graph with the shared head (test design) and tail (scoring) nodes."""
    graph: Graph = StateGraph(LoopState, context_schema=RunContext)
    graph.add_node("design_tests", nodes.design_tests)
    graph.add_node("verify", nodes.verify)
    graph.add_node("score", score)
    graph.add_edge(START, "design_tests")
    graph.add_edge("score", END)
    return graph


def after_propose(state: LoopState) -> str:
    """A failed model call goes straight to scoring; a candidate goes to the verifier
    (also when a sibling's call did not fit a budget: the run stops after verifying)."""
    return "score" if state.get("errors") or not state.get("pending") else "verify"


def unless_error(target: str) -> Callable[[LoopState], str]:
    """An edge to ``target``, or to scoring when the node's model call failed or did
    not fit a budget."""

    def route(state: LoopState) -> str:
        return "score" if state.get("errors") or state.get("exhausted") else target

    return route


def fresh_or(state: LoopState, ctx: RunContext, otherwise: str) -> str:
    """After a round that brought nothing new, ask for a fresh sample instead of stopping."""
    if state.get("stale", 0) >= 1 and ctx.param("fresh", True):
        return "fresh"
    return otherwise
