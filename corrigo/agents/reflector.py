"""The reflector: after a failed attempt, writes what went wrong and what to do next."""

from __future__ import annotations

from corrigo.agents.base import render
from corrigo.records import Candidate, Message, Task, Verdict


def reflector_messages(task: Task, candidate: Candidate, verdict: Verdict) -> list[Message]:
    return render(
        "reflector",
        task.kind,
        prompt=task.prompt.strip(),
        code=candidate.code or "(no code was given)",
        feedback=verdict.feedback,
    )


def lesson_messages(
    task: Task, failed: Candidate, verdict: Verdict, fixed: Candidate
) -> list[Message]:
    """Ask for a general lesson from a failure and its fix, for other tasks to use."""
    return render(
        "lesson",
        task.kind,
        prompt=task.prompt.strip(),
        failed=failed.code or "(no code was given)",
        feedback=verdict.feedback,
        fixed=fixed.code,
    )
