"""Requests and responses of the API, and what a request may name.

A request names only what the server has configured: a suite by name (with a slice
``suite[:5]`` or task ids ``suite:ID,ID``), a model by name, a registered strategy.
Anything that looks like a file path or a URL is refused with 422 before it reaches
corrigo, so no request can make the server read a file (``jsonl:/etc/passwd``),
traverse a path (``../x``) or connect anywhere (a base URL, an arbitrary model spec).
Inline tasks are checked as task files are (:func:`corrigo.tasks.jsonl.parse_line`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from corrigo.records import Budgets, RunRecord, Step, Task

__all__ = [
    "ApiError",
    "BudgetsIn",
    "ErrorBody",
    "Health",
    "ReplayOut",
    "RunPage",
    "RunRequest",
    "StepsOut",
    "Submitted",
]


class ApiError(Exception):
    """An error answered as ``{"error": message, "code": code}`` with ``status``."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = dict(headers or {})


class ErrorBody(BaseModel):
    error: str
    code: str


Scalar = str | int | float | bool | None


class BudgetsIn(BaseModel):
    """Budgets of each run (corrigo's defaults when omitted), within the server's caps."""

    model_config = ConfigDict(extra="forbid")
    max_rounds: int | None = Field(default=None, ge=1)
    max_model_calls: int | None = Field(default=None, ge=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_seconds: float | None = Field(default=None, gt=0)
    max_cost: float | None = Field(
        default=None,
        ge=0,
        allow_inf_nan=False,
        description="Dollars each run may spend at most, at the server's price table; "
        "every model the run uses needs a price.",
    )


class RunRequest(BaseModel):
    """``POST /v1/runs``: one run per task, all in one new batch."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"tasks": "humaneval[:3]", "strategy": "refine", "model": "default"},
                {
                    "tasks": [
                        {
                            "id": "add",
                            "prompt": "def add(a, b):\n    '''Sum.'''\n",
                            "entry_point": "add",
                            "visible_tests": ["assert add(1, 2) == 3"],
                        }
                    ],
                    "strategy": "best_of_n(n=3)",
                    "budgets": {"max_rounds": 2},
                },
            ]
        },
    )
    tasks: str | list[dict[str, Any]] = Field(
        description="A configured suite's name, optionally with a slice (suite[:5]) or task "
        "ids (suite:ID,ID); or task records as in a task file (id, prompt, entry_point, "
        "visible_tests, hidden_tests, preamble, metadata)."
    )
    strategy: str = Field(default="refine", description="A strategy, e.g. best_of_n(n=5).")
    params: dict[str, Scalar] = Field(default_factory=dict, description="Strategy parameters.")
    model: str | None = Field(
        default=None, description="A model name configured on the server (default: its first)."
    )
    budgets: BudgetsIn = Field(default_factory=BudgetsIn)


class ForkRequest(BaseModel):
    """``POST /v1/runs/{id}/fork``: a new run that takes the run's steps up to ``at`` and
    goes on with the options given (the others are the run's)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"at": 3, "model": "default"}]},
    )
    at: int = Field(ge=1, description="The last step taken from the run (its seq).")
    strategy: str | None = Field(default=None, description="Strategy from there on.")
    model: str | None = Field(
        default=None, description="A configured model's name for every role from there on."
    )
    max_rounds: int | None = Field(default=None, ge=1, description="Rounds at most.")


def capped(budgets: Budgets, caps: Budgets) -> Budgets:
    """``budgets`` with every field above the server's cap lowered to the cap (a fork
    keeps its parent's budgets, which may come from a run made outside the server)."""
    update: dict[str, Any] = {}
    for key in Budgets.model_fields:
        cap, value = getattr(caps, key), getattr(budgets, key)
        if key == "schema_version" or cap is None:
            continue
        if value is None or value > cap:
            update[key] = cap
    return budgets.model_copy(update=update)


class Submitted(BaseModel):
    batch_id: str
    run_ids: list[str]
    status: Literal["queued"] = "queued"


class RunPage(BaseModel):
    runs: list[RunRecord]
    next: str | None = Field(
        default=None, description="Pass as ?before= for the next (older) page; none at the end."
    )


class StepsOut(BaseModel):
    run_id: str
    steps: list[Step]


class StepMatchOut(BaseModel):
    seq: int
    role: str
    node: str
    matched: bool
    reason: str = ""


class ReplayOut(BaseModel):
    run_id: str
    mode: str
    all_matched: bool
    steps: list[StepMatchOut]
    replies_served: int
    model_calls: int
    stop_reason: str
    recorded_stop_reason: str


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    version: str
    store: str
    workers: int
    running: int


# -- what a request may name -----------------------------------------------------------

_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")
_SELECTOR = re.compile(
    r"^(?P<suite>[A-Za-z0-9][A-Za-z0-9_.-]*)"
    r"(?:\[(?P<start>-?\d*):(?P<stop>-?\d*)\]|:(?P<ids>[^\[\]]+))?$"
)


def looks_like_place(text: str) -> bool:
    """Does ``text`` look like a file path or a URL?"""
    lowered = text.strip().lower()
    return (
        "://" in lowered
        or lowered.startswith(("/", "~", "\\", "./", "file:", "http:", "https:"))
        or ".." in lowered
        or any(part.startswith(("/", "~")) for part in lowered.split(":")[1:])
        or "\\" in lowered
        or bool(_DRIVE.match(lowered))
        or "\x00" in lowered
    )


def _refuse_place(text: str, field: str) -> None:
    if looks_like_place(text):
        raise ApiError(
            422,
            "path_not_allowed",
            f"{field} {text!r} looks like a file path or URL: requests name only what the "
            "server has configured",
        )


def parse_selector(text: str, suites: Mapping[str, str]) -> tuple[str, slice | None, list[str]]:
    """(suite name, slice, task ids) of a selector over the configured ``suites``."""
    _refuse_place(text, "the task selector")
    match = _SELECTOR.match(text.strip())
    name = match["suite"] if match else text.split(":", 1)[0].split("[", 1)[0]
    if not match or name not in suites:
        known = ", ".join(sorted(suites)) or "none"
        raise ApiError(
            422,
            "unknown_suite",
            f"unknown suite {name!r}: name one of the server's suites ({known}), optionally "
            "with a slice (suite[:5]) or task ids (suite:ID,ID); files and sources such as "
            "jsonl: are not accepted over HTTP",
        )
    ids = [i.strip() for i in (match["ids"] or "").split(",") if i.strip()]
    for task_id in ids:
        _refuse_place(task_id, "the task id")
    window = None
    if match["start"] is not None or match["stop"] is not None:
        start = int(match["start"]) if match["start"] else None
        stop = int(match["stop"]) if match["stop"] else None
        window = slice(start, stop)
    return name, window, ids


def select(tasks: list[Task], name: str, window: slice | None, ids: list[str]) -> list[Task]:
    if ids:
        by_id = {t.id: t for t in tasks}
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise ApiError(422, "unknown_task", f"suite {name!r} has no task {missing[0]!r}")
        tasks = [by_id[i] for i in ids]
    if window is not None:
        tasks = tasks[window]
    if not tasks:
        raise ApiError(422, "no_tasks", "the selector matches no tasks")
    return tasks


def inline_tasks(records: list[dict[str, Any]]) -> list[Task]:
    """Task records from a request, checked as lines of a task file are."""
    from corrigo.errors import CorrigoError
    from corrigo.tasks.jsonl import parse_line

    if not records:
        raise ApiError(422, "no_tasks", "tasks is an empty list")
    tasks: list[Task] = []
    seen: dict[str, int] = {}
    for index, record in enumerate(records):
        where = f"tasks[{index}]"
        try:
            task = parse_line(json.dumps(record), where)
        except CorrigoError as exc:
            raise ApiError(422, "invalid_task", str(exc)) from None
        if task.id in seen:
            raise ApiError(
                422,
                "invalid_task",
                f"{where}: duplicate task id {task.id!r} (first at tasks[{seen[task.id]}])",
            )
        seen[task.id] = index
        _data_only(task, where)
        metadata = {**task.metadata, "source": "api"}
        tasks.append(task.model_copy(update={"metadata": metadata}))
    return tasks


def _data_only(task: Task, where: str) -> None:
    """Tests and the preamble run on the sandbox's trusted side (the tester process), so a
    request's task may hold only data there: literal checks of its entry point."""
    from corrigo.agents.test_designer import is_literal_check

    if task.kind == "instructions":
        # Some checkers read their arguments as regular expressions (keywords), which the
        # server would run on its own threads: such tasks come from configured suites.
        raise ApiError(
            422,
            "code_not_allowed",
            f"{where}: instructions tasks are not accepted over HTTP (their checkers' "
            "arguments are patterns the server would run); use a suite configured on the server",
        )
    if task.preamble.strip():
        raise ApiError(
            422, "code_not_allowed", f"{where}: a preamble is code; tasks sent over HTTP have none"
        )
    for kind, tests in (("visible_tests", task.visible_tests), ("hidden_tests", task.hidden_tests)):
        for test in tests:
            if not is_literal_check(test.code, task.entry_point):
                raise ApiError(
                    422,
                    "code_not_allowed",
                    f"{where}.{kind} {test.name!r}: over HTTP a test must be one literal check "
                    f"such as 'assert {task.entry_point}(1, [2]) == 3' (tests run outside the "
                    "candidate's sandbox, so they must be data, not code)",
                )


def model_spec(name: str | None, models: Mapping[str, str]) -> str:
    """The spec behind a configured model name."""
    if name is None:
        return next(iter(models.values()))
    known = ", ".join(models)
    if name not in models:
        if looks_like_place(name) or ":" in name or "/" in name:
            raise ApiError(
                422,
                "model_not_allowed",
                f"model {name!r} is not a configured name: requests name one of the server's "
                f"models ({known}), never a model spec, path or URL",
            )
        raise ApiError(422, "unknown_model", f"unknown model {name!r} (configured: {known})")
    return models[name]


def _lower(a: Any, b: Any) -> Any:
    """The tighter of two limits; None is no limit."""
    return b if a is None else a if b is None else min(a, b)


def budgets_within(given: BudgetsIn, caps: Budgets) -> Budgets:
    """The request's budgets over corrigo's defaults; 422 above a server cap (a cap of
    None, such as ``max_cost`` unless the server sets one, is no cap)."""
    chosen = {k: v for k, v in given.model_dump().items() if v is not None}
    for key, value in chosen.items():
        cap = getattr(caps, key)
        if cap is not None and value > cap:
            raise ApiError(
                422, "over_cap", f"budgets.{key}={value} is above this server's cap of {cap}"
            )
    defaults = Budgets()
    merged = {k: _lower(getattr(defaults, k), getattr(caps, k)) for k in Budgets.model_fields}
    merged.pop("schema_version", None)
    return Budgets(**{**merged, **chosen})


def check_params(params: Mapping[str, Any]) -> None:
    if params.get("lessons") not in (None, "off"):
        # Lessons are shared by every run of the store: one caller's text would reach
        # other callers' prompts.
        raise ApiError(
            422,
            "lessons_not_allowed",
            "lessons are not available over HTTP (shared between callers)",
        )
    for key, value in params.items():
        if isinstance(value, str):
            _refuse_place(value, f"params.{key}")
