"""``intrinsic``: the model reviews and revises its own answer with no external signal.

The control condition of the self-correction literature ("Large Language Models Cannot
Self-Correct Reasoning Yet"): after the first answer, each round asks the model to find
problems with its previous answer and then to improve it, shown only the task and its
own words — no test result, checker output, program or any other signal from outside
the model. There is nothing to choose by, so the last revision is the answer
(``keep="last"``). Same round budget as ``refine``; compare its flips with ``refine``'s
to see whether self-critique helps or hurts on your model.
"""

from __future__ import annotations

from langgraph.runtime import Runtime

from corrigo.agents.refiner import self_revise_messages
from corrigo.agents.reviewer import self_review_messages
from corrigo.graphs import nodes
from corrigo.graphs.context import RunContext
from corrigo.graphs.nodes import Update, revision
from corrigo.graphs.policies import over_budget
from corrigo.graphs.registry import Strategy
from corrigo.graphs.routes import Graph, new_graph, unless_error
from corrigo.graphs.state import LoopState


async def self_review(state: LoopState, runtime: Runtime[RunContext]) -> Update:
    """``intrinsic``: the model reviews its own latest answer, shown nothing else."""
    ctx = runtime.context
    target = (state.get("attempts") or [])[-1]
    round_ = state.get("round", 1)
    messages = self_review_messages(ctx.task, target.candidate)
    return await nodes.critique(ctx, messages, round=round_, node="self_review")


async def self_revise(state: LoopState, runtime: Runtime[RunContext]) -> Update:
    """``intrinsic``: revise the latest answer from the model's own review only."""
    ctx = runtime.context
    target = (state.get("attempts") or [])[-1]
    messages = self_revise_messages(ctx.task, target.candidate, state.get("critique") or "")
    return await revision(
        state, ctx, role="refiner", node="self_revise", messages=messages, parent=target
    )


def after_answer(state: LoopState) -> str:
    """A failed model call goes to scoring; an answer is accepted unchecked."""
    return "score" if state.get("errors") or not state.get("pending") else "accept"


def after_accept(state: LoopState, runtime: Runtime[RunContext]) -> str:
    ctx = runtime.context
    if state.get("errors") or state.get("round", 0) >= ctx.max_rounds:
        return "score"
    if over_budget(state, ctx, next_calls=2):
        return "score"
    return "self_review"


def build() -> Graph:
    graph = new_graph()
    for name, node in (
        ("solve", nodes.solve),
        ("accept", nodes.accept),
        ("self_review", self_review),
        ("self_revise", self_revise),
    ):
        graph.add_node(name, node)
    graph.add_edge("design_tests", "solve")
    for name in ("solve", "self_revise"):
        graph.add_conditional_edges(name, after_answer, ["accept", "score"])
    graph.add_conditional_edges("accept", after_accept, ["self_review", "score"])
    graph.add_conditional_edges(
        "self_review", unless_error("self_revise"), ["self_revise", "score"]
    )
    return graph


STRATEGY = Strategy(
    "intrinsic",
    build,
    roles=("solver", "reviewer", "refiner"),
    params={"tests": "never", "keep": "last", "fresh": False},
    math_checks=False,
)
