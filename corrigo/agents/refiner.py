"""The refiner: revises a candidate using the visible test results and the critique."""

from __future__ import annotations

from corrigo.agents.base import render
from corrigo.records import Candidate, Message, Review, Task


def refiner_messages(task: Task, candidate: Candidate, review: Review) -> list[Message]:
    return render(
        "refiner",
        prompt=task.prompt.strip(),
        code=candidate.code or "(no code was given)",
        feedback=review.verdict.feedback,
        critique=review.critique.strip() or "(no diagnosis given)",
    )
