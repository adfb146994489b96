"""The reviewer: explains, from visible test results only, why a candidate fails; and,
with several candidates, ranks them and names the fault of the most promising."""

from __future__ import annotations

import re
from collections.abc import Sequence

from corrigo.agents.base import render
from corrigo.records import Candidate, Message, Task, Verdict

_BEST = re.compile(r"BEST\s*[:#-]?\s*(?:candidate\s*)?#?(\d+)", re.IGNORECASE)
_FAULT = re.compile(r"FAULT\s*:\s*(.*)", re.IGNORECASE | re.DOTALL)


def reviewer_messages(task: Task, candidate: Candidate, verdict: Verdict) -> list[Message]:
    return render(
        "reviewer",
        task.kind,
        prompt=task.prompt.strip(),
        code=candidate.code or "(no code was given)",
        feedback=verdict.feedback,
    )


def ranker_messages(task: Task, entries: Sequence[tuple[Candidate, Verdict]]) -> list[Message]:
    blocks = []
    for number, (candidate, verdict) in enumerate(entries, 1):
        if task.kind == "code":
            body = f"```python\n{candidate.code or '(no code)'}\n```"
        else:
            body = f"<<<\n{candidate.code or '(empty)'}\n>>>"
        check = "Test results" if task.kind == "code" else "Check"
        blocks.append(f"Candidate {number}:\n{body}\n{check}:\n{verdict.feedback}")
    return render("ranker", task.kind, prompt=task.prompt.strip(), candidates="\n\n".join(blocks))


def parse_ranking(reply: str, count: int) -> tuple[int | None, str]:
    """(index of the chosen candidate or None, the fault it names) from a ranker reply."""
    match = _BEST.search(reply)
    choice = int(match[1]) - 1 if match else None
    if choice is not None and not 0 <= choice < count:
        choice = None
    fault = _FAULT.search(reply)
    return choice, (fault[1].strip() if fault else reply.strip())


def self_review_messages(task: Task, candidate: Candidate) -> list[Message]:
    """Intrinsic self-correction: the model reviews its own answer with no test result,
    checker output or any other signal from outside the model."""
    return render(
        "self_review", task.kind, prompt=task.prompt.strip(), code=candidate.code or "(empty)"
    )
