"""Replay a stored run: re-execute its graph from the records alone.

The replayed graph gets models that serve the recorded replies (no model is called)
and, by default, a sandbox that serves the recorded execution results (``exact``);
with ``reverify=True`` the candidates run again in a real sandbox. The new steps go to
a scratch in-memory store and are compared with the recorded ones step by step.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from corrigo.errors import SandboxError, ScriptExhausted
from corrigo.graphs.context import StepLog
from corrigo.lifecycle.execute import execute
from corrigo.lifecycle.stored import StoredRun
from corrigo.models import ROLES, ChatModel, Reply
from corrigo.records import ExecResult, Limits, Message, OutputsResult, Step, TestCase
from corrigo.sandbox.base import Sandbox, get_sandbox
from corrigo.storage.sql import SQLStore


class ReplayModel(ChatModel):
    """Stands in for every model in a replay: each model step is served from the record
    by its key, so being called at all means the replay took a path the run did not."""

    def __init__(self, run_id: str) -> None:
        self.spec = f"replay:{run_id}"

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        role: str,
        task_id: str,
        temperature: float | None = None,
        seed: int | None = None,
        max_tokens: int | None = None,
    ) -> Reply:
        raise ScriptExhausted(f"the recorded run has no {role} reply for this step")


class ReplaySandbox(Sandbox):
    """Stands in for the sandbox in an exact replay: results come from the record."""

    name = "replay"

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
        trace: Collection[str] = (),
    ) -> ExecResult:
        raise SandboxError("the recorded run has no execution result for this step")

    async def run_outputs(
        self,
        programs: Sequence[str],
        inputs: Sequence[str],
        limits: Limits,
        *,
        entry_point: str,
        preamble: str = "",
        call_seconds: float = 1.0,
    ) -> OutputsResult:
        raise SandboxError("the recorded run has no outputs for this step")

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
    data = step.model_dump(exclude={"run_id", "seq", "created_at", "usage"})
    if data.get("candidate"):
        data["candidate"].pop("step_seq", None)
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
    """Steps are matched by key (their identity within a run), not by storage order."""
    matches = []
    by_key = {s.key or f"#{s.seq}": s for s in replayed}
    for old in recorded:
        new = by_key.pop(old.key or f"#{old.seq}", None)
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
    for new in by_key.values():
        matches.append(StepMatch(new.seq, new.role, new.node, False, "extra step in replay"))
    return sorted(matches, key=lambda m: m.seq)


async def replay_run(stored: StoredRun, *, reverify: bool = False) -> ReplayReport:
    """Re-execute ``stored`` from its records; report whether every step matched.

    Model replies always come from the record (no model is called). Execution results
    come from the record too (``exact``), or from running the candidates again in a real
    sandbox (``reverify``)."""
    record, steps = stored.record, stored.steps
    spec = record.spec
    model = ReplayModel(record.id)
    models = {role: model for role in ROLES}
    sandbox: Sandbox = get_sandbox(spec.sandbox) if reverify else ReplaySandbox()
    prior = {s.key: s for s in steps if s.key}
    async with SQLStore("sqlite://") as scratch, sandbox:
        log = StepLog(scratch, record.id, prior=prior, reuse_exec=not reverify)
        await execute(spec, roles=models, sandbox=sandbox, store=scratch, run_id=record.id, log=log)
        replayed = await scratch.get_steps(record.id)
        final = await scratch.get_run(record.id)
    served = sum(1 for s in replayed if s.kind == "model" and s.key in prior)
    return ReplayReport(
        run_id=record.id,
        mode="reverify" if reverify else "exact",
        steps=compare_steps(steps, replayed, exact=not reverify),
        replies_served=served,
        model_calls=0,
        stop_reason=final.outcome.stop_reason if final.outcome else "",
        recorded_stop_reason=record.outcome.stop_reason if record.outcome else "",
    )
