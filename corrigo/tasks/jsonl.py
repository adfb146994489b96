"""Users' own tasks from a JSON Lines file, one task per line.

Schema of a line (see README "Task files")::

    {"id": "add-1", "prompt": "...", "entry_point": "add",
     "visible_tests": ["assert add(1, 2) == 3", {"name": "neg", "code": "..."}],
     "hidden_tests": [...], "preamble": "", "metadata": {}}

``id``, ``prompt`` and ``entry_point`` are required. A test is either a string of Python
statements or an object with ``name`` and ``code``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from corrigo.errors import TaskFormatError, TaskNotFound
from corrigo.records import Task, TestCase

_FIELDS = {"id", "prompt", "entry_point", "visible_tests", "hidden_tests", "preamble", "metadata"}


def _tests(value: Any, where: str, field: str) -> list[TestCase]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise TaskFormatError(f"{where}: {field!r} must be a list of tests")
    tests = []
    for i, item in enumerate(value, 1):
        if isinstance(item, str):
            tests.append(TestCase(name=f"{field.split('_')[0]} {i}", code=item))
        elif isinstance(item, dict) and isinstance(item.get("code"), str):
            tests.append(TestCase(name=str(item.get("name") or f"test {i}"), code=item["code"]))
        else:
            raise TaskFormatError(
                f"{where}: {field}[{i - 1}] must be a string or an object with 'code'"
            )
    return tests


def parse_line(line: str, where: str) -> Task:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise TaskFormatError(f"{where}: not valid JSON ({exc.msg})") from None
    if not isinstance(obj, dict):
        raise TaskFormatError(f"{where}: expected a JSON object")
    unknown = set(obj) - _FIELDS
    if unknown:
        raise TaskFormatError(f"{where}: unknown field(s) {sorted(unknown)}")
    for key in ("id", "prompt", "entry_point"):
        if not isinstance(obj.get(key), str) or not obj[key].strip():
            raise TaskFormatError(f"{where}: missing or empty string field {key!r}")
    try:
        return Task(
            id=obj["id"],
            prompt=obj["prompt"],
            entry_point=obj["entry_point"],
            preamble=obj.get("preamble") or "",
            visible_tests=_tests(obj.get("visible_tests"), where, "visible_tests"),
            hidden_tests=_tests(obj.get("hidden_tests"), where, "hidden_tests"),
            metadata=dict(obj.get("metadata") or {}, source="jsonl"),
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise TaskFormatError(f"{where}: {loc}: {first['msg']}") from None


def load(path_text: str) -> list[Task]:
    path = Path(path_text).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TaskNotFound(f"task file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TaskFormatError(f"cannot read task file {path}: {exc}") from None
    tasks: list[Task] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        task = parse_line(line, where)
        if task.id in seen:
            raise TaskFormatError(
                f"{where}: duplicate task id {task.id!r} (first on line {seen[task.id]})"
            )
        seen[task.id] = number
        tasks.append(task)
    if not tasks:
        raise TaskFormatError(f"{path}: no tasks in file")
    return tasks
