"""Versioned, JSON-safe records: everything corrigo stores or returns.

Records are pydantic models with a ``schema_version``. Stored state is plain JSON:
decoding unknown fields or a newer schema fails loudly instead of guessing.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION: Literal[1] = 1

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id(prefix: str = "") -> str:
    """A sortable id: 48-bit millisecond time then 80 random bits (ULID layout)."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return prefix + "".join(reversed(chars)).lower()


def utcnow() -> datetime:
    return datetime.now(UTC)


class Record(BaseModel):
    """Base of every stored record: strict about unknown fields, frozen once built."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    schema_version: Literal[1] = SCHEMA_VERSION


class TestCase(Record):
    """One test: Python statements run after the candidate program is loaded."""

    __test__ = False  # not a pytest class

    name: str
    code: str


TaskKind = Literal["code", "math", "instructions"]
TASK_KINDS: tuple[TaskKind, ...] = ("code", "math", "instructions")


class Instruction(Record):
    """One verifiable instruction of an ``instructions`` task: an IFEval/IFBench
    instruction id (``change_case:english_lowercase``) and its checker's arguments."""

    id: str
    kwargs: dict[str, Any] = Field(default_factory=dict)


class Task(Record):
    """A task. ``kind`` says what an answer is and how it is checked:

    - ``code``: a Python function named ``entry_point``, run against tests in the sandbox;
    - ``math``: a final answer to a word problem; ``answer`` (hidden: it only scores, it
      never reaches a prompt, a critique or feedback) is compared as mathematics;
    - ``instructions``: a written reply checked by programmatic checkers, one per
      instruction (the prompt itself states every instruction).
    """

    id: str
    prompt: str
    kind: TaskKind = "code"
    entry_point: str = ""
    # Code placed before the candidate's code when it runs (HumanEval: the prompt's
    # imports, helpers and signature; a docstring-only function is valid Python, so a
    # candidate that redefines it wins).
    preamble: str = ""
    visible_tests: list[TestCase] = Field(default_factory=list)
    hidden_tests: list[TestCase] = Field(default_factory=list)
    answer: str | None = None
    instructions: list[Instruction] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)


class Candidate(Record):
    # The answer as given: a program (code), a worked solution (math), a reply (instructions).
    code: str
    # math: the final answer taken from the solution (None: no final answer was found).
    answer: str | None = None
    round: int
    step_seq: int | None = None
    extracted: bool = True
    # The key of the step that produced it (unique within a run), the candidate it was
    # revised from, and what made it ("solver", "refiner", "sample", ...).
    key: str = ""
    parent: str | None = None
    origin: str = ""


ExecStatus = Literal["passed", "failed", "error", "timeout", "resource_exceeded", "sandbox_error"]


class TraceSnapshot(Record):
    """The candidate's local variables (as capped ``repr`` text) when a line ran."""

    line: int
    locals: dict[str, str] = Field(default_factory=dict)


class Trace(Record):
    """A bounded trace of one call of the candidate, for debugging feedback only.

    Made by tracing the call inside the candidate's process, in a run of the test after
    its verdict was already written: a trace is the candidate's own account and never
    changes a verdict. ``call`` is rendered from the arguments on the tester's side;
    ``lines`` are the program's lines in the order they ran (capped), ``snapshots`` the
    locals at entry, at the first few loop turns and at the end.
    """

    call: str
    lines: list[int] = Field(default_factory=list)
    snapshots: list[TraceSnapshot] = Field(default_factory=list)
    outcome: str = ""
    truncated: bool = False


class TestResult(Record):
    __test__ = False

    name: str
    passed: bool
    message: str = ""
    trace: Trace | None = None


class ExecResult(Record):
    status: ExecStatus
    tests: list[TestResult] = Field(default_factory=list)
    stdout: str = ""
    stderr: str = ""
    truncated: bool = False
    wall_ms: float = 0.0
    cpu_ms: float = 0.0
    peak_memory_kb: int = 0
    exit_code: int | None = None
    detail: str = ""

    @property
    def passed_count(self) -> int:
        return sum(1 for t in self.tests if t.passed)


CallKind = Literal[
    "value", "raised", "timeout", "resource_exceeded", "crashed", "not_loaded", "bad_input"
]


class CallOutcome(Record):
    """What one candidate did on one input.

    ``value`` is the returned value in the sandbox's tagged plain-data form (exact
    builtin types only; :func:`corrigo.sandbox.worker.codec.decode` gives it back as
    Python), ``canonical`` a stable text form for comparing: equal canonical forms mean
    equal values of equal types, whatever the order of a set's or dict's items. An
    exception's canonical form is ``!TypeName``; a timeout, resource or crash status is
    ``!timeout!`` and so on (the closing ``!`` keeps an exception named ``timeout`` apart). Values too large to keep are compared by digest
    (``canonical`` starts with ``sha256:``, ``value`` is None).
    """

    kind: CallKind
    canonical: str
    value: Any = None
    error: str = ""
    message: str = ""


class OutputsResult(Record):
    """A batch: ``outcomes[i][j]`` is candidate ``i`` on input ``j``."""

    outcomes: list[list[CallOutcome]] = Field(default_factory=list)
    stdout: list[str] = Field(default_factory=list)
    wall_ms: float = 0.0
    cpu_ms: float = 0.0

    def vectors(self) -> list[tuple[str, ...]]:
        """Each candidate's outputs as a tuple of canonical forms."""
        return [tuple(o.canonical for o in row) for row in self.outcomes]

    def groups(self) -> list[list[int]]:
        """Candidates with identical output vectors, largest group first (ties: earliest)."""
        found: dict[tuple[str, ...], list[int]] = {}
        for index, vector in enumerate(self.vectors()):
            found.setdefault(vector, []).append(index)
        return sorted(found.values(), key=lambda g: (-len(g), g[0]))


class Verdict(Record):
    passed: bool
    score: float
    feedback: str
    evidence: ExecResult | None = None
    # instructions: every instruction followed in IFEval's loose mode (None: not measured).
    loose: bool | None = None


class Review(Record):
    critique: str
    verdict: Verdict


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


StopReason = Literal["verified", "budget_exhausted", "no_progress", "error", "cancelled"]


class Totals(Record):
    model_calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    seconds: float = 0.0
    sandbox_seconds: float = 0.0


class Outcome(Record):
    run_id: str
    task_id: str
    stop_reason: StopReason
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


LessonScope = Literal["task", "family", "global"]
LessonStatus = Literal["active", "demoted", "retired"]


class Reflection(Record):
    """A lesson: text the solver is shown on later attempts and tasks.

    ``scope_key`` is what it applies to: the task id (scope ``task``), the task family
    (``family``, the part of a task id before its first "/") or ``"*"`` (``global``).
    ``uses`` counts finished runs whose prompts carried it and ``helped`` those of them
    that ended verified; the store keeps both counters, the help gate sets ``status``.
    """

    id: str = Field(default_factory=lambda: new_id("rf_"))
    text: str
    run_id: str | None = None
    step_seq: int | None = None
    scope: LessonScope = "task"
    scope_key: str = ""
    # Words of the task it was learned on: what retrieval matches a new task against.
    topic: str = ""
    uses: int = 0
    helped: int = 0
    status: LessonStatus = "active"
    created_at: datetime = Field(default_factory=utcnow)


class ScopeStats(Record):
    """Finished runs with lessons enabled in one scope, and how many ended verified."""

    scope_key: str
    runs: int = 0
    passed: int = 0


class BenchSpec(Record):
    """A grid of runs: every task of ``suite`` × every strategy × every model."""

    id: str = Field(default_factory=lambda: new_id("bench_"))
    suite: str
    strategies: list[str]
    models: list[str]
    limit: int | None = None
    max_rounds: int = 3
    params: dict[str, Any] = Field(default_factory=dict)
    sandbox: str = "process"
    corrigo_version: str = ""
    created_at: datetime = Field(default_factory=utcnow)

    def cell_batch(self, strategy: str, model: str) -> str:
        """The batch id of one cell's runs: how a cell's finished tasks are found again."""
        return f"{self.id}/{strategy}/{model}"


# What graphs carry and the checkpointer stores: shared by graphs and storage.


class Spend(BaseModel):
    """What a node spent; the ``spend`` channel sums them."""

    model_config = ConfigDict(frozen=True)

    calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    sandbox_seconds: float = 0.0

    def __add__(self, other: Spend) -> Spend:
        return Spend(
            calls=self.calls + other.calls,
            tokens_in=self.tokens_in + other.tokens_in,
            tokens_out=self.tokens_out + other.tokens_out,
            sandbox_seconds=self.sandbox_seconds + other.sandbox_seconds,
        )

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out


class Attempt(BaseModel):
    """A candidate and what the verifier found: visible tests, and generated ones if any."""

    model_config = ConfigDict(frozen=True)

    candidate: Candidate
    verdict: Verdict
    generated_score: float | None = None
    generated_passed: bool | None = None
    repeat: bool = False
