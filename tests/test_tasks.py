"""Task sources and selectors; visible tests agree with HumanEval's canonical solutions."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from corrigo.agents.extract import assemble_program
from corrigo.agents.verifier import visible_tests
from corrigo.errors import TaskFormatError, TaskNotFound
from corrigo.records import Limits
from corrigo.sandbox.base import get_sandbox
from corrigo.tasks import load_tasks
from corrigo.tasks.humaneval import problem


def test_humaneval_selectors() -> None:
    assert len(load_tasks("humaneval")) == 164
    assert [t.id for t in load_tasks("humaneval[:3]")] == [f"HumanEval/{i}" for i in range(3)]
    assert [t.id for t in load_tasks("humaneval[160:]")] == [
        f"HumanEval/{i}" for i in range(160, 164)
    ]
    assert [t.id for t in load_tasks("humaneval:HumanEval/12")] == ["HumanEval/12"]
    assert [t.id for t in load_tasks("humaneval:HumanEval/5,HumanEval/1")] == [
        "HumanEval/5",
        "HumanEval/1",
    ]


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("humaneval:HumanEval/999", "unknown task id 'HumanEval/999'"),
        ("mbpp", "unknown task source 'mbpp'"),
        ("humaneval[200:]", "matches no tasks"),
        ("jsonl:/nonexistent/tasks.jsonl", "task file not found"),
    ],
)
def test_bad_selectors(selector: str, message: str) -> None:
    with pytest.raises(TaskNotFound, match=message):
        load_tasks(selector)


def test_hidden_tests_are_the_official_check() -> None:
    task = load_tasks("humaneval:HumanEval/0")[0]
    assert task.hidden_tests[0].code.strip().endswith("check(has_close_elements)")
    assert "def check(candidate)" in task.hidden_tests[0].code
    assert all("check(" not in t.code for t in task.visible_tests)


def test_docstring_examples_become_visible_tests() -> None:
    tasks = {t.id: t for t in load_tasks("humaneval")}
    assert len(tasks["HumanEval/0"].visible_tests) == 2
    assert sum(1 for t in tasks.values() if t.visible_tests) >= 140
    # Informal forms: "f(x) ➞ y", "f(x) => y" and "For x = ... the output should be y".
    assert tasks["HumanEval/72"].visible_tests[0].name == "example 1: will_it_fly([1, 2], 5)"
    assert tasks["HumanEval/78"].visible_tests[0].name == "example 1: hex_key('AB')"
    # Known-wrong docstring examples are left out rather than taught.
    names = [t.name for t in tasks["HumanEval/47"].visible_tests]
    assert names == ["example 1: median([3, 1, 2, 4, 5])"]


def test_every_canonical_solution_passes_its_visible_and_hidden_tests() -> None:
    async def check_all() -> list[str]:
        failures = []
        gate = asyncio.Semaphore(4)
        async with get_sandbox("process") as box:

            async def one(task_id: str) -> None:
                task = load_tasks(f"humaneval:{task_id}")[0]
                program = assemble_program(task, problem(task_id)["canonical_solution"])
                async with gate:
                    visible = await box.run_tests(program, visible_tests(task), Limits())
                    hidden = await box.run_tests(program, task.hidden_tests, Limits())
                if visible.status != "passed" or hidden.status != "passed":
                    failures.append(task_id)

            await asyncio.gather(*(one(f"HumanEval/{i}") for i in range(164)))
        return failures

    assert asyncio.run(check_all()) == []


def _write(path: Path, *lines: str) -> str:
    path.write_text("\n".join(lines) + "\n")
    return f"jsonl:{path}"


def test_jsonl_tasks(tmp_path: Path) -> None:
    selector = _write(
        tmp_path / "t.jsonl",
        '{"id": "add", "prompt": "Write add(a, b).", "entry_point": "add",'
        ' "visible_tests": ["assert add(1, 2) == 3"],'
        ' "hidden_tests": [{"name": "big", "code": "assert add(10**9, 1) == 10**9 + 1"}]}',
        "",
        '{"id": "neg", "prompt": "Write neg(x).", "entry_point": "neg"}',
    )
    tasks = load_tasks(selector)
    assert [t.id for t in tasks] == ["add", "neg"]
    assert tasks[0].visible_tests[0].code == "assert add(1, 2) == 3"
    assert tasks[0].hidden_tests[0].name == "big"
    assert [t.id for t in load_tasks(selector + "#neg")] == ["neg"]
    assert [t.id for t in load_tasks(selector + "[1:]")] == ["neg"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", r"t.jsonl:2: not valid JSON"),
        ('{"id": "x", "prompt": "p"}', r"t.jsonl:2: missing or empty string field 'entry_point'"),
        ('{"id": "x", "prompt": "p", "entry_point": "f", "colour": 1}', r"unknown field"),
        (
            '{"id": "x", "prompt": "p", "entry_point": "f", "visible_tests": [3]}',
            r"visible_tests\[0\]",
        ),
        ('["a list"]', r"t.jsonl:2: expected a JSON object"),
        ('{"id": "ok", "prompt": "p", "entry_point": "f"}', r"t.jsonl:2: duplicate task id 'ok'"),
    ],
)
def test_malformed_jsonl_names_the_line(tmp_path: Path, line: str, message: str) -> None:
    selector = _write(tmp_path / "t.jsonl", '{"id": "ok", "prompt": "p", "entry_point": "f"}', line)
    with pytest.raises(TaskFormatError, match=message):
        load_tasks(selector)
