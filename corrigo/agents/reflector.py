"""The reflector: after a failed attempt, writes what went wrong and what to do next."""

from __future__ import annotations

from corrigo.agents.base import render
from corrigo.records import Candidate, Message, Task, Verdict


def reflector_messages(task: Task, candidate: Candidate, verdict: Verdict) -> list[Message]:
    return render(
        "reflector",
        prompt=task.prompt.strip(),
        code=candidate.code or "(no code was given)",
        feedback=verdict.feedback,
    )
