"""Replay a stored run: re-execute its graph from the records alone.

The replayed graph gets models that serve the recorded replies (no model is called)
and, by default, a sandbox that serves the recorded execution results (``exact``);
with ``reverify=True`` the candidates run again in a real sandbox. The new steps go to
a scratch in-memory store and are compared with the recorded ones step by step.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from corrigo.errors import ModelCallFailed, SandboxError, ScriptExhausted
from corrigo.models import ChatModel, Reply
from corrigo.records import ExecResult, Limits, Message, Step, TestCase
from corrigo.runner import StoredRun, execute
from corrigo.sandbox.base import Sandbox, get_sandbox
from corrigo.storage.sql import SQLStore


class ReplayModel(ChatModel):
    """Serves one role's recorded replies in order; never calls a model."""

    def __init__(self, run_id: str, role: str, steps: Sequence[Step]) -> None:
        self.spec = f"replay:{run_id}"
        self.role = role
        self._queue = deque(s for s in steps if s.kind == "model" and s.role == role)
        self.served = 0

    async def complete(self, messages: Sequence[Message], *, role: str, task_id: str) -> Reply:
        if not self._queue:
            raise ScriptExhausted(f"the recorded run has no further {role} reply")
        step = self._queue.popleft()
        self.served += 1
        if step.error is not None:
            raise ModelCallFailed(step.error)
        return Reply(text=step.output or "", usage=step.usage, model=step.model or self.spec)


class ReplaySandbox(Sandbox):
    """Serves the recorded execution results in order; runs nothing."""

    name = "replay"

    def __init__(self, steps: Sequence[Step]) -> None:
        self._queue = deque(
            s.verdict.evidence
            for s in steps
            if s.kind == "exec" and s.verdict and s.verdict.evidence
        )

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def run_tests(
        self,
        program: str,
        tests: Sequence[TestCase],
        limits: Limits,
        *,
        preamble: str = "",
        entry_point: str = "",
    ) -> ExecResult:
        if not self._queue:
            raise SandboxError("the recorded run has no further execution result")
        return self._queue.popleft()

    async def exec(self, code: str, stdin: str = "", limits: Limits | None = None) -> ExecResult:
        raise SandboxError("exec is not recorded in runs")


@dataclass(frozen=True)
class StepMatch:
    seq: int
    role: str
    node: str
    matched: bool
    reason: str = ""


@dataclass
class ReplayReport:
    run_id: str
    mode: str
    steps: list[StepMatch] = field(default_factory=list)
    replies_served: int = 0
    model_calls: int = 0
    stop_reason: str = ""
    recorded_stop_reason: str = ""

    @property
    def all_matched(self) -> bool:
        return bool(self.steps) and all(s.matched for s in self.steps)


def _comparable(step: Step, with_timing: bool) -> dict[str, Any]:
    data = step.model_dump(exclude={"run_id", "created_at", "usage"})
    verdict = data.get("verdict")
    if verdict and verdict.get("evidence") and not with_timing:
        evidence = verdict["evidence"]
        verdict["evidence"] = {
            "status": evidence["status"],
            "tests": [(t["name"], t["passed"]) for t in evidence["tests"]],
        }
    return data


def compare_steps(
    recorded: Sequence[Step], replayed: Sequence[Step], exact: bool
) -> list[StepMatch]:
    matches = []
    by_seq = {s.seq: s for s in replayed}
    for old in recorded:
        new = by_seq.pop(old.seq, None)
        if new is None:
            matches.append(StepMatch(old.seq, old.role, old.node, False, "not reached in replay"))
            continue
        a, b = _comparable(old, exact), _comparable(new, exact)
        if a == b:
            matches.append(StepMatch(old.seq, old.role, old.node, True))
        else:
            fields = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
            matches.append(
                StepMatch(old.seq, old.role, old.node, False, "differs in " + ", ".join(fields))
            )
    for new in by_seq.values():
        matches.append(StepMatch(new.seq, new.role, new.node, False, "extra step in replay"))
    return sorted(matches, key=lambda m: m.seq)


async def replay_run(stored: StoredRun, *, reverify: bool = False) -> ReplayReport:
    """Re-execute ``stored`` with recorded replies; report whether every step matched."""
    record, steps = stored.record, stored.steps
    spec = record.spec
    models = {role: ReplayModel(record.id, role, steps) for role in spec.roles}
    sandbox: Sandbox = get_sandbox(spec.sandbox) if reverify else ReplaySandbox(steps)
    async with SQLStore("sqlite://") as scratch, sandbox:
        await execute(
            spec,
            roles=models,
            sandbox=sandbox,
            store=scratch,
            run_id=record.id,
        )
        replayed = await scratch.get_steps(record.id)
        final = await scratch.get_run(record.id)
    report = ReplayReport(
        run_id=record.id,
        mode="reverify" if reverify else "exact",
        steps=compare_steps(steps, replayed, exact=not reverify),
        replies_served=sum(m.served for m in models.values()),
        model_calls=0,
        stop_reason=final.outcome.stop_reason if final.outcome else "",
        recorded_stop_reason=record.outcome.stop_reason if record.outcome else "",
    )
    return report
