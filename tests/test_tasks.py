"""Task sources and selectors; visible tests agree with HumanEval's canonical solutions."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

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


def _line(**fields: Any) -> str:
    task = {"id": "t", "prompt": "p", "entry_point": "f", **fields}
    return json.dumps(task, ensure_ascii=False)  # non-ASCII text stays raw, as editors write it


@pytest.mark.parametrize(
    ("fields", "detail"),
    [
        ({"entry_point": "add numbers"}, "entry_point is not a Python identifier ('add numbers')"),
        ({"entry_point": "Solution.add"}, "entry_point is not a Python identifier"),
        ({"entry_point": "class"}, "entry_point is a Python keyword ('class')"),
        ({"entry_point": "None"}, "entry_point is a Python keyword ('None')"),
        # Python reads the ligature as "fi": tests would never reach a function named "\ufb01".
        ({"entry_point": "\ufb01nd"}, "entry_point is not spelled as Python reads it"),
        (
            {"visible_tests": ["assert f(1) == 1", "assert f(1) == 1\nassert f(2 == 2"]},
            "a visible test does not compile (test 'visible 2', line 2: '(' was never closed)",
        ),
        (
            {"hidden_tests": [{"name": "big", "code": "def check(:\n    pass"}]},
            "a hidden test does not compile (test 'big', line 1: invalid syntax)",
        ),
        (
            {"visible_tests": ["  assert f(1)"]},
            "a visible test does not compile (test 'visible 1', line 1: unexpected indent)",
        ),
        (
            {"hidden_tests": ["x = (" * 300 + "1" + ")" * 300]},
            "a hidden test does not compile (test 'hidden 1', line 1: too many nested",
        ),
        (
            {"preamble": "import math\ndef f(x)\n    return x"},
            "preamble does not compile (line 2: expected ':')",
        ),
        ({"preamble": ["import math"]}, "preamble is not a string (got an array)"),
        (
            {"visible_tests": [{"name": "one", "code": "pass"}, {"name": "one", "code": "pass"}]},
            "test name repeats within the task ('one': visible_tests[0] and visible_tests[1])",
        ),
        (
            {"visible_tests": ["pass"], "hidden_tests": [{"name": "visible 1", "code": "pass"}]},
            "test name repeats within the task ('visible 1': visible_tests[0] and hidden_tests[0])",
        ),
        ({"metadata": ["family", "arith"]}, "metadata is not a JSON object (got an array)"),
        ({"metadata": "arith"}, "metadata is not a JSON object (got a string)"),
        ({"metadata": 0}, "metadata is not a JSON object (got a number)"),
        ({"visible_tests": ["   \n"]}, "a visible test is empty (test 'visible 1')"),
        (
            {"hidden_tests": [{"code": "pass", "expect": 3}]},
            "hidden_tests[0] has unknown field(s) ['expect']",
        ),
        (
            {"visible_tests": [{"name": 7, "code": "pass"}]},
            "visible_tests[0]: 'name' must be a string",
        ),
    ],
)
def test_task_that_cannot_run_is_rejected_with_its_line(
    tmp_path: Path, fields: dict[str, Any], detail: str
) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(_line(id="ok") + "\n" + _line(**fields) + "\n")
    with pytest.raises(TaskFormatError) as caught:
        load_tasks(f"jsonl:{path}")
    message = str(caught.value)
    assert message.startswith(f"{path}:2: "), message
    assert detail in message
    assert "\n" not in message


def test_jsonl_tests_names_and_what_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(
        "\ufeff".encode()  # a byte-order mark, as some editors write
        + "\n".join(
            [
                _line(
                    id="named",
                    entry_point="match",  # a soft keyword is a valid function name
                    # U+2028 is valid unescaped inside a JSON string; it does not end the line.
                    prompt="Write match(x).\u2028Return x.",
                    visible_tests=["assert match(1) == 1", {"code": "assert match(2) == 2"}],
                    hidden_tests=[{"code": "assert match(3) == 3"}, {"name": "", "code": "pass"}],
                    preamble=None,
                    metadata=None,
                ),
                # Compiles with a SyntaxWarning (an always-true assert): loaded, and quietly,
                # since warnings are errors under pytest.
                _line(id="warns", visible_tests=["assert (f(1), 'message')"]),
            ]
        ).encode("utf-8")
        + b"\r\n"
    )
    named, warns = load_tasks(f"jsonl:{path}")
    assert named.id == "named"
    assert named.prompt == "Write match(x).\u2028Return x."
    assert [t.name for t in named.visible_tests] == ["visible 1", "visible 2"]
    assert [t.name for t in named.hidden_tests] == ["hidden 1", "hidden 2"]
    assert named.preamble == ""
    assert named.metadata == {"source": "jsonl"}
    assert warns.visible_tests[0].code == "assert (f(1), 'message')"


def test_jsonl_error_line_numbers_count_newlines_only(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(
        _line(id="a", prompt="one\u2028two\u2029three\x85four")
        + "\n\n"
        + _line(entry_point="1f")
        + "\n",
        encoding="utf-8",
    )
    with pytest.raises(
        TaskFormatError, match=r"t\.jsonl:3: entry_point is not a Python identifier"
    ):
        load_tasks(f"jsonl:{path}")
