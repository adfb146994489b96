"""Task sources by name, and the selector syntax the CLI and API share.

Selectors: ``humaneval`` (all), ``humaneval:HumanEval/12`` (one id; several ids are
comma-separated), ``humaneval[:20]`` / ``humaneval[5:10]`` (a slice), ``jsonl:PATH``
(optionally with a slice or ``#ID``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from corrigo.errors import TaskNotFound
from corrigo.records import Task

__all__ = ["SOURCES", "load_tasks"]


def _humaneval(arg: str) -> list[Task]:
    from corrigo.tasks import humaneval

    if arg:
        raise TaskNotFound(f"the humaneval source takes no argument, got {arg!r}")
    return humaneval.load()


def _jsonl(arg: str) -> list[Task]:
    from corrigo.tasks import jsonl

    if not arg:
        raise TaskNotFound("jsonl needs a path: jsonl:PATH")
    return jsonl.load(arg)


SOURCES: dict[str, Callable[[str], list[Task]]] = {"humaneval": _humaneval, "jsonl": _jsonl}

_SLICE = re.compile(r"^(?P<body>.*)\[(?P<start>-?\d*):(?P<stop>-?\d*)\]$")


def _select_ids(tasks: list[Task], ids: list[str], source: str) -> list[Task]:
    by_id = {t.id: t for t in tasks}
    chosen = []
    for task_id in ids:
        if task_id not in by_id:
            hint = " (ids run HumanEval/0..HumanEval/163)" if source == "humaneval" else ""
            raise TaskNotFound(f"unknown task id {task_id!r} in {source}{hint}")
        chosen.append(by_id[task_id])
    return chosen


def load_tasks(selector: str) -> list[Task]:
    """Every task the selector names, in order; raises TaskNotFound / TaskFormatError."""
    selector = selector.strip()
    if not selector:
        raise TaskNotFound("empty task selector")
    window: slice | None = None
    match = _SLICE.match(selector)
    if match:
        selector = match["body"]
        start = int(match["start"]) if match["start"] else None
        stop = int(match["stop"]) if match["stop"] else None
        window = slice(start, stop)
    name, _, arg = selector.partition(":")
    ids: list[str] = []
    if name == "humaneval" and arg:
        ids, arg = [i.strip() for i in arg.split(",") if i.strip()], ""
    elif name == "jsonl" and "#" in arg:
        arg, _, id_text = arg.rpartition("#")
        ids = [i.strip() for i in id_text.split(",") if i.strip()]
    if name not in SOURCES:
        known = ", ".join(sorted(SOURCES))
        raise TaskNotFound(f"unknown task source {name!r} (known: {known})")
    tasks = SOURCES[name](arg)
    if ids:
        tasks = _select_ids(tasks, ids, name)
    if window is not None:
        tasks = tasks[window]
    if not tasks:
        raise TaskNotFound(f"selector {selector!r} matches no tasks")
    return tasks
