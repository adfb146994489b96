"""A strategy as a LangGraph citizen: a node in a user's graph, and a Runnable alone."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import corrigo
from corrigo.config import Settings
from corrigo.errors import TaskFormatError, UnknownProvider, UnknownStrategy, UsageError
from corrigo.lifecycle.as_graph import as_task

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "embed_self_debug.py"
MODEL = f"scripted:{ROOT / 'examples' / 'embed_script.yaml'}"
FIXED = 'return "-".join(title.lower().split())'
TASK: dict[str, Any] = {
    "id": "slugify",
    "prompt": "Write slugify(title): lowercase words joined by single dashes.",
    "entry_point": "slugify",
    "visible_tests": [
        "assert slugify('Hello World') == 'hello-world'",
        "assert slugify('  Many   spaces  ') == 'many-spaces'",
    ],
    "hidden_tests": ["assert slugify('A b') == 'a-b'"],
}


def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("embed_self_debug", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its State's annotations are resolved through it
    spec.loader.exec_module(module)
    return module


async def test_user_graph_runs_self_debug_as_one_node(settings: Settings) -> None:
    module = example()
    graph = module.build(MODEL, settings=settings)
    final: dict[str, Any] = {}
    events: list[tuple[tuple[str, ...], dict[str, Any]]] = []
    async for namespace, mode, chunk in graph.astream(
        module.REQUEST, stream_mode=["custom", "values"], subgraphs=True
    ):
        if mode == "custom":
            events.append((namespace, chunk))
        elif not namespace:
            final = chunk

    # The parent's state holds corrigo's outcome, and its next node used it.
    outcome = final["outcome"]
    assert isinstance(outcome, corrigo.Outcome)
    assert (outcome.stop_reason, outcome.rounds, outcome.hidden_passed) == ("verified", 2, True)
    assert outcome.best is not None and FIXED in outcome.best.code
    assert final["run_id"] == outcome.run_id
    assert final["published"].startswith(f"# checked by corrigo run {outcome.run_id}\n")
    assert FIXED in final["published"]

    # Progress came through the parent's stream, from inside its "fix" node.
    assert events and all(ns[0].startswith("fix:") for ns, _ in events)
    shown = [e for _, e in events if e["event"] != "node"]
    assert all(e["task_id"] == "slugify" for e in shown)
    assert [(e["event"], e.get("role"), e["round"]) for e in shown if e["event"] != "outcome"] == [
        ("step", "solver", 1),
        ("step", "verifier", 1),
        ("round", None, 1),
        ("step", "refiner", 2),
        ("step", "verifier", 2),
        ("step", "scorer", 2),
        ("step", "scorer", 1),
        ("round", None, 2),
    ]
    rounds = [e for e in shown if e["event"] == "round"]
    assert [(r["visible_score"], r["visible_passed"]) for r in rounds] == [
        (0.5, False),
        (1.0, True),
    ]
    assert shown[-1] == {
        "event": "outcome",
        "task_id": "slugify",
        "run_id": outcome.run_id,
        "stop_reason": "verified",
        "rounds": 2,
        "visible_score": 1.0,
        "visible_passed": True,
        "hidden_passed": True,
    }

    # It is one stored corrigo run, whose steps are the ones the events announced.
    stored = await corrigo.load_run(outcome.run_id, settings=settings)
    assert stored.record.status == "finished"
    assert stored.record.outcome == outcome
    assert stored.record.spec.strategy == "self_debug"
    assert [s.key for s in stored.steps] == [e["key"] for e in shown if e["event"] == "step"]


def test_example_script_prints_progress_and_outcome(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CORRIGO_"))}
    env["CORRIGO_HOME"] = str(tmp_path / "home")
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), "--model", "scripted:examples/embed_script.yaml"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "  round 1: solver step stored" in lines
    assert "  round 1 finished, best visible score 0.50" in lines
    assert "  outcome: verified after 2 round(s)" in lines
    assert any(
        line.endswith("verified, visible score 1.00, hidden tests passed: True") for line in lines
    )
    assert lines[-1].strip() == FIXED


async def test_strategy_graph_alone_is_a_runnable(settings: Settings) -> None:
    graph = corrigo.strategy_graph("self_debug", model=MODEL, settings=settings)
    record = as_task(TASK)  # the Task record a dict is read into

    result = await graph.ainvoke({"task": record})
    assert set(result) == {"outcome", "run_id"}  # the output schema, not the task
    assert result["outcome"].stop_reason == "verified"

    streamed = [e async for e in graph.astream({"task": TASK}, stream_mode="custom")]
    assert [e["event"] for e in streamed].count("round") == 2
    assert streamed[-1]["event"] == "outcome"

    custom: list[dict[str, Any]] = []
    ended: dict[str, Any] = {}
    async for event in graph.astream_events({"task": TASK}, version="v2"):
        if event["event"] == "on_custom_event" and event["name"] == "corrigo":
            data: Any = event["data"]
            custom.append(data)
        elif event["event"] == "on_chain_end" and event["name"] == "corrigo_self_debug":
            ended = event["data"]["output"]
    # The same progress as the custom stream mode gives, event for event.
    assert [(e["event"], e.get("key"), e.get("round")) for e in custom] == [
        (e["event"], e.get("key"), e.get("round")) for e in streamed
    ]
    assert ended["outcome"].run_id == custom[-1]["run_id"]

    # Three invocations, three stored runs, of the same task whether given as record or dict.
    runs = await corrigo.list_runs(settings=settings)
    assert len(runs) == 3
    assert {r.id for r in runs} >= {result["run_id"], ended["run_id"]}
    for run_id in (result["run_id"], ended["run_id"]):
        stored = await corrigo.load_run(run_id, settings=settings)
        assert stored.record.spec.task == record
    assert [t.name for t in record.visible_tests] == ["visible 1", "visible 2"]


@pytest.mark.parametrize(
    ("given", "error", "message"),
    [
        ({k: v for k, v in TASK.items() if k != "entry_point"}, TaskFormatError, "entry_point"),
        ({**TASK, "visible_tests": ["assert (("]}, TaskFormatError, "does not compile"),
        ("slugify", TaskFormatError, "expected a Task or a dict, got str"),
        (None, TaskFormatError, "has no 'task'"),
    ],
)
async def test_bad_task_raises_before_anything_is_stored(
    settings: Settings, given: Any, error: type[Exception], message: str
) -> None:
    graph = corrigo.strategy_graph("self_debug", model=MODEL, settings=settings)
    with pytest.raises(error, match=message):
        await graph.ainvoke({"task": given})
    assert await corrigo.list_runs(settings=settings) == []


async def test_bad_strategy_or_model_raises_before_anything_is_stored(settings: Settings) -> None:
    with pytest.raises(UnknownStrategy, match="unknown strategy 'self_debugg'"):
        corrigo.strategy_graph("self_debugg", model=MODEL, settings=settings)
    with pytest.raises(UsageError, match="no parameter"):
        corrigo.strategy_graph("refine(beams=2)", model=MODEL, settings=settings)
    graph = corrigo.strategy_graph("refine", model="nope:model", settings=settings)
    with pytest.raises(UnknownProvider):
        await graph.ainvoke({"task": TASK})
    assert await corrigo.list_runs(settings=settings) == []
