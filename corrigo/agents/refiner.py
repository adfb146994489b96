"""The refiner: revises a candidate from its test results — with a reviewer's critique
(``refine``), or from the execution details alone (``self_debug``)."""

from __future__ import annotations

from corrigo.agents.base import render
from corrigo.records import Candidate, Message, Task, Verdict


def refiner_messages(
    task: Task, candidate: Candidate, verdict: Verdict, critique: str
) -> list[Message]:
    return render(
        "refiner",
        task.kind,
        prompt=task.prompt.strip(),
        code=candidate.code or "(no code was given)",
        feedback=verdict.feedback,
        critique=critique.strip() or "(no diagnosis given)",
    )


def debugger_messages(task: Task, candidate: Candidate, verdict: Verdict) -> list[Message]:
    """Each failing test's call, expected and actual value or error and the line that
    raised it (all in the verdict's feedback), with the code: Self-Debugging's feedback."""
    return render(
        "debugger",
        task.kind,
        prompt=task.prompt.strip(),
        code=candidate.code or "(no code was given)",
        feedback=verdict.feedback,
    )


def self_revise_messages(task: Task, candidate: Candidate, critique: str) -> list[Message]:
    """Intrinsic self-correction: revise from the model's own review only."""
    return render(
        "self_revise",
        task.kind,
        prompt=task.prompt.strip(),
        code=candidate.code or "(empty)",
        critique=critique.strip() or "(no problems named)",
    )
