"""The solver: drafts the first candidate from the task prompt."""

from __future__ import annotations

from collections.abc import Sequence

from corrigo.agents.base import render
from corrigo.records import Message, Task


def solver_messages(task: Task, lessons: Sequence[str] = ()) -> list[Message]:
    notes = ""
    if lessons:
        notes = "\nLessons from earlier attempts:\n" + "\n".join(f"- {x}" for x in lessons) + "\n"
    return render("solver", prompt=task.prompt.strip(), lessons=notes)
