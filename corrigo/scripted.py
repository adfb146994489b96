"""Scripted models: replies read from a file, for tests and demos of the loop.

File format (YAML or JSON)::

    model: my-script            # optional name recorded with each step
    replies:                    # for every task, in order, per role
      solver: ["```python\\ndef f(): ...\\n```"]
      reviewer: ["The loop stops one short."]
      refiner: ["..."]
    tasks:                      # optional, per task id; wins over `replies` for that role
      HumanEval/0:
        solver: ["..."]

Each (task, role) pair consumes its list in order; asking past the end raises
ScriptExhausted naming the file, role, task and reply number.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from corrigo.errors import ConfigError, ScriptExhausted
from corrigo.models import ChatModel, Reply
from corrigo.records import Message, Usage


def _estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4) if text else 0


def _replies(value: Any, where: str) -> dict[str, list[str]]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must map role names to lists of replies")
    out: dict[str, list[str]] = {}
    for role, items in value.items():
        if isinstance(items, str):
            items = [items]
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise ConfigError(f"{where}.{role} must be a list of strings")
        out[str(role)] = list(items)
    return out


class ScriptedModel(ChatModel):
    def __init__(self, path: str) -> None:
        self.path = Path(path).expanduser()
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read model script {self.path}: {exc.strerror}") from None
        try:
            data = json.loads(text) if self.path.suffix == ".json" else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as exc:
            first = str(exc).splitlines()[0]
            raise ConfigError(f"model script {self.path} is not valid: {first}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"model script {self.path} must be a mapping")
        unknown = set(data) - {"model", "replies", "tasks"}
        if unknown:
            raise ConfigError(f"model script {self.path}: unknown key(s) {sorted(unknown)}")
        self.spec = f"scripted:{path}"
        self.label = str(data.get("model") or f"scripted:{self.path.name}")
        self._default = _replies(data.get("replies"), "replies")
        tasks = data.get("tasks") or {}
        if not isinstance(tasks, dict):
            raise ConfigError(f"model script {self.path}: 'tasks' must be a mapping")
        self._tasks = {str(k): _replies(v, f"tasks.{k}") for k, v in tasks.items()}
        self._cursor: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    async def complete(self, messages: Sequence[Message], *, role: str, task_id: str) -> Reply:
        started = time.perf_counter()
        per_task = self._tasks.get(task_id, {})
        replies = per_task[role] if role in per_task else self._default.get(role, [])
        with self._lock:
            index = self._cursor.get((task_id, role), 0)
            self._cursor[(task_id, role)] = index + 1
        if index >= len(replies):
            raise ScriptExhausted(
                f"model script {self.path.name} has no reply #{index + 1} for role {role!r}"
                f" (task {task_id})"
            )
        text = replies[index]
        usage = Usage(
            tokens_in=sum(_estimate_tokens(m.content) for m in messages),
            tokens_out=_estimate_tokens(text),
            latency_ms=(time.perf_counter() - started) * 1000.0,
        )
        return Reply(text=text, usage=usage, model=self.label)
