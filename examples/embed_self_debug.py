"""Your own LangGraph graph with corrigo's ``self_debug`` strategy as one node.

    draft ──▶ fix (corrigo self_debug: one stored run) ──▶ publish

``draft`` turns a request into a corrigo task, ``fix`` drafts, tests and debugs the code
until its visible tests pass (or its rounds run out), and ``publish`` only ships code
that passed. Progress comes through LangGraph's own ``custom`` stream mode.

    python examples/embed_self_debug.py --model scripted:examples/embed_script.yaml
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph

import corrigo


class State(TypedDict, total=False):
    request: str
    examples: list[str]
    task: dict[str, Any]  # what corrigo's node reads
    outcome: corrigo.Outcome  # what it writes
    run_id: str
    published: str


REQUEST = {
    "request": "slugify(title): lowercase words joined by single dashes",
    "examples": [
        "assert slugify('Hello World') == 'hello-world'",
        "assert slugify('  Many   spaces  ') == 'many-spaces'",
    ],
}


def draft(state: State) -> State:
    """A corrigo task from the request: its examples are the tests the loop may see."""
    return {
        "task": {
            "id": "slugify",
            "prompt": f"Write a Python function {state['request']}.",
            "entry_point": "slugify",
            "visible_tests": state["examples"],
            "hidden_tests": ["assert slugify('Already-Slugged') == 'already-slugged'"],
        }
    }


def publish(state: State) -> State:
    outcome = state["outcome"]
    if not outcome.visible_passed or outcome.best is None:
        return {"published": f"# not published: {outcome.stop_reason} (run {outcome.run_id})"}
    return {"published": f"# checked by corrigo run {outcome.run_id}\n{outcome.best.code}\n"}


def build(model: str, settings: corrigo.Settings | None = None) -> Any:
    """The user's graph, compiled; ``fix`` is corrigo's strategy graph."""
    fix = corrigo.strategy_graph("self_debug", model=model, max_rounds=3, settings=settings)
    builder = StateGraph(State)
    builder.add_node("draft", draft)
    builder.add_node("fix", fix)
    builder.add_node("publish", publish)
    builder.add_edge(START, "draft")
    builder.add_edge("draft", "fix")
    builder.add_edge("fix", "publish")
    builder.add_edge("publish", END)
    return builder.compile()


def describe(event: dict[str, Any]) -> str | None:
    """One line of progress for corrigo's events (node events are left out)."""
    kind, round_ = event.get("event"), event.get("round")
    if kind == "step":
        return f"  round {round_}: {event['role']} step stored"
    if kind == "round":
        score = event["visible_score"]
        best = "none yet" if score is None else f"{score:.2f}"
        return f"  round {round_} finished, best visible score {best}"
    if kind == "outcome":
        return f"  outcome: {event['stop_reason']} after {event['rounds']} round(s)"
    return None


async def main(model: str) -> State:
    graph = build(model)
    final: State = {}
    async for namespace, mode, chunk in graph.astream(
        REQUEST, stream_mode=["custom", "values"], subgraphs=True
    ):
        if mode == "custom" and (line := describe(chunk)):
            print(line)
        elif mode == "values" and not namespace:  # the user's own graph's state
            final = chunk
    outcome = final["outcome"]
    print(
        f"run {outcome.run_id}: {outcome.stop_reason}, visible score {outcome.visible_score:.2f},"
        f" hidden tests passed: {outcome.hidden_passed}"
    )
    print(final["published"], end="")
    return final


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="e.g. scripted:examples/embed_script.yaml")
    asyncio.run(main(parser.parse_args().model))
