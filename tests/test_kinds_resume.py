"""A math run SIGKILLed after its review resumes without asking again for a stored step:
not the solution, not the independent programs (nor running them again), not the review.

The model is a real OpenAI-compatible server on loopback that answers by role (told
apart by each template's system message) and counts every request.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.helpers import corrigo as corrigo_cli
from tests.helpers import fenced
from tests.model_server import ServerState, model_server
from tests.test_resume import _comparable, _steps, _wait_for_review, store_urls

__all__ = ["store_urls"]  # the fixture, shared with tests/test_resume.py

TASK = {
    "id": "shop/1",
    "kind": "math",
    "prompt": "A shop sold 4000 pens in May and 391 more in June. How many pens did it sell?",
    "answer": "4391",
}
REPLIES = {
    "solver": "4000 + 391 = 4381, so \\boxed{4381}.",
    "checker": fenced("may = 4000\njune = 391\nprint(may + june)"),
    "reviewer": "The sum is wrong: 4000 + 391 is 4391.",
    "refiner": "4000 + 391 = 4391, so \\boxed{4391}.",
}


def _role(messages: list[dict[str, Any]]) -> str:
    system = str(messages[0].get("content", "")) if messages else ""
    if "checks answers to math word problems" in system:
        return "checker"
    if "careful reviewer" in system:
        return "reviewer"
    if "You revise a solution" in system:
        return "refiner"
    return "solver"


def _args(tasks: Path, store: str) -> list[str]:
    selector = f"jsonl:{tasks}"
    return [selector, "--strategy", "refine", "--model", "openai:m", "--store", store, "-j", "1"]


def test_a_killed_math_run_resumes_without_asking_again(
    tmp_path: Path, store_urls: tuple[str, str]
) -> None:
    crashed_url, reference_url = store_urls
    tasks = tmp_path / "math.jsonl"
    tasks.write_text(json.dumps(TASK) + "\n")
    state = ServerState(latency=0.6, reply_by=lambda messages: REPLIES[_role(messages)])
    with model_server(state) as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CORRIGO_"))}
        model_env = {"OPENAI_BASE_URL": url, "OPENAI_API_KEY": "sk-test"}
        env.update({"CORRIGO_HOME": str(tmp_path / "home"), **model_env})
        proc = subprocess.Popen(
            [sys.executable, "-m", "corrigo", "run", *_args(tasks, crashed_url)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _wait_for_review(crashed_url, proc)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
        record, before = asyncio.run(_steps(crashed_url))
        calls_before = [_role(r["messages"]) for r in state.requests]
        resumed = corrigo_cli(
            "resume", record.id, "--store", crashed_url, home=tmp_path / "home", env=model_env
        )
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        record, after = asyncio.run(_steps(crashed_url))
        calls = [_role(r["messages"]) for r in state.requests]
        reference = corrigo_cli(
            "run", *_args(tasks, reference_url), home=tmp_path / "home", env=model_env
        )
        assert reference.returncode == 0, reference.stderr
        _, ref_steps = asyncio.run(_steps(reference_url))

    assert record.outcome is not None and record.outcome.hidden_passed is True
    assert record.outcome.first_round_hidden_passed is False
    assert [s.seq for s in after] == list(range(1, len(after) + 1))
    assert len({s.key for s in after}) == len(after)
    assert [_comparable(s) for s in after[: len(before)]] == [_comparable(s) for s in before]
    # Both programs, the solution and the review were asked for once in all; the programs
    # ran once each (their runs are stored steps, reused).
    for role, count in (("solver", 1), ("checker", 2), ("reviewer", 1)):
        assert calls_before.count(role) == calls.count(role) == count, (role, calls)
    assert sum(1 for s in after if s.key.startswith("check.run")) == 2
    assert [_comparable(s) for s in after] == [_comparable(s) for s in ref_steps]
