"""The solver: drafts candidates from the task prompt — the first, a fresh one after a
failure, and (for reflexion) a retry conditioned on its own reflections."""

from __future__ import annotations

from collections.abc import Sequence

from corrigo.agents.base import render
from corrigo.records import Candidate, Message, Task, Verdict


def solver_messages(task: Task, lessons: Sequence[str] = ()) -> list[Message]:
    notes = ""
    if lessons:
        notes = "\nLessons from earlier attempts:\n" + "\n".join(f"- {x}" for x in lessons) + "\n"
    return render("solver", task.kind, prompt=task.prompt.strip(), lessons=notes)


def fresh_messages(task: Task, verdict: Verdict) -> list[Message]:
    """Start again, told only which tests the earlier attempt failed. On math the fresh
    start is told nothing (an independent sample): shown a check program's value, a small
    model adopts it, and a wrong program would then verify a wrong answer."""
    return render("fresh", task.kind, prompt=task.prompt.strip(), feedback=verdict.feedback)


def retry_messages(
    task: Task, candidate: Candidate, verdict: Verdict, notes: Sequence[str]
) -> list[Message]:
    """Reflexion's next attempt: the last one, its results, and every reflection so far."""
    return render(
        "retry",
        task.kind,
        prompt=task.prompt.strip(),
        code=candidate.code or "(no code was given)",
        feedback=verdict.feedback,
        notes="\n".join(f"{i}. {note.strip()}" for i, note in enumerate(notes, 1)),
    )
