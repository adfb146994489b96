"""The state a self-correction graph carries from node to node."""

from __future__ import annotations

from typing import TypedDict

from corrigo.records import Candidate, Review, Task, Verdict


class LoopState(TypedDict, total=False):
    run_id: str
    task: Task
    seq: int  # last stored step's sequence number
    round: int
    candidate: Candidate | None
    verdict: Verdict | None
    review: Review | None
    best: Candidate | None
    best_verdict: Verdict | None
    first: Candidate | None
    first_verdict: Verdict | None
    codes: list[str]
    calls: int
    tokens_in: int
    tokens_out: int
    started: float  # time.time() when the run began
    sandbox_seconds: float
    stop_reason: str | None
    error: str | None
    hidden: Verdict | None
    first_hidden: Verdict | None


def initial_state(run_id: str, task: Task, started: float) -> LoopState:
    return LoopState(
        run_id=run_id,
        task=task,
        seq=0,
        round=0,
        candidate=None,
        verdict=None,
        review=None,
        best=None,
        best_verdict=None,
        first=None,
        first_verdict=None,
        codes=[],
        calls=0,
        tokens_in=0,
        tokens_out=0,
        started=started,
        sandbox_seconds=0.0,
        stop_reason=None,
        error=None,
        hidden=None,
        first_hidden=None,
    )
