"""What a strategy's nodes get from LangGraph's run context instead of closures.

``RunContext`` is the graph's ``context_schema``: the task, the models by role, the
sandbox, the store, budgets (with the run's :class:`~corrigo.graphs.ledger.Ledger`),
limits and the strategy's parameters. ``StepLog`` is how
every node records a step: it gives each stored step the next sequence number under a
lock (so parallel branches never collide), keys steps by a stable identity, and reuses
a step already recorded under the same key (a replay, or a node re-run on resume)
instead of calling the model or the sandbox again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corrigo.graphs.ledger import Ledger
from corrigo.models import ChatModel
from corrigo.records import Budgets, Lesson, Limits, Sampling, Step, Task
from corrigo.sandbox.base import Sandbox
from corrigo.storage.base import TrajectoryStore


class StepLog:
    """Stores a run's steps in order; serves steps recorded earlier by key.

    ``prior`` holds steps recorded before, by key. With ``prior_stored`` they are
    already in ``store`` (resuming the same run); otherwise they come from another run
    (a replay) and are stored again, under new sequence numbers, when reused.
    ``reuse_exec`` says whether recorded sandbox results are reused (exact replay) or
    the candidates run again (re-verify). ``start_seq`` is the last sequence number
    already stored (resume): new steps are numbered after it, so none conflicts.
    ``borrowed`` holds steps of another run served by key and stored again as this run's
    (a fork's steps up to its fork point), beside ``prior``.
    """

    def __init__(
        self,
        store: TrajectoryStore,
        run_id: str,
        *,
        prior: Mapping[str, Step] | None = None,
        prior_stored: bool = False,
        reuse_exec: bool = True,
        start_seq: int | None = None,
        borrowed: Mapping[str, Step] | None = None,
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.prior = dict(prior or {})
        self.borrowed = {k: v for k, v in (borrowed or {}).items() if k not in self.prior}
        self.prior_stored = prior_stored
        self.reuse_exec = reuse_exec
        if start_seq is None:
            start_seq = max((s.seq for s in self.prior.values()), default=0) if prior_stored else 0
        self._seq = start_seq
        self._lock: asyncio.Lock | None = None

    def recorded(self, key: str, kind: str) -> Step | None:
        step = self.prior.get(key) or self.borrowed.get(key)
        if step is None or step.kind != kind:
            return None
        if kind == "exec" and not self.reuse_exec:
            return None
        return step

    async def append(self, step: Step) -> Step:
        """Store ``step`` (its ``seq`` is assigned here) and return the stored step."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            self._seq += 1
            update: dict[str, Any] = {"run_id": self.run_id, "seq": self._seq}
            if step.kind == "model" and step.candidate is not None:
                update["candidate"] = step.candidate.model_copy(update={"step_seq": self._seq})
            stored = step.model_copy(update=update)
            await self.store.append_step(stored)
        _emit({"event": "step", "key": stored.key, "role": stored.role, "round": stored.round})
        return stored

    def is_stored(self, step: Step) -> bool:
        """Whether a recorded ``step`` is already this run's in the store (resuming), as
        opposed to one from another run to be stored again (a replay, a fork's past)."""
        return self.prior_stored and self.prior.get(step.key or "") is step

    async def reuse(self, step: Step) -> Step:
        """A recorded step taken as this run's: stored again unless it already is."""
        if self.is_stored(step):
            _emit({"event": "step", "key": step.key, "role": step.role, "round": step.round})
            return step
        return await self.append(step)


def _emit(event: dict[str, Any]) -> None:
    """A custom stream event for whoever streams the graph (the CLI's progress)."""
    try:
        from langgraph.config import get_stream_writer

        get_stream_writer()(event)
    except RuntimeError:  # outside a graph run: nobody is listening
        pass


@dataclass
class RunContext:
    """Run-scoped dependencies of every node (LangGraph's ``context_schema``)."""

    run_id: str
    task: Task
    roles: Mapping[str, ChatModel]
    sandbox: Sandbox
    log: StepLog
    budgets: Budgets = field(default_factory=Budgets)
    limits: Limits = field(default_factory=Limits)
    params: Mapping[str, Any] = field(default_factory=dict)
    sampling: Mapping[str, Sampling] = field(default_factory=dict)
    started: float = 0.0
    # Lessons recalled for this run (corrigo.graphs.lessons), put in first-draft prompts.
    lessons: Sequence[Lesson] = ()
    # NLTK's data for instruction checkers (pulled with the suites); None: NLTK's defaults.
    nltk_data: Path | None = None

    _ledger: Ledger | None = field(default=None, init=False, repr=False)

    @property
    def ledger(self) -> Ledger:
        """The run's model-call ledger, made on first use; a resumed run's starts from
        the model steps it stored (they are served again, never counted twice)."""
        if self._ledger is None:
            stored = self.log.prior.values() if self.log.prior_stored else ()
            self._ledger = Ledger.opening(self.budgets, stored)
        return self._ledger

    def param(self, name: str, default: Any) -> Any:
        value = self.params.get(name)
        return default if value is None else value

    @property
    def max_rounds(self) -> int:
        return int(self.param("max_rounds", self.budgets.max_rounds))
