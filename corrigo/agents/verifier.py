"""The verifier: grounds a candidate by running it against tests in the sandbox.

Visible tests (and tests the model generated for itself, when a strategy uses them)
produce a verdict whose feedback goes to the next round. Hidden tests only score: their
verdict carries no feedback text, so nothing from them can reach a prompt even by
mistake. Probes run the entry point on inputs and report what came back, so
candidates can be grouped by their outputs.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from corrigo.agents.extract import assemble_program
from corrigo.agents.traces import render_trace
from corrigo.records import (
    CallOutcome,
    Candidate,
    ExecResult,
    Limits,
    Task,
    TestCase,
    TestResult,
    Verdict,
)
from corrigo.sandbox.base import Sandbox

NO_CODE_FEEDBACK = (
    "Your reply contained no Python code, so nothing could be tested. Reply with the "
    "complete function in one ```python code block."
)
GENERATED = "generated "
PROBE = "probe "
_OUT = "AssertionError: OUT "
_MAX_LISTED = 8
_MAX_CHARS = 4000
_WHERE = re.compile(r" \(line (\d+) of candidate\)$")


def visible_tests(task: Task) -> list[TestCase]:
    """The task's visible tests; a task without any is checked for loading cleanly."""
    if task.visible_tests:
        return list(task.visible_tests)
    return [
        TestCase(
            name=f"program loads and defines {task.entry_point}",
            code=f"assert callable({task.entry_point}), '{task.entry_point} is not defined'\n",
        )
    ]


def _tail(text: str, lines: int = 8) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _source_line(program: str, message: str) -> str:
    """`` — at line N: <code>`` when the message points into the candidate's program."""
    match = _WHERE.search(message)
    if not match or not program:
        return ""
    lines = program.splitlines()
    number = int(match[1])
    if 1 <= number <= len(lines):
        return f"\n    at line {number}: {lines[number - 1].strip()}"
    return ""


def feedback_text(result: ExecResult, program: str = "", visible: int | None = None) -> str:
    """What failed, for the next round: each failing test with its call, the value it
    returned and the one expected, or the error and the candidate's line that raised it.
    The first ``visible`` tests are the task's (default: all); failures of the
    generated tests after them are marked: those tests may themselves be wrong."""
    tests = result.tests
    failed = [t for t in tests if not t.passed]
    if not failed and result.status == "passed":
        return f"All {len(tests)} tests passed."
    own = tests if visible is None else tests[:visible]
    own_failed = sum(1 for t in own if not t.passed)
    lines = [f"{own_failed} of {len(own)} visible tests failed (status: {result.status})."]
    generated_failed = len(failed) - own_failed
    if generated_failed:
        lines[0] += (
            f" {generated_failed} of {len(tests) - len(own)} generated tests failed"
            " (generated tests were written without seeing the answer and may be wrong)."
        )
    for test in failed[:_MAX_LISTED]:
        lines.append(f"- {test.name}: {test.message}{_source_line(program, test.message)}")
        if test.trace is not None:
            lines.append(render_trace(test.trace, program))
    if len(failed) > _MAX_LISTED:
        lines.append(f"- … and {len(failed) - _MAX_LISTED} more")
    if result.stdout.strip():
        lines.append("Printed output (last lines):\n" + _tail(result.stdout))
    if result.status in ("error", "resource_exceeded") and result.stderr.strip():
        lines.append("Error output (last lines):\n" + _tail(result.stderr))
    text = "\n".join(lines)
    return text if len(text) <= _MAX_CHARS else text[:_MAX_CHARS] + "\n[feedback truncated]"


def split_generated(verdict: Verdict, visible: int) -> tuple[float | None, bool | None]:
    """The score of the tests after the first ``visible`` (the generated ones) and
    whether all passed (None, None: there were none)."""
    if verdict.evidence is None:
        return None, None
    mine = verdict.evidence.tests[visible:]
    if not mine:
        return None, None
    passed = sum(1 for t in mine if t.passed)
    return passed / len(mine), passed == len(mine)


def planned_tests(
    task: Task, generated: list[TestCase] | None = None, *, hidden: bool = False
) -> tuple[list[TestCase], int]:
    """The tests a check runs, and how many of them (the first) count for the score."""
    base = list(task.hidden_tests) if hidden else visible_tests(task)
    return (base if hidden else [*base, *(generated or [])]), len(base)


def judge(
    task: Task, candidate: Candidate, result: ExecResult, counted: int, *, hidden: bool
) -> Verdict:
    """The verdict on a sandbox result: ``score`` and ``passed`` count the first
    ``counted`` tests (visible or hidden); generated ones ride along in the feedback."""
    own = result.tests[:counted]
    score = sum(1 for t in own if t.passed) / counted
    passed = len(own) == counted and all(t.passed for t in own)
    program = assemble_program(task, candidate.code)
    return Verdict(
        passed=passed,
        score=score,
        feedback="" if hidden else feedback_text(result, program, counted),
        evidence=result,
    )


async def check_candidate(
    sandbox: Sandbox,
    task: Task,
    candidate: Candidate,
    limits: Limits,
    *,
    generated: list[TestCase] | None = None,
    hidden: bool = False,
    trace: bool = False,
    nltk_data: Path | None = None,
) -> Verdict:
    """Run ``candidate`` against the visible (+ generated) or hidden tests; see :func:`judge`.

    ``trace``: the first failing test's calls are traced into the feedback (visible and
    generated tests only: a hidden test is never traced, whatever is asked)."""
    if task.kind == "instructions":
        from corrigo.agents.kinds import instructions_verdict

        return await instructions_verdict(task, candidate, hidden=hidden, nltk_data=nltk_data)
    if task.kind == "math":
        # The visible check of a math answer needs a program from the model
        # (corrigo.graphs.nodes.verify); here only the hidden answer scores.
        if not hidden:
            raise ValueError("math answers are checked by the verify node, not by tests")
        from corrigo.agents.kinds import math_hidden_verdict

        return await math_hidden_verdict(task, candidate)
    tests, counted = planned_tests(task, generated, hidden=hidden)
    if not candidate.extracted:
        return Verdict(passed=False, score=0.0, feedback="" if hidden else NO_CODE_FEEDBACK)
    if not tests:
        return Verdict(passed=False, score=0.0, feedback="")
    program = assemble_program(task, candidate.code)
    traced = [t.name for t in tests] if trace and not hidden else []
    result = await sandbox.run_tests(
        program, tests, limits, preamble=task.preamble, entry_point=task.entry_point, trace=traced
    )
    return judge(task, candidate, result, counted, hidden=hidden)


def probe_test(index: int, call: str) -> TestCase:
    """A test that reports what ``call`` returned (computed on the tester's side)."""
    return TestCase(
        name=f"{PROBE}{index + 1}: {call}",
        code=f"_out = {call}\nraise AssertionError('OUT ' + repr(_out)[:400])\n",
    )


def probe_arguments(call: str) -> str:
    """``"f(1, [2], k=3)"`` → ``"1, [2], k=3"``: a probe as the batch API's input."""
    node = ast.parse(call, mode="eval").body
    if not isinstance(node, ast.Call):
        raise ValueError(f"not a call: {call}")
    parts = [ast.unparse(a) for a in node.args]
    parts += [
        f"{k.arg}={ast.unparse(k.value)}" if k.arg else f"**{ast.unparse(k.value)}"
        for k in node.keywords
    ]
    return ", ".join(parts)


def probe_result(index: int, call: str, outcome: CallOutcome) -> TestResult:
    """A batch outcome stored as a probe's result (read back by :func:`probe_outputs`):
    its canonical form, whatever its kind, so stored and fresh outputs compare alike."""
    message = _OUT + outcome.canonical  # digests and "!Error" forms included
    return TestResult(name=probe_test(index, call).name, passed=False, message=message)


def probe_outputs(results: list[TestResult]) -> list[str]:
    """One comparable signature per probe: the value's repr, or the exception's type."""
    out = []
    for result in results:
        message = result.message
        if message.startswith(_OUT):
            out.append(message[len(_OUT) :])
        else:
            out.append("!" + message.split(":", 1)[0])
    return out
