"""``tree_search``: expand the most promising failing candidates (after LATS / beam
search over repairs).

Each round takes the ``beam`` best failing candidates not yet expanded (by visible,
then generated test score) and asks for ``children`` repairs of each in parallel, at
temperature, each fed the execution details of its parent's failures (as
``self_debug`` does). The best candidate anywhere in the tree is returned. Each repair
reserves its call (:mod:`corrigo.graphs.ledger`): a round is cut where a budget ends.
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import Send

from corrigo.agents.refiner import debugger_messages
from corrigo.graphs import nodes
from corrigo.graphs.calls import ask
from corrigo.graphs.context import RunContext
from corrigo.graphs.policies import agreement, rank_key, stop_check
from corrigo.graphs.registry import Strategy
from corrigo.graphs.routes import Graph, after_propose, new_graph
from corrigo.graphs.state import Branch, LoopState
from corrigo.records import Attempt


def frontier(state: LoopState, ctx: RunContext) -> list[Attempt]:
    done = set(state.get("expanded") or [])
    seen: set[str] = set()
    open_: list[Attempt] = []
    for a in state.get("attempts") or []:
        if a.candidate.key in done or a.verdict.passed or a.candidate.code in seen:
            continue
        seen.add(a.candidate.code)
        open_.append(a)
    agree = agreement(open_, state.get("outputs") or {})
    open_.sort(key=lambda a: rank_key(a, agree), reverse=True)
    return open_[: int(ctx.param("beam", 2))]


def after_verify(state: LoopState, runtime: Runtime[RunContext]) -> list[Send] | str:
    ctx = runtime.context
    parents = frontier(state, ctx)
    children = int(ctx.param("children", 2))
    if not parents or stop_check(state, ctx, next_calls=1):
        return "score"
    round_ = state.get("round", 1) + 1
    return [
        Send("expand", {"round": round_, "parent": parent, "index": i})
        for parent in parents
        for i in range(children)
    ]


async def expand(payload: Branch, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """One repair of a parent candidate, at temperature, from its execution feedback."""
    ctx = runtime.context
    parent: Attempt = payload["parent"]
    round_, index = int(payload["round"]), int(payload["index"])
    asked = await ask(
        ctx,
        role="refiner",
        key=f"r{round_}.expand.{parent.candidate.key}.{index}",
        messages=debugger_messages(ctx.task, parent.candidate, parent.verdict),
        round=round_,
        node="expand",
        temperature=float(ctx.param("temperature", 0.8)),
        seed=index,
        propose=True,
        parent=parent.candidate.key,
    )
    update = nodes.proposed(asked, round=round_)
    if index == 0:
        update["expanded"] = [parent.candidate.key]
    return update


def build() -> Graph:
    graph = new_graph()
    graph.add_node("solve", nodes.solve)
    graph.add_node("expand", expand, input_schema=Branch)  # type: ignore[call-overload]
    graph.add_edge("design_tests", "solve")
    graph.add_conditional_edges("solve", after_propose, ["verify", "score"])
    graph.add_conditional_edges("verify", after_verify, ["expand", "score"])
    graph.add_edge("expand", "verify")
    return graph


STRATEGY = Strategy(
    "tree_search",
    build,
    roles=("solver", "refiner", "test_designer"),
    params={"beam": 2, "children": 2, "temperature": 0.8},
)
