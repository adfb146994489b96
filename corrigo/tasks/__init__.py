"""Task sources by name, and the selector syntax the CLI and API share.

Selectors: ``humaneval`` (all), ``humaneval:HumanEval/12`` (one id; several ids are
comma-separated), ``humaneval[:20]`` / ``humaneval[5:10]`` (a slice), ``jsonl:PATH``
(optionally with a slice or ``#ID``). Every pulled suite (:mod:`corrigo.tasks.suites`:
``gsm``, ``gsm_symbolic``, ``ifeval``, ``ifbench``) is a source too, selected as
humaneval is: ``gsm[:50]``, ``gsm:gsm8k/473,gsm8k/103``; its tasks are read from
``CORRIGO_HOME/suites/NAME``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

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


def _suite(name: str, home: Path | None) -> list[Task]:
    from corrigo.config import Settings
    from corrigo.tasks import suites

    return suites.load(name, home if home is not None else Settings.from_env().home)


_SLICE = re.compile(r"^(?P<body>.*)\[(?P<start>-?\d*):(?P<stop>-?\d*)\]$")


def _select_ids(tasks: list[Task], ids: list[str], source: str) -> list[Task]:
    by_id = {t.id: t for t in tasks}
    chosen = []
    for task_id in ids:
        if task_id not in by_id:
            hint = " (ids run HumanEval/0..HumanEval/163)" if source == "humaneval" else ""
            if source not in SOURCES and tasks:
                hint = f" (ids look like {tasks[0].id!r})"
            raise TaskNotFound(f"unknown task id {task_id!r} in {source}{hint}")
        chosen.append(by_id[task_id])
    return chosen


def load_tasks(selector: str, *, home: Path | None = None) -> list[Task]:
    """Every task the selector names, in order; raises TaskNotFound / TaskFormatError.

    ``home`` is the data directory pulled suites are read from (default: CORRIGO_HOME).
    """
    from corrigo.tasks.suites import CATALOGUE

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
    if (name == "humaneval" or name in CATALOGUE) and arg:
        ids, arg = [i.strip() for i in arg.split(",") if i.strip()], ""
    elif name == "jsonl" and "#" in arg:
        arg, _, id_text = arg.rpartition("#")
        ids = [i.strip() for i in id_text.split(",") if i.strip()]
    if name in CATALOGUE:
        tasks = _suite(name, home)
    elif name in SOURCES:
        tasks = SOURCES[name](arg)
    else:
        known = ", ".join(sorted([*SOURCES, *CATALOGUE]))
        raise TaskNotFound(f"unknown task source {name!r} (known: {known})")
    if ids:
        tasks = _select_ids(tasks, ids, name)
    if window is not None:
        tasks = tasks[window]
    if not tasks:
        raise TaskNotFound(f"selector {selector!r} matches no tasks")
    return tasks
