"""Lessons across tasks: the help gate, retrieval and the ``corrigo lessons`` commands,
on a real SQLite store."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

import corrigo
from corrigo.lessons.gate import MIN_USES, RETIRE_USES, gate, record_outcome
from corrigo.lessons.retrieval import family, relevant, scope_keys, topic_of
from corrigo.records import Lesson, LessonStatus, ScopeStats, Task, TestCase, utcnow
from corrigo.storage.base import TrajectoryStore
from tests.helpers import corrigo as corrigo_cli

SUM_TASK = Task(
    id="HumanEval/900",
    prompt='''from typing import List


def sum_list(numbers: List[int]) -> int:
    """Return the sum of a list of integers. The list may be empty.
    >>> sum_list([1, 2, 3])
    6
    """
''',
    entry_point="sum_list",
    visible_tests=[TestCase(name="example", code="assert sum_list([1, 2, 3]) == 6")],
    hidden_tests=[TestCase(name="check", code="assert sum_list([]) == 0  # zebra_hidden")],
)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[TrajectoryStore]:
    async with corrigo.open_store(f"sqlite:///{tmp_path}/s.db") as opened:
        yield opened


def lesson(text: str, scope_key: str = "*", **fields: object) -> Lesson:
    scope = "global" if scope_key == "*" else ("task" if "/" in scope_key else "family")
    return Lesson.model_validate({"text": text, "scope": scope, "scope_key": scope_key, **fields})


# --- scopes and topic ------------------------------------------------------------------


def test_family_scope_keys_and_topic() -> None:
    assert family("HumanEval/12") == "HumanEval"
    assert family("plain") == "plain"
    assert scope_keys(SUM_TASK) == ["HumanEval/900", "HumanEval", "*"]
    assert scope_keys(SUM_TASK.model_copy(update={"id": "solo"})) == ["solo", "*"]
    topic = topic_of(SUM_TASK)
    assert topic.split()[0] == "sum_list"
    assert "empty" in topic and "integers" in topic
    assert "zebra_hidden" not in topic  # hidden tests never reach retrieval
    assert ">>>" not in topic and "typing" not in topic.split()
    long = SUM_TASK.model_copy(update={"prompt": "word " * 500})
    assert len(topic_of(long).split()) <= 60


# --- the gate --------------------------------------------------------------------------

GATE_CASES: list[tuple[str, LessonStatus, int, int, int, int, LessonStatus]] = [
    # name, status, uses, helped, scope runs, scope passed -> expected
    ("under MIN_USES stays", "active", MIN_USES - 1, 0, 20, 18, "active"),
    ("under MIN_USES stays demoted", "demoted", MIN_USES - 1, 2, 20, 2, "demoted"),
    ("no baseline runs yet", "active", 4, 0, 4, 0, "active"),
    ("helps stays active", "active", 3, 3, 10, 5, "active"),
    ("equal to baseline is not helping", "active", 4, 2, 8, 4, "demoted"),
    ("worse than baseline is demoted", "active", 3, 0, 10, 6, "demoted"),
    ("active at 6 uses is demoted first", "active", RETIRE_USES, 0, 12, 6, "demoted"),
    ("demoted under 6 uses stays demoted", "demoted", RETIRE_USES - 1, 1, 12, 7, "demoted"),
    ("demoted still not helping at 6 retires", "demoted", RETIRE_USES, 1, 12, 7, "retired"),
    ("demoted recovering is active", "demoted", 8, 7, 16, 10, "active"),
    ("retired stays retired", "retired", 10, 10, 12, 10, "retired"),
    ("retired stays retired with few uses", "retired", 0, 0, 0, 0, "retired"),
]


@pytest.mark.parametrize(
    ("status", "uses", "helped", "runs", "passed", "expected"),
    [case[1:] for case in GATE_CASES],
    ids=[case[0] for case in GATE_CASES],
)
def test_gate(
    status: LessonStatus, uses: int, helped: int, runs: int, passed: int, expected: LessonStatus
) -> None:
    note = lesson("x", "HumanEval", status=status, uses=uses, helped=helped)
    baseline = ScopeStats(scope_key="HumanEval", runs=runs, passed=passed)
    assert gate(note, baseline) == expected


# --- retrieval -------------------------------------------------------------------------


async def test_empty_list_lesson_ranks_first(store: TrajectoryStore) -> None:
    empty = lesson("Handle an empty list input: the sum of no numbers is 0, not an error.")
    for note in (
        lesson("Round floats half away from zero before formatting to two decimals."),
        lesson("Sort with a stable key when ties must keep their input order."),
        lesson("Recursion needs a base case for n == 0 or it never stops."),
        empty,
        lesson("Count the digits of a number from its string form."),
    ):
        await store.add_lesson(note)
    found = await relevant(store, SUM_TASK, k=3)
    assert found and found[0].id == empty.id


async def test_unrelated_retired_and_other_tasks_lessons_are_not_returned(
    store: TrajectoryStore,
) -> None:
    wanted = lesson("An empty list of numbers sums to 0.", "HumanEval")
    unrelated = lesson("Escape HTML angle brackets in the rendered page title.")
    retired = lesson("The sum of an empty list of numbers is 0.", status="retired")
    other_task = lesson("The sum of an empty list of numbers is 0.", "HumanEval/7")
    other_family = lesson("The sum of an empty list of numbers is 0.", "MBPP")
    own = lesson("Nothing in common with the words at all.", SUM_TASK.id)
    for note in (wanted, unrelated, retired, other_task, other_family, own):
        await store.add_lesson(note)
    found = {r.id for r in await relevant(store, SUM_TASK, k=10)}
    # A lesson of this very task is relevant whatever its words.
    assert found == {wanted.id, own.id}


async def test_k_boosts_and_demoted_rank(store: TrajectoryStore) -> None:
    same = "Remember that the list of numbers may be empty: return 0 for an empty sum."
    global_active = lesson(same)
    family_active = lesson(same, "HumanEval")
    task_active = lesson(same, SUM_TASK.id)
    demoted = lesson(same, status="demoted")
    for note in (demoted, global_active, family_active, task_active):
        await store.add_lesson(note)
    ranked = [r.id for r in await relevant(store, SUM_TASK, k=4)]
    assert ranked == [task_active.id, family_active.id, global_active.id, demoted.id]
    assert [r.id for r in await relevant(store, SUM_TASK, k=2)] == ranked[:2]
    assert await relevant(store, SUM_TASK, k=0) == []


# --- record_outcome over many runs -----------------------------------------------------


async def test_record_outcome_demotes_then_retires_a_lesson_that_never_helps(
    store: TrajectoryStore,
) -> None:
    useless = lesson("Print debugging output before returning.", "HumanEval")
    useful = lesson("Return 0 for an empty list.", "HumanEval")
    await store.add_lesson(useless)
    await store.add_lesson(useful)
    other = SUM_TASK.model_copy(update={"id": "HumanEval/901"})
    history: list[tuple[int, str, str]] = []
    # Runs without lessons pass half the time; with the useful lesson they pass, with the
    # useless one they fail.
    for n in range(1, 9):
        for changed in await record_outcome(store, other, [], passed=n % 2 == 0):
            history.append((n, *changed))
        for changed in await record_outcome(store, SUM_TASK, [useless.id], passed=False):
            history.append((n, *changed))
        for changed in await record_outcome(store, SUM_TASK, [useful.id], passed=True):
            history.append((n, *changed))
    assert history == [(MIN_USES, useless.id, "demoted"), (RETIRE_USES, useless.id, "retired")]
    assert (await store.get_lesson(useless.id)).status == "retired"
    kept = await store.get_lesson(useful.id)
    assert (kept.status, kept.uses, kept.helped) == ("active", 8, 8)
    assert [r.id for r in await relevant(store, SUM_TASK, k=5)] == [useful.id]
    # A lesson pruned while a run used it is skipped, not an error.
    assert await record_outcome(store, SUM_TASK, ["rf_gone"], passed=True) == []


async def test_record_outcome_brings_a_recovering_lesson_back(store: TrajectoryStore) -> None:
    note = lesson("Check the empty list first.", "HumanEval")
    await store.add_lesson(note)
    other = SUM_TASK.model_copy(update={"id": "HumanEval/901"})
    for passed in (True, True, False, False):
        await record_outcome(store, other, [], passed=passed)
    changes = []
    for _ in range(MIN_USES):
        changes += await record_outcome(store, SUM_TASK, [note.id], passed=False)
    assert changes == [(note.id, "demoted")]  # 0/3 with it, 2/4 without
    for _ in range(6):
        await record_outcome(store, other, [], passed=False)  # without it: 2/10
    assert await record_outcome(store, SUM_TASK, [note.id], passed=True) == [(note.id, "active")]
    assert (await store.get_lesson(note.id)).status == "active"  # 1/4 beats 2/10


# --- the CLI ---------------------------------------------------------------------------


async def _seed(url: str) -> dict[str, Lesson]:
    notes = {
        "empty": lesson(
            "Handle an empty list input before indexing its first element.",
            "HumanEval",
            run_id="run_abc",
            step_seq=4,
            topic="sum_list numbers list empty",
        ),
        "round": lesson("Round floats half away from zero.", status="demoted"),
        "old": lesson(
            "An old retired note.", status="retired", created_at=utcnow() - timedelta(days=40)
        ),
        "new_retired": lesson("A new retired note.", status="retired"),
    }
    async with corrigo.open_store(url) as opened:
        for note in notes.values():
            await opened.add_lesson(note)
        await opened.record_lesson_outcome(["HumanEval/1", "HumanEval", "*"], [], True)
        for passed in (True, False, False, False):
            await opened.record_lesson_outcome(
                ["HumanEval/1", "HumanEval", "*"], [notes["empty"].id], passed
            )
    return notes


def test_cli_list_show_prune(tmp_path: Path) -> None:
    import asyncio

    home = tmp_path / "home"
    url = f"sqlite:///{tmp_path}/cli.db"
    notes = asyncio.run(_seed(url))
    empty = notes["empty"]

    listed = corrigo_cli("lessons", "list", "--store", url, home=home)
    assert listed.returncode == 0, listed.stderr
    assert empty.id in listed.stdout and "1 (25%)" in listed.stdout
    as_json = json.loads(corrigo_cli("lessons", "list", "--store", url, "--json", home=home).stdout)
    assert {row["id"] for row in as_json} == {n.id for n in notes.values()}
    row = next(r for r in as_json if r["id"] == empty.id)
    assert (row["baseline_runs"], row["baseline_passed"]) == (1, 1)
    assert row["gate"]["status"] == "demoted"
    demoted = corrigo_cli(
        "lessons", "list", "--status", "demoted", "--store", url, "--json", home=home
    )
    assert [r["id"] for r in json.loads(demoted.stdout)] == [notes["round"].id]
    scoped = corrigo_cli(
        "lessons", "list", "--scope-key", "HumanEval", "--json", "--store", url, home=home
    )
    assert [r["id"] for r in json.loads(scoped.stdout)] == [empty.id]

    shown = corrigo_cli("lessons", "show", empty.id[:-4], "--store", url, home=home)
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert empty.text in out and "run run_abc step 4" in out and "sum_list numbers" in out
    assert "uses 4 · helped 1 (25%)" in out and "baseline 1/1 runs without it (100%)" in out
    assert "gate: demoted — does not help" in out

    missing = corrigo_cli("lessons", "show", "rf_nope", "--store", url, home=home)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    bare = corrigo_cli("lessons", "prune", "--store", url, home=home)
    assert bare.returncode == 2 and "needs a selector" in bare.stderr
    bad_age = corrigo_cli("lessons", "prune", "--older-than", "soon", "--store", url, home=home)
    assert bad_age.returncode == 2 and "--older-than" in bad_age.stderr
    bad_status = corrigo_cli("lessons", "list", "--status", "zombie", "--store", url, home=home)
    assert bad_status.returncode == 2 and "zombie" in bad_status.stderr

    dry = corrigo_cli("lessons", "prune", "--retired", "--dry-run", "--store", url, home=home)
    assert dry.returncode == 0 and "would delete 2 lessons" in dry.stdout
    old = corrigo_cli(
        "lessons", "prune", "--retired", "--older-than", "30d", "--store", url, home=home
    )
    assert old.returncode == 0 and "deleted 1 lesson" in old.stdout
    by_id = corrigo_cli("lessons", "prune", "--id", notes["round"].id, "--store", url, home=home)
    assert by_id.returncode == 0 and "deleted 1 lesson" in by_id.stdout
    left = json.loads(corrigo_cli("lessons", "list", "--json", "--store", url, home=home).stdout)
    assert {r["id"] for r in left} == {empty.id, notes["new_retired"].id}


def test_cli_list_for_a_task(tmp_path: Path) -> None:
    import asyncio

    home = tmp_path / "home"
    url = f"sqlite:///{tmp_path}/cli.db"
    notes = asyncio.run(_seed(url))
    found = corrigo_cli(
        "lessons", "list", "--task", "humaneval:HumanEval/12", "--json", "--store", url, home=home
    )
    assert found.returncode == 0, found.stderr
    # HumanEval/12: the longest of a list of strings, None for an empty list.
    assert [r["id"] for r in json.loads(found.stdout)] == [notes["empty"].id]
    unknown = corrigo_cli("lessons", "list", "--task", "nope/1", "--store", url, home=home)
    assert unknown.returncode == 2 and "nope/1" in unknown.stderr
