"""Lessons across runs: learned on one task, recalled for a similar one, retired when
they never help. Scripted models, a real SQLite store, real sandbox runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import corrigo
from corrigo.records import Lesson
from tests.helpers import fenced, write_script

LESSON = "When a list may be empty, check for that before indexing and return the default."


def _task(task_id: str, prompt: str, entry: str, visible: list[str], hidden: list[str]) -> str:
    return json.dumps(
        {
            "id": task_id,
            "prompt": prompt,
            "entry_point": entry,
            "visible_tests": visible,
            "hidden_tests": hidden,
        }
    )


async def test_a_lesson_learned_on_one_task_is_recalled_for_a_similar_one(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/s.db"
    tasks = tmp_path / "lists.jsonl"
    tasks.write_text(
        _task(
            "lists/first",
            "Return the first element of a list of numbers, or None when the list is empty.",
            "first",
            ["assert first([]) is None", "assert first([3, 4]) == 3"],
            ["assert first([9]) == 9"],
        )
        + "\n"
        + _task(
            "lists/last",
            "Return the last element of a list of numbers, or None when the list is empty.",
            "last",
            ["assert last([]) is None", "assert last([3, 4]) == 4"],
            ["assert last([9]) == 9"],
        )
        + "\n"
    )
    script = write_script(
        tmp_path / "m.yaml",
        {
            "tasks": {
                "lists/first": {
                    "solver": [fenced("def first(xs):\n    return xs[0]")],
                    "reviewer": ["It indexes an empty list."],
                    "refiner": [fenced("def first(xs):\n    return xs[0] if xs else None")],
                    "reflector": [LESSON],
                },
                "lists/last": {
                    "solver": [fenced("def last(xs):\n    return xs[-1] if xs else None")]
                },
            }
        },
    )
    model = f"scripted:{script}"
    selected = corrigo.load_tasks(f"jsonl:{tasks}")
    [learned] = await corrigo.run(
        [selected[0]], strategy="refine(lessons=learn)", model=model, store=store
    )
    assert learned.stop_reason == "verified" and learned.first_round_passed is False
    async with corrigo.open_store(store) as opened:
        [lesson] = await opened.list_lessons()
        a_steps = await opened.get_steps(learned.run_id)
    assert lesson.text == LESSON
    assert (lesson.scope, lesson.scope_key, lesson.run_id) == ("family", "lists", learned.run_id)
    source = next(s for s in a_steps if s.seq == lesson.step_seq)
    assert source.key == "lesson" and source.role == "reflector" and source.output == LESSON
    # The lesson is written from what the loop saw: no hidden test reaches its prompt.
    assert "first([9])" not in "".join(m.content for m in source.messages)
    assert "1 of 2 visible tests failed" in "".join(m.content for m in source.messages)

    [used] = await corrigo.run(
        [selected[1]], strategy="refine(lessons=use)", model=model, store=store
    )
    assert used.stop_reason == "verified"
    stored = await corrigo.load_run(used.run_id, store=store)
    solve = next(s for s in stored.steps if s.key == "r1.solve")
    assert solve.lessons == [lesson.id]
    assert LESSON in solve.messages[-1].content
    prompts = "".join(m.content for step in stored.steps for m in step.messages)
    assert "first([9])" not in prompts and "last([9])" not in prompts
    recall = next(s for s in stored.steps if s.key == "lessons")
    assert recall.lessons == [lesson.id]
    async with corrigo.open_store(store) as opened:
        counted = await opened.get_lesson(lesson.id)
        stats = await opened.scope_stats(["lists"])
    assert (counted.uses, counted.helped) == (1, 1)
    assert (stats["lists"].runs, stats["lists"].passed) == (2, 2)
    # Replay sees the lessons the run saw, not whatever the store holds now.
    async with corrigo.open_store(store) as opened:
        await opened.delete_lessons([lesson.id])
    report = await corrigo.replay_run(stored)
    assert report.all_matched, report.steps


def _calc_tasks(path: Path, similar: int, other: int) -> list[corrigo.Task]:
    rows = []
    for i in range(other):
        rows.append(
            _task(
                f"calc/rev{i}",
                "Reverse the characters of a text string and return the reversed string.",
                "rev",
                ["assert rev('ab') == 'ba'"],
                ["assert rev('abc') == 'cba'"],
            )
        )
    for i in range(similar):
        rows.append(
            _task(
                f"calc/add{i}",
                "Add two integer numbers a and b given as arguments and return their sum.",
                "add",
                ["assert add(2, 3) == 5"],
                ["assert add(1, 1) == 2"],
            )
        )
    path.write_text("\n".join(rows) + "\n")
    return corrigo.load_tasks(f"jsonl:{path}")


async def test_a_lesson_that_never_helps_is_demoted_then_retired(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/s.db"
    tasks = _calc_tasks(tmp_path / "calc.jsonl", similar=7, other=3)
    replies: dict[str, Any] = {}
    for task in tasks:
        good = "return s[::-1]" if task.entry_point == "rev" else "return a - b"  # add: wrong
        args = "s" if task.entry_point == "rev" else "a, b"
        replies[task.id] = {"solver": [fenced(f"def {task.entry_point}({args}):\n    {good}")]}
    model = f"scripted:{write_script(tmp_path / 'm.yaml', {'tasks': replies})}"
    bad = Lesson(
        text="When adding two integer numbers, convert the arguments with int() first.",
        scope="family",
        scope_key="calc",
        topic="add two integer numbers sum",
    )
    async with corrigo.open_store(store) as opened:
        await opened.add_lesson(bad)

    statuses, recalled = [], []
    for task in tasks:  # the three unrelated tasks first: they pass without the lesson
        [outcome] = await corrigo.run(
            [task], strategy="single(lessons=use)", model=model, store=store
        )
        stored = await corrigo.load_run(outcome.run_id, store=store)
        solve = next(s for s in stored.steps if s.key == "r1.solve")
        recalled.append(bad.id in solve.lessons)
        async with corrigo.open_store(store) as opened:
            statuses.append((await opened.get_lesson(bad.id)).status)

    # Unrelated tasks never recall it; the add tasks do until it is retired.
    assert recalled == [False] * 3 + [True] * 6 + [False]
    assert statuses[:5] == ["active"] * 5  # under three uses nothing is decided
    assert statuses[5] == "demoted"  # 3 uses, 0 passed, against 3 of 3 without it
    assert statuses[8] == "retired"  # 6 uses and still no help
    assert statuses[9] == "retired"
    async with corrigo.open_store(store) as opened:
        final = await opened.get_lesson(bad.id)
    assert (final.uses, final.helped) == (6, 0)
