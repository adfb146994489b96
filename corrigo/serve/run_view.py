"""What the run page shows of each step: the viewer's model of a run, kind by kind.

- ``code``: each new candidate with a diff against the one it revised; verifications
  with their tests.
- ``math``: the worked solution and its final answer (no diff: solutions are rewritten,
  not patched); the checker's independent program, what it printed when the sandbox ran
  it, and each candidate's check in words (agrees / disagrees / could not check).
- ``instructions``: the reply as text (with a diff against the reply it revised, folded
  away), each instruction followed (✓) or not (✗), strict and loose.

The hidden math answer is never part of a step's view: it appears only in the outcome,
once the run has finished (the template puts it there, labelled as the hidden answer).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Literal

from corrigo.records import Candidate, ExecResult, Step, Verdict


@dataclass(frozen=True)
class DiffLine:
    kind: Literal["file", "hunk", "add", "del", "ctx"]
    text: str


def diff_lines(old: str, new: str, old_name: str, new_name: str) -> list[DiffLine]:
    """A unified diff of two candidates as classified lines (empty: no change)."""
    out = []
    for line in difflib.unified_diff(
        old.splitlines(), new.splitlines(), old_name, new_name, lineterm=""
    ):
        if line.startswith(("---", "+++")):
            kind: Any = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        else:
            kind = {"+": "add", "-": "del"}.get(line[:1], "ctx")
        out.append(DiffLine(kind, line))
    return out


@dataclass(frozen=True)
class Check:
    """A math candidate's check against the independent programs, in words."""

    state: Literal["agrees", "disagrees", "unchecked"]
    text: str


@dataclass(frozen=True)
class StepView:
    step: Step
    produced: bool = False  # the step made its candidate (a verifier only checks one)
    diff: list[DiffLine] | None = None
    base_key: str | None = None
    kind: str = "code"  # the task's kind
    program: str | None = None  # math: the program a checker step's reply holds
    ran: bool = False  # math: the step ran a checker's program in the sandbox
    printed: str | None = None  # math: the last line that program printed
    check: Check | None = None  # math: a candidate's check


@dataclass(frozen=True)
class RoundView:
    number: int
    steps: list[StepView]


def _label(candidate: Candidate) -> str:
    return candidate.key or f"round {candidate.round}"


def math_check(verdict: Verdict, candidate: Candidate | None) -> Check:
    from corrigo.agents.math_check import describe

    state, text = describe(verdict, candidate)
    return Check(state, text)


def _printed(result: ExecResult | None) -> str | None:
    from corrigo.agents.math_check import printed

    return printed(result)


def _program(step: Step) -> str | None:
    from corrigo.agents.math_check import program_code

    return program_code(step.output) if step.output else None


def build_rounds(steps: list[Step], kind: str = "code") -> tuple[list[RoundView], list[StepView]]:
    """Steps grouped by round (hidden scoring apart), each new candidate with its diff
    against the candidate it revised (``parent``), else the previous round's. A math
    run's checker programs are shown as programs, never as candidates."""
    by_key: dict[str, Candidate] = {}
    made: list[Candidate] = []
    rounds: dict[int, list[StepView]] = {}
    scoring: list[StepView] = []
    for step in steps:
        if step.role == "scorer":
            scoring.append(StepView(step, kind=kind))
            continue
        view = StepView(step, kind=kind)
        candidate = step.candidate
        if step.role == "checker" and step.kind == "model":
            view = StepView(step, kind=kind, program=_program(step))
        elif step.node == "check" and step.kind == "exec":
            evidence = step.verdict.evidence if step.verdict else None
            view = StepView(step, kind=kind, ran=True, printed=_printed(evidence))
        elif candidate is not None and (candidate.key == step.key or step.kind == "model"):
            base = by_key.get(candidate.parent) if candidate.parent else None
            if base is None:
                earlier = [c for c in made if c.round < candidate.round]
                base = earlier[-1] if earlier else None
            diff = None
            if base is not None and kind != "math":
                diff = diff_lines(base.code, candidate.code, _label(base), _label(candidate))
            view = StepView(step, True, diff, _label(base) if base else None, kind=kind)
            made.append(candidate)
            if candidate.key:
                by_key[candidate.key] = candidate
        elif kind == "math" and step.verdict is not None:
            view = StepView(step, kind=kind, check=math_check(step.verdict, candidate))
        rounds.setdefault(step.round, []).append(view)
    return [RoundView(n, rounds[n]) for n in sorted(rounds)], scoring
