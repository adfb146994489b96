"""``corrigo lessons list|show|prune``: the lessons that carry across tasks, and the gate."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from corrigo.cli.app import HomeOption, StoreOption, console, lessons_app, settings_for
from corrigo.errors import TaskNotFound, UsageError

if TYPE_CHECKING:  # the records (pydantic) load with the commands that use them
    from corrigo.records import Lesson, LessonStatus, ScopeStats, Task
    from corrigo.storage.base import TrajectoryStore

T = TypeVar("T")
_STATUSES: tuple[LessonStatus, ...] = ("active", "demoted", "retired")
_EVERY = 10**9  # "no limit" for list_lessons


def _with_store(
    store: str | None, home: Path | None, work: Callable[[TrajectoryStore], Awaitable[T]]
) -> T:
    import corrigo

    url = settings_for(store, home).resolved_store_url

    async def main() -> T:
        async with corrigo.open_store(url) as opened:
            return await work(opened)

    return asyncio.run(main())


def _statuses(values: Sequence[str] | None) -> list[LessonStatus] | None:
    if not values:
        return None
    chosen: list[LessonStatus] = []
    for value in values:
        matched = [s for s in _STATUSES if s == value.strip().lower()]
        if not matched:
            raise UsageError(f"unknown lesson status {value!r} (one of: {', '.join(_STATUSES)})")
        chosen.append(matched[0])
    return chosen


async def _task_for(store: TrajectoryStore, ref: str) -> Task:
    """The task ``ref`` names: a selector naming one task (``humaneval:HumanEval/12``,
    ``jsonl:tasks.jsonl#t1``), or a task id: the task of its latest stored run, else the
    HumanEval problem with that id."""
    import corrigo

    if ":" not in ref:
        from corrigo.records import RunQuery

        runs = await store.list_runs(query=RunQuery(task_id=ref.replace("*", ""), limit=1))
        if runs:
            return runs[0].spec.task
        if not ref.startswith("HumanEval/"):
            raise TaskNotFound(
                f"no stored run of task {ref!r}: name it with a selector, like "
                "jsonl:tasks.jsonl#ID or humaneval:HumanEval/12"
            )
        ref = f"humaneval:{ref}"
    tasks = corrigo.load_tasks(ref)
    if len(tasks) != 1:
        raise UsageError(f"--task {ref!r} names {len(tasks)} tasks; name exactly one")
    return tasks[0]


def _rate(passed: int, runs: int) -> str:
    return f"{passed / runs:.0%}" if runs else "-"


def _short(text: str, width: int = 70) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _row(lesson: Lesson, stats: dict[str, ScopeStats]) -> dict[str, Any]:
    from corrigo.lessons.gate import assess
    from corrigo.records import ScopeStats

    baseline = stats.get(lesson.scope_key, ScopeStats(scope_key=lesson.scope_key))
    verdict = assess(lesson, baseline)
    return {
        **lesson.model_dump(mode="json"),
        "baseline_runs": verdict.baseline_runs,
        "baseline_passed": verdict.baseline_passed,
        "gate": {"status": verdict.status, "reason": verdict.reason},
    }


@lessons_app.command("list")
def list_command(
    status: list[str] | None = typer.Option(
        None, "--status", help="active, demoted or retired (repeatable)."
    ),
    scope_key: list[str] | None = typer.Option(
        None, "--scope-key", help="A task id, a family or * (repeatable)."
    ),
    task: str | None = typer.Option(
        None,
        "--task",
        help="Only the lessons relevant to this task, best first (a task id or a selector "
        "naming one task).",
    ),
    limit: int = typer.Option(50, "--limit", "-n", min=1),
    as_json: bool = typer.Option(False, "--json"),
    store: str | None = StoreOption,
    home: Path | None = HomeOption,
) -> None:
    """List lessons, newest first: counters, pass rate with and without each, the text."""
    from corrigo.lessons.retrieval import relevant

    statuses = _statuses(status)
    if task is not None and (statuses or scope_key):
        raise UsageError("--task picks lessons itself: use it without --status/--scope-key")

    async def work(opened: TrajectoryStore) -> tuple[list[Lesson], dict[str, ScopeStats]]:
        if task is not None:
            lessons = await relevant(opened, await _task_for(opened, task), k=limit)
        else:
            lessons = await opened.list_lessons(scope_key or None, statuses, limit)
        keys = sorted({lesson.scope_key for lesson in lessons})
        return lessons, (await opened.scope_stats(keys) if keys else {})

    lessons, stats = _with_store(store, home, work)
    rows = [_row(lesson, stats) for lesson in lessons]
    if as_json:
        console.print_json(json.dumps(rows))
        return
    if not rows:
        console.print("no lessons" + (" relevant to that task" if task else " match"))
        return
    table = Table(title_justify="left")
    for name in ("id", "status", "scope", "uses", "helped", "baseline", "text"):
        table.add_column(name, no_wrap=name != "text")
    for row in rows:
        table.add_row(
            row["id"],
            row["status"],
            escape(f"{row['scope']}:{row['scope_key']}"),
            str(row["uses"]),
            f"{row['helped']} ({_rate(row['helped'], row['uses'])})",
            _rate(row["baseline_passed"], row["baseline_runs"]),
            escape(_short(row["text"])),
        )
    console.print(table)


@lessons_app.command("show")
def show_command(
    lesson_id: str = typer.Argument(..., help="Lesson id (a unique prefix of 6+ characters)."),
    as_json: bool = typer.Option(False, "--json"),
    store: str | None = StoreOption,
    home: Path | None = HomeOption,
) -> None:
    """One lesson in full: text, where it came from, counters, and what the gate says."""

    async def work(opened: TrajectoryStore) -> dict[str, Any]:
        lesson = await opened.get_lesson(lesson_id)
        return _row(lesson, await opened.scope_stats([lesson.scope_key]))

    row = _with_store(store, home, work)
    if as_json:
        console.print_json(json.dumps(row))
        return
    source = "-"
    if row["run_id"]:
        source = f"run {row['run_id']}" + (
            f" step {row['step_seq']}" if row["step_seq"] is not None else ""
        )
    gate = row["gate"]
    lines = [
        f"[bold]lesson {row['id']}[/bold] · {row['status']} · "
        f"{row['scope']} {escape(row['scope_key'])} · created {row['created_at']}",
        f"learned from: {escape(source)}",
        f"topic: {escape(row['topic'] or '-')}",
        f"uses {row['uses']} · helped {row['helped']} ({_rate(row['helped'], row['uses'])})"
        f" · baseline {row['baseline_passed']}/{row['baseline_runs']} runs without it"
        f" ({_rate(row['baseline_passed'], row['baseline_runs'])})",
        f"gate: {gate['status']} — {escape(gate['reason'])}"
        + ("" if gate["status"] == row["status"] else " (applied when a run using it ends)"),
    ]
    for line in lines:
        console.print(line)
    console.rule(align="left")
    console.print(escape(row["text"]))


@lessons_app.command("prune")
def prune_command(
    retired: bool = typer.Option(False, "--retired", help="Retired lessons."),
    older_than: str | None = typer.Option(
        None,
        "--older-than",
        help="Lessons created before this: an age (30d, 12h, 2w) or a date, as runs prune takes.",
    ),
    ids: list[str] | None = typer.Option(None, "--id", help="These lessons (repeatable)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count, delete nothing."),
    store: str | None = StoreOption,
    home: Path | None = HomeOption,
) -> None:
    """Delete lessons matching every selector given (at least one is needed)."""
    from corrigo.cli.runs import parse_when

    if not (retired or older_than or ids):
        raise UsageError("lessons prune needs a selector: --retired, --older-than or --id")
    cutoff = parse_when(older_than, "--older-than") if older_than else None

    async def work(opened: TrajectoryStore) -> int:
        if ids:
            chosen = [await opened.get_lesson(i) for i in ids]
        else:
            chosen = await opened.list_lessons(
                statuses=["retired"] if retired else None, limit=_EVERY
            )
        chosen = [
            lesson
            for lesson in {lesson.id: lesson for lesson in chosen}.values()
            if (not retired or lesson.status == "retired")
            and (cutoff is None or lesson.created_at < cutoff)
        ]
        if dry_run:
            return len(chosen)
        return await opened.delete_lessons([lesson.id for lesson in chosen])

    count = _with_store(store, home, work)
    noun = "lesson" if count == 1 else "lessons"
    console.print(f"{'would delete' if dry_run else 'deleted'} {count} {noun}")
