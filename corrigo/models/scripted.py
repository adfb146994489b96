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

Each (task, role) pair consumes its list in order, safely under concurrent calls from
threads or tasks; asking past the end raises ScriptExhausted naming the file, role,
task and reply number. A script may name roles a strategy never asks for. Sampling
parameters (temperature, seed) are accepted and ignored.

:class:`ScriptedChat` is a LangChain chat model, usable on its own: it reads the role
and task from the call's metadata (``corrigo_role``, ``corrigo_task``).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import yaml
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from corrigo.errors import ConfigError, ScriptExhausted
from corrigo.models.base import estimate_tokens
from corrigo.models.chat import ROLE_KEY, TASK_KEY, LangChainModel


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


class Script:
    """A parsed model script and its per-(task, role) cursors."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read model script {path}: {exc.strerror}") from None
        try:
            data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as exc:
            first = str(exc).splitlines()[0]
            raise ConfigError(f"model script {path} is not valid: {first}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"model script {path} must be a mapping")
        unknown = set(data) - {"model", "replies", "tasks"}
        if unknown:
            raise ConfigError(f"model script {path}: unknown key(s) {sorted(unknown)}")
        self.label = str(data.get("model") or f"scripted:{path.name}")
        self._default = _replies(data.get("replies"), "replies")
        tasks = data.get("tasks") or {}
        if not isinstance(tasks, dict):
            raise ConfigError(f"model script {path}: 'tasks' must be a mapping")
        self._tasks = {str(k): _replies(v, f"tasks.{k}") for k, v in tasks.items()}
        self._cursor: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def next(self, task_id: str, role: str) -> str:
        """The next reply for (task, role); ScriptExhausted past the end."""
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
        return replies[index]


class ScriptedChat(BaseChatModel):
    """A LangChain chat model that answers from a :class:`Script`."""

    script: Script
    cache: bool = False  # never serve a reply from LangChain's global cache

    @property
    def _llm_type(self) -> str:
        return "corrigo-scripted"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        meta = run_manager.metadata if run_manager else {}
        role = meta.get(ROLE_KEY)
        if not role:
            raise ConfigError(f"a scripted model needs the role in the call's {ROLE_KEY} metadata")
        text = self.script.next(str(meta.get(TASK_KEY, "")), str(role))
        tokens_in = sum(estimate_tokens(m.text) for m in messages)
        tokens_out = estimate_tokens(text)
        message = AIMessage(
            content=text,
            response_metadata={"finish_reason": "stop", "model_name": self.script.label},
            usage_metadata={
                "input_tokens": tokens_in,
                "output_tokens": tokens_out,
                "total_tokens": tokens_in + tokens_out,
            },
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        # No I/O: answer in the event loop instead of LangChain's default thread hop.
        return self._generate(messages, stop, run_manager, **kwargs)  # type: ignore[arg-type]


class ScriptedModel(LangChainModel):
    """``scripted:FILE``: replies from a script, per role and task."""

    def __init__(self, path: str) -> None:
        self.path = Path(path).expanduser()
        self.script = Script(self.path)
        # Concurrent samples draw from one per-role list, so no bound is needed here.
        super().__init__(f"scripted:{path}", label=self.script.label, concurrency=64)

    def build(self) -> BaseChatModel:
        return ScriptedChat(script=self.script)
