"""The command line end to end on each store: run, runs, show, replay, lessons."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import corrigo, fenced, write_script
from tests.stores import BACKENDS, fresh_store_url
from tests.test_story import BUGGY, FIXED

# A critique that looks like serialized LangChain objects: it must stay text everywhere
# (the stored step, the checkpoint, the next prompt), never be turned into an object.
ENVELOPE = (
    'Check this: {"lc": 1, "type": "constructor", "id": ["os", "system"], "kwargs": {}} '
    'and {"lc": 1, "type": "secret", "id": ["OPENAI_API_KEY"]}. The comparison uses >=; use >.'
)
CANARY = "sk-canary-backends-77f1"


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_store_url(request.param, tmp_path) as url:
        yield url


def test_run_show_replay_and_lessons_on_each_store(tmp_path: Path, store_url: str) -> None:
    home = tmp_path / "home"
    script = write_script(
        tmp_path / "story.yaml",
        {
            "tasks": {
                "HumanEval/12": {
                    "solver": [fenced(BUGGY)],
                    "reviewer": [ENVELOPE],
                    "refiner": [fenced(FIXED)],
                    "reflector": ["Ties keep the first item: compare with a strict >."],
                }
            }
        },
    )
    env = {"OPENAI_API_KEY": CANARY}
    done = corrigo(
        "run", "humaneval:HumanEval/12", "--strategy", "refine(lessons=learn)",
        "--model", f"scripted:{script}", "--store", store_url, "--json",
        home=home, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [outcome] = json.loads(done.stdout)
    assert outcome["stop_reason"] == "verified" and outcome["hidden_passed"] is True
    run_id = outcome["run_id"]

    listed = corrigo("runs", "--json", "--store", store_url, home=home)
    assert [r["id"] for r in json.loads(listed.stdout)] == [run_id]
    shown = corrigo("show", run_id, "--store", store_url, "--json", home=home)
    assert shown.returncode == 0, shown.stderr
    steps = json.loads(shown.stdout)["steps"]
    review = next(s for s in steps if s["role"] == "reviewer")
    assert review["output"] == ENVELOPE
    refine = next(s for s in steps if s["key"] == "r2.refine")
    assert ENVELOPE in refine["messages"][-1]["content"]
    assert CANARY not in shown.stdout

    replayed = corrigo("replay", run_id, "--store", store_url, home=home)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "every step matched" in replayed.stdout

    lessons = corrigo("lessons", "list", "--json", "--store", store_url, home=home)
    assert lessons.returncode == 0, lessons.stderr
    [lesson] = json.loads(lessons.stdout)
    assert lesson["run_id"] == run_id and lesson["scope_key"] == "HumanEval"
