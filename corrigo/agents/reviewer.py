"""The reviewer: explains, from visible test results only, why a candidate fails."""

from __future__ import annotations

from corrigo.agents.base import render
from corrigo.records import Candidate, Message, Task, Verdict


def reviewer_messages(task: Task, candidate: Candidate, verdict: Verdict) -> list[Message]:
    return render(
        "reviewer",
        prompt=task.prompt.strip(),
        code=candidate.code or "(no code was given)",
        feedback=verdict.feedback,
    )
