"""Grounded checks of math answers: an independent program, run in the sandbox.

Program-aided verification (as in PAL and the verify-by-program papers): the model is
asked, once per run and without seeing any candidate answer, for a short Python program
that computes the answer; the program is model code, so it runs in the sandbox like any
candidate. A candidate whose final answer agrees with the program's printed result is
verified; one that disagrees gets the program and its result as feedback ("two methods
disagree; one is wrong"), never the task's answer, which only scores. A candidate that
disagrees with the first program gets a second, independent one sampled
(:mod:`corrigo.graphs.reference`); agreeing with either verifies it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from corrigo.agents.base import render
from corrigo.agents.extract import extract_code
from corrigo.checks.answers import canonical, extract_answer, same_answer
from corrigo.records import Candidate, ExecResult, Message, Task, TestResult, Verdict

NO_ANSWER_FEEDBACK = (
    "Your reply gave no final answer that could be read. Solve the problem step by step "
    "and end with the final answer in \\boxed{}, for example \\boxed{42}."
)
CHECK_NAME = "independent program agrees"
DISAGREES = "program printed"  # how a disagreeing check's message starts
_MAX_SHOWN = 1500


@dataclass(frozen=True)
class Reference:
    """The independent program's result: its code, its run, the value it printed."""

    code: str
    result: ExecResult | None
    value: str | None

    @property
    def problem(self) -> str:
        """Why there is no value, or the empty string."""
        if self.value is not None:
            return ""
        if not self.code:
            return "the model wrote no program"
        if self.result is None:
            return "the program did not run"
        if self.result.status != "passed":
            tail = (self.result.stderr or self.result.detail).strip().splitlines()[-3:]
            return f"the program ended with {self.result.status}: " + " / ".join(tail)
        return "the program printed no answer"


def program_messages(task: Task) -> list[Message]:
    """Ask for a program computing the answer (the candidates are not shown)."""
    return render("program", kind="math", prompt=task.prompt.strip())


# Programs often use what the prompt suggests without importing it.
PRELUDE = "import math\nfrom fractions import Fraction\n\n"


def program_code(reply: str) -> str | None:
    return extract_code(reply)


def runnable(code: str) -> str:
    """The program as the sandbox runs it: ``math`` and ``Fraction`` already imported."""
    return PRELUDE + code


def program_value(result: ExecResult) -> str | None:
    """The answer the program printed: its last non-empty line of output."""
    if result.status != "passed":
        return None
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    if not lines:
        return None
    return extract_answer(lines[-1]) or lines[-1].strip()[:120]


def agrees(candidate: Candidate, references: Sequence[Reference]) -> bool:
    """Whether the candidate's answer is the value some program printed."""
    return any(r.value is not None and same_answer(r.value, candidate.answer) for r in references)


def verdict(candidate: Candidate, references: Sequence[Reference]) -> Verdict:
    """The candidate against the programs: agreement with one verifies it, disagreement
    with all is feedback (the first program that printed a value is shown).

    Without any program value the check says so and scores 0.5: nothing grounds the
    answer either way, and a later candidate that a program confirms ranks above it."""
    if candidate.answer is None:
        return Verdict(passed=False, score=0.0, feedback=NO_ANSWER_FEEDBACK)
    valued = [r for r in references if r.value is not None]
    if not valued:
        problem = "; ".join(r.problem for r in references) or "no program was written"
        feedback = (
            f"Your final answer is {candidate.answer}. It could not be checked: an "
            f"independent Python computation of the answer failed ({problem}). "
            "Check each step of your solution once more."
        )
        test = TestResult(name=CHECK_NAME, passed=False, message=problem)
        evidence = references[0].result if references else None
        return Verdict(passed=False, score=0.5, feedback=feedback, evidence=_with(evidence, test))
    for reference in valued:
        if same_answer(reference.value or "", candidate.answer):
            test = TestResult(name=CHECK_NAME, passed=True)
            feedback = (
                f"Your final answer {candidate.answer} agrees with an independent Python "
                f"computation ({reference.value})."
            )
            return Verdict(
                passed=True, score=1.0, feedback=feedback, evidence=_with(reference.result, test)
            )
    shown = valued[0]
    values = ", ".join(dict.fromkeys(r.value or "" for r in valued))
    test = TestResult(
        name=CHECK_NAME,
        passed=False,
        message=f"{DISAGREES} {values}, answer {candidate.answer}",
    )
    code = shown.code if len(shown.code) <= _MAX_SHOWN else shown.code[:_MAX_SHOWN]
    others = ""
    if len(valued) > 1:
        others = f" (another program written for it printed {valued[1].value})"
    feedback = (
        f"Your final answer is {candidate.answer}, but an independent Python program written "
        f"for this problem printed {shown.value}{others}. At least one of them is wrong.\n"
        f"The program:\n```python\n{code}\n```\n"
        "Check every step of your solution against the problem statement (and check the "
        "program's logic too: it may be the one that is wrong)."
    )
    return Verdict(passed=False, score=0.0, feedback=feedback, evidence=_with(shown.result, test))


def printed(result: ExecResult | None) -> str | None:
    """The last non-empty line a program printed (what a check reads its value from)."""
    lines = [line.strip() for line in (result.stdout if result else "").splitlines()]
    lines = [line for line in lines if line]
    return lines[-1] if lines else None


CheckState = Literal["agrees", "disagrees", "unchecked"]


def describe(verdict: Verdict, candidate: Candidate | None) -> tuple[CheckState, str]:
    """A candidate's check in words, for views: ``("agrees" | "disagrees" | "unchecked",
    text)``."""
    tests = verdict.evidence.tests if verdict.evidence else []
    if not tests:  # no final answer could be read, so nothing was compared
        return "unchecked", verdict.feedback or "no final answer could be read"
    test = tests[0]
    if test.passed:
        value = printed(verdict.evidence) or (candidate.answer if candidate else "") or ""
        return "agrees", f"agrees with the independent program ({value})"
    if test.message.startswith(DISAGREES):
        return "disagrees", f"disagrees: {test.message}"
    return "unchecked", f"could not check: {test.message}"


def _with(result: ExecResult | None, test: TestResult) -> ExecResult:
    if result is None:
        return ExecResult(status="sandbox_error", tests=[test])
    return result.model_copy(update={"tests": [test]})


def hidden_verdict(task: Task, candidate: Candidate) -> Verdict:
    """Score only: the candidate's answer against the task's (no feedback text)."""
    expected = task.answer or ""
    passed = bool(candidate.extracted) and same_answer(expected, candidate.answer)
    return Verdict(passed=passed, score=1.0 if passed else 0.0, feedback="")


def vote(candidate: Candidate) -> str:
    """The candidate's answer in the form votes compare."""
    return canonical(candidate.answer)
