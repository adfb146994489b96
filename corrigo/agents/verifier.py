"""The verifier: grounds a candidate by running it against tests in the sandbox.

Visible tests produce a verdict whose feedback goes to the next round. Hidden tests
only score: their verdict carries no feedback text, so nothing from them can reach a
prompt even by mistake.
"""

from __future__ import annotations

from corrigo.agents.extract import assemble_program
from corrigo.records import Candidate, ExecResult, Limits, Task, TestCase, Verdict
from corrigo.sandbox.base import Sandbox

NO_CODE_FEEDBACK = (
    "Your reply contained no Python code, so nothing could be tested. Reply with the "
    "complete function in one ```python code block."
)
_MAX_LISTED = 8
_MAX_CHARS = 3000


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


def feedback_text(result: ExecResult) -> str:
    total = len(result.tests)
    failed = [t for t in result.tests if not t.passed]
    if not failed and result.status == "passed":
        return f"All {total} visible tests passed."
    lines = [f"{len(failed)} of {total} visible tests failed (status: {result.status})."]
    for test in failed[:_MAX_LISTED]:
        lines.append(f"- {test.name}: {test.message}")
    if len(failed) > _MAX_LISTED:
        lines.append(f"- … and {len(failed) - _MAX_LISTED} more")
    if result.stdout.strip():
        lines.append("Printed output (last lines):\n" + _tail(result.stdout))
    if result.status in ("error", "resource_exceeded") and result.stderr.strip():
        lines.append("Error output (last lines):\n" + _tail(result.stderr))
    text = "\n".join(lines)
    return text if len(text) <= _MAX_CHARS else text[:_MAX_CHARS] + "\n[feedback truncated]"


async def verify(
    sandbox: Sandbox, task: Task, candidate: Candidate, limits: Limits, *, hidden: bool = False
) -> Verdict:
    tests = list(task.hidden_tests) if hidden else visible_tests(task)
    if not candidate.extracted:
        return Verdict(passed=False, score=0.0, feedback="" if hidden else NO_CODE_FEEDBACK)
    if not tests:
        return Verdict(passed=False, score=0.0, feedback="")
    result = await sandbox.run_tests(
        assemble_program(task, candidate.code),
        tests,
        limits,
        preamble=task.preamble,
        entry_point=task.entry_point,
    )
    score = result.passed_count / len(tests)
    passed = result.status == "passed" and result.passed_count == len(tests)
    return Verdict(
        passed=passed,
        score=score,
        feedback="" if hidden else feedback_text(result),
        evidence=result,
    )
