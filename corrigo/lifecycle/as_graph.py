"""A strategy as one compiled LangGraph graph, to run alone or as a node in your own graph.

``strategy_graph("self_debug", model=...)`` returns a compiled graph whose input is
``{"task": Task | dict}`` (a dict is read like a line of a ``jsonl:`` task file) and
whose output is ``{"outcome": Outcome, "run_id": str}``. Each invocation is one stored
corrigo run, made by :func:`corrigo.lifecycle.api.run` exactly as ``corrigo.run`` makes it:
models, sandbox and store come from the arguments and :class:`~corrigo.config.Settings`,
and bad input (an unknown strategy or parameter, a malformed task, an unusable model)
raises a :class:`~corrigo.errors.UsageError` (or another CorrigoError) before anything
is stored. Use it as a Runnable (``ainvoke``, ``astream``, ``astream_events``) or add it
with ``builder.add_node("fix", graph)`` to a parent ``StateGraph`` that has a ``task``
key; the parent receives ``outcome`` (and ``run_id`` if its state has that key).

Progress is streamed in LangGraph's ``custom`` stream mode (from a parent graph:
``astream(..., stream_mode="custom", subgraphs=True)``), and for ``astream_events``
(v2) also as ``on_custom_event`` events named ``"corrigo"``. Every event is a dict with
an ``"event"`` key and the task's ``task_id``; the first three are the ones ``run``'s
``on_event`` callback receives (the CLI, the service and the viewer read the same)::

    {"event": "node", "task_id", "node", "round"}           a graph node finished
    {"event": "step", "task_id", "key", "role", "round"}    a step is stored
    {"event": "round", "task_id", "round", "visible_score", "visible_passed"}
        a round is finished: its score is the best candidate's so far (None: none yet)
    {"event": "outcome", "task_id", "run_id", "stop_reason", "rounds",
     "visible_score", "visible_passed", "hidden_passed"}   the run is stored, last

The strategy's own graph runs as a root graph, not as a LangGraph subgraph of the node
that starts it: its checkpoints are corrigo's, under the run id (``corrigo resume``
continues it), whatever checkpointer the parent graph uses.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections.abc import Coroutine
from typing import Any, TypedDict, Unpack

from langchain_core.callbacks.manager import adispatch_custom_event
from langchain_core.runnables.config import var_child_runnable_config
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import StreamWriter

from corrigo.config import Settings
from corrigo.errors import TaskFormatError
from corrigo.lifecycle.api import run
from corrigo.lifecycle.options import RunOptions, StrategyOptionArgs, plan
from corrigo.records import Outcome, Task
from corrigo.storage.base import TrajectoryStore
from corrigo.tasks.jsonl import parse_line

#: The name of the ``on_custom_event`` events ``astream_events`` reports progress with.
EVENT_NAME = "corrigo"


class StrategyInput(TypedDict):
    task: Task | dict[str, Any]


class StrategyOutput(TypedDict):
    outcome: Outcome
    run_id: str


class StrategyState(TypedDict, total=False):
    task: Task | dict[str, Any]
    outcome: Outcome
    run_id: str


StrategyGraph = CompiledStateGraph[StrategyState, None, StrategyInput, StrategyOutput]


def strategy_graph(
    strategy: str = "refine",
    *,
    options: RunOptions | None = None,
    store: str | TrajectoryStore | None = None,
    settings: Settings | None = None,
    **args: Unpack[StrategyOptionArgs],
) -> StrategyGraph:
    """The strategy ``strategy`` (``"refine"``, ``"best_of_n(n=5)"``, ...) as a compiled
    graph from ``{"task"}`` to ``{"outcome", "run_id"}``; the options are
    :func:`corrigo.run`'s. The strategy, its parameters and the role mapping are checked
    here; the task, the models, the store and the sandbox when it is invoked, before
    its run is stored. Raises a CorrigoError subclass."""
    settings = settings or Settings.from_env()
    chosen_options = RunOptions.of(options, strategy=strategy, **args)
    chosen = plan(chosen_options, settings)

    async def run_task(state: StrategyState) -> StrategyState:
        task = as_task(state.get("task"))
        writer = get_stream_writer()
        events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

        def on_event(task_id: str, event: dict[str, Any]) -> None:
            events.put_nowait({**event, "task_id": task_id})

        async def one() -> Outcome:
            try:
                [outcome] = await run(
                    [task],
                    options=chosen_options,
                    store=store,
                    settings=settings,
                    on_event=on_event,
                )
                return outcome
            finally:
                events.put_nowait(None)

        job = _detached(one())
        try:
            # Events are published here, in this node's context: the writer and the
            # callbacks belong to the graph that runs this node.
            while (event := await events.get()) is not None:
                await _publish(writer, event)
            outcome = await job
        finally:
            if not job.done():  # this node was cancelled: so is the run (stored as such)
                job.cancel()
                await asyncio.wait({job})
        await _publish(writer, outcome_event(outcome))
        return {"outcome": outcome, "run_id": outcome.run_id}

    graph = StateGraph(StrategyState, input_schema=StrategyInput, output_schema=StrategyOutput)
    name = chosen.strategy.name
    graph.add_node(name, run_task)
    graph.add_edge(START, name)
    graph.add_edge(name, END)
    return graph.compile(name=f"corrigo_{name}")


def as_task(value: Any) -> Task:
    """The input's task: a Task as is, a dict checked as a ``jsonl:`` task line is."""
    if isinstance(value, Task):
        return value
    if value is None:
        raise TaskFormatError("task input: the graph's input has no 'task'")
    if not isinstance(value, dict):
        got = type(value).__name__
        raise TaskFormatError(f"task input: expected a Task or a dict, got {got}")
    try:
        line = json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise TaskFormatError(f"task input: not JSON-safe ({exc})") from None
    task = parse_line(line, "task input")
    return task.model_copy(update={"metadata": dict(value.get("metadata") or {})})


def outcome_event(outcome: Outcome) -> dict[str, Any]:
    return {
        "event": "outcome",
        "task_id": outcome.task_id,
        "run_id": outcome.run_id,
        "stop_reason": outcome.stop_reason,
        "rounds": outcome.rounds,
        "visible_score": outcome.visible_score,
        "visible_passed": outcome.visible_passed,
        "hidden_passed": outcome.hidden_passed,
    }


async def _publish(writer: StreamWriter, event: dict[str, Any]) -> None:
    writer(event)  # the custom stream mode (a no-op when nobody streams it)
    await adispatch_custom_event(EVENT_NAME, event)  # astream_events' on_custom_event


def _detached(job: Coroutine[Any, Any, Outcome]) -> asyncio.Task[Outcome]:
    """``job`` as a task that does not see the LangGraph run config of the node that
    starts it, so the strategy's graph runs as a root graph, not as its subgraph."""
    context = contextvars.copy_context()
    context.run(var_child_runnable_config.set, None)
    return asyncio.get_running_loop().create_task(job, context=context)
