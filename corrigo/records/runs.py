"""Runs: their steps, their spec (options, budgets, limits) and how they ended."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from corrigo.records.base import Record, utcnow
from corrigo.records.results import Candidate, Verdict
from corrigo.records.tasks import Task


class Message(Record):
    role: Literal["system", "user", "assistant"]
    content: str


class Usage(Record):
    tokens_in: int = 0
    tokens_out: int = 0
    latency_ms: float = 0.0


StepKind = Literal["model", "exec", "event"]


class Step(Record):
    """One recorded step of a run. Idempotent on ``(run_id, seq)``."""

    run_id: str
    seq: int
    round: int
    role: str
    node: str
    kind: StepKind
    messages: list[Message] = Field(default_factory=list)
    output: str | None = None
    model: str | None = None
    usage: Usage = Field(default_factory=Usage)
    # Dollars the model call cost at the price table's rate (None: not a model call,
    # a model without a price, or a step stored before prices were kept).
    cost: float | None = None
    candidate: Candidate | None = None
    verdict: Verdict | None = None
    error: str | None = None
    # A stable identity within the run ("r2.refine", "r1.sample3", "score.hidden"): unique
    # under parallel branches, the same in a replay; ``seq`` is only the storage order.
    key: str = ""
    # What the reply was: "empty", "refusal", "truncated", "no_code" (none: a normal reply).
    flags: list[str] = Field(default_factory=list)
    temperature: float | None = None
    seed: int | None = None
    # Ids of the lessons (reflection notes) put in this step's prompt.
    lessons: list[str] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utcnow)


class Budgets(Record):
    max_rounds: int = Field(default=3, ge=1)
    max_model_calls: int = Field(default=50, ge=1)
    max_tokens: int = Field(default=200_000, ge=1)
    max_seconds: float = Field(default=1800.0, gt=0)
    max_sandbox_seconds: float = Field(default=600.0, gt=0)
    # Dollars at most, at the price table's rates (None: no cost budget).
    max_cost: float | None = Field(default=None, ge=0, allow_inf_nan=False)


class Sampling(Record):
    """How one role samples: recorded in the run spec so a run can be repeated."""

    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    seed: int | None = 0
    max_tokens: int | None = None


class Limits(Record):
    """Resource limits for one sandbox execution."""

    wall_seconds: float = 10.0
    cpu_seconds: float = 10.0
    memory_mb: int = 1024
    processes: int = 64
    output_bytes: int = 64 * 1024
    file_size_mb: int = 16
    open_files: int = 256
    network: bool = False


class ForkPoint(Record):
    """Where a forked run came from: its parent run and the last step it took from it."""

    run_id: str
    step: int = Field(ge=1)


class RunSpec(Record):
    task: Task
    strategy: str = "refine"
    params: dict[str, Any] = Field(default_factory=dict)
    roles: dict[str, str] = Field(default_factory=dict)
    sampling: dict[str, Sampling] = Field(default_factory=dict)
    budgets: Budgets = Field(default_factory=Budgets)
    limits: Limits = Field(default_factory=Limits)
    sandbox: str = "process"
    store: str = ""
    corrigo_version: str = ""
    batch_id: str | None = None
    # A fork's parent run and step: its steps up to there are the parent's, reused.
    forked_from: ForkPoint | None = None


StopReason = Literal["verified", "budget_exhausted", "no_progress", "error", "cancelled"]
#: Which budget ran out, when a run stops with ``budget_exhausted``.
BudgetName = Literal["rounds", "model_calls", "tokens", "seconds", "sandbox_seconds", "cost"]


class Totals(Record):
    model_calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    seconds: float = 0.0
    sandbox_seconds: float = 0.0
    # Dollars spent on model calls (None: some call's model has no price, or the run
    # was stored before prices were kept).
    cost: float | None = None


class Outcome(Record):
    run_id: str
    task_id: str
    stop_reason: StopReason
    # With ``budget_exhausted``: the budget that ran out (None for older records).
    budget: BudgetName | None = None
    best: Candidate | None = None
    rounds: int = 0
    first_round_score: float = 0.0
    first_round_passed: bool = False
    visible_score: float = 0.0
    visible_passed: bool = False
    hidden_score: float | None = None
    hidden_passed: bool | None = None
    first_round_hidden_passed: bool | None = None
    # instructions: the answer follows every instruction in loose mode (IFEval's loose).
    hidden_loose_passed: bool | None = None
    totals: Totals = Field(default_factory=Totals)
    error: str | None = None
    # Tests the model wrote for itself: how many were kept, how many were dropped (they did
    # not compile), and whether the returned candidate passes all kept ones (None: none
    # were generated). Against ``hidden_passed`` this gives their false-positive and
    # false-negative rates.
    generated_tests: int = 0
    generated_dropped: int = 0
    generated_passed: bool | None = None
    strategy: str = ""


#: Stored statuses are ``queued`` (waiting for a worker of ``corrigo serve``, no owner
#: yet), ``running`` and ``finished``; ``interrupted`` is how a ``running`` run whose
#: owning process is gone is shown (see :mod:`corrigo.liveness`).
RunStatus = Literal["queued", "running", "finished", "interrupted"]


class RunRecord(Record):
    """A stored run: its spec, and its outcome once finished."""

    id: str
    status: RunStatus
    spec: RunSpec
    outcome: Outcome | None = None
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    # The process running it: "host/pid/start" (see corrigo.liveness); None when unknown.
    owner: str | None = None


class RunQuery(Record):
    """Which runs ``list_runs`` returns, newest first. Every field given must match."""

    limit: int = Field(default=50, ge=1)
    batch_id: str | None = None
    status: RunStatus | None = None
    task_id: str | None = None  # exact, or a prefix when it ends with "*"
    strategy: str | None = None
    model: str | None = None  # the model spec of any role, exactly
    since: datetime | None = None  # created at or after
    until: datetime | None = None  # created before
