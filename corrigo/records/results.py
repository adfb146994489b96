"""What the sandbox and the checkers found: candidates, execution results, verdicts."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from corrigo.records.base import Record


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
