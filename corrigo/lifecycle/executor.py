"""Where a session's runs are executed: in this process (``local``) or on a Ray cluster.

An executor takes runs that are already checked and stored, or specs about to be, and
returns their outcomes in order, calling ``on_outcome`` as each finishes. ``local`` is
the asyncio path every run took before executors existed: up to ``concurrency`` runs at
once on this process's event loop. ``ray`` (:mod:`corrigo.lifecycle.ray_executor`)
stores the specs as queued runs and lets Ray actors claim and execute them, the store
being the one source of truth between the driver and the cluster.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from corrigo.lifecycle.execute import EventCallback
from corrigo.models import ChatModel
from corrigo.records import Outcome, RunRecord, RunSpec

if TYPE_CHECKING:
    from corrigo.lifecycle.session import Session

OutcomeCallback = Callable[[Outcome], None]


class Executor(Protocol):
    """What runs a session's runs (``Session(executor=...)``)."""

    name: str

    async def start(self, session: Session) -> None:
        """Connect and check (bad input raises a CorrigoError before anything is stored)."""

    async def run_specs(
        self,
        session: Session,
        specs: Sequence[RunSpec],
        *,
        concurrency: int,
        on_outcome: OutcomeCallback | None,
        on_event: EventCallback | None,
    ) -> list[Outcome]:
        """Run ``specs`` as new stored runs; their outcomes in order."""
        ...

    async def continue_runs(
        self,
        session: Session,
        records: Sequence[RunRecord],
        *,
        concurrency: int,
        on_outcome: OutcomeCallback | None,
        on_event: EventCallback | None,
    ) -> list[Outcome]:
        """Continue stored runs the caller has claimed; their outcomes in order."""
        ...

    def cancel(self, run_id: str) -> bool:
        """Cancel the run where it executes elsewhere; False when it does not (the caller
        then cancels the task awaiting it, which cancels a run of this process)."""
        ...

    async def close(self) -> None:
        """Let go of what :meth:`start` took."""


class LocalExecutor:
    """Runs on this process's event loop, up to ``concurrency`` at once."""

    name = "local"

    async def start(self, session: Session) -> None:
        return None

    async def run_specs(
        self,
        session: Session,
        specs: Sequence[RunSpec],
        *,
        concurrency: int,
        on_outcome: OutcomeCallback | None,
        on_event: EventCallback | None,
    ) -> list[Outcome]:
        if not specs:
            return []
        models = await session.models(specs[0].roles)  # one set for every task of the call
        for name in {s.sandbox for s in specs}:
            await session.sandbox(name)
        return await _at_most(
            concurrency,
            on_outcome,
            [
                partial(session.execute, spec, roles={r: models[r] for r in spec.roles},
                        on_event=on_event)
                for spec in specs
            ],
        )  # fmt: skip

    async def continue_runs(
        self,
        session: Session,
        records: Sequence[RunRecord],
        *,
        concurrency: int,
        on_outcome: OutcomeCallback | None,
        on_event: EventCallback | None,
    ) -> list[Outcome]:
        by_roles: dict[tuple[tuple[str, str], ...], Mapping[str, ChatModel]] = {}
        for record in records:
            key = tuple(sorted(record.spec.roles.items()))
            if key not in by_roles:
                by_roles[key] = await session.models(record.spec.roles)
        for name in sorted({r.spec.sandbox for r in records}):
            await session.sandbox(name)
        return await _at_most(
            concurrency,
            on_outcome,
            [
                partial(session.continue_run, record,
                        roles=by_roles[tuple(sorted(record.spec.roles.items()))],
                        on_event=on_event, claim=False)
                for record in records
            ],
        )  # fmt: skip

    def cancel(self, run_id: str) -> bool:
        return False  # its runs are tasks of this process

    async def close(self) -> None:
        return None


async def _at_most(
    concurrency: int,
    on_outcome: OutcomeCallback | None,
    calls: Sequence[Callable[[], Awaitable[Outcome]]],
) -> list[Outcome]:
    """``calls`` made ``concurrency`` at a time, ``on_outcome`` told as each ends; their
    outcomes in order (:func:`all_or_none`: one failing cancels the others)."""
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(call: Callable[[], Awaitable[Outcome]]) -> Outcome:
        async with gate:
            outcome = await call()
        if on_outcome is not None:
            on_outcome(outcome)
        return outcome

    return await all_or_none([one(call) for call in calls])


async def all_or_none(jobs: Sequence[Any]) -> list[Outcome]:
    """Await ``jobs`` together. A task group: if one fails unexpectedly the others are
    cancelled (and stored as cancelled) before the store and sandbox close, instead of
    running on; the first error is raised as itself."""
    try:
        async with asyncio.TaskGroup() as group:
            running = [group.create_task(job) for job in jobs]
    except BaseExceptionGroup as grouped:
        first = grouped.exceptions[0]
        raise first from None
    return [r.result() for r in running]


def get_executor(name: str | None, address: str | None = None, **options: Any) -> Executor:
    """``local`` (default) or ``ray`` (at ``address``: ``auto``, ``ray://…``, host:port)."""
    from corrigo.errors import ConfigError

    if name in (None, "local"):
        return LocalExecutor()
    if name == "ray":
        from corrigo.lifecycle.ray_executor import RayExecutor

        return RayExecutor(address, **options)
    raise ConfigError(f"unknown executor {name!r} (known: local, ray)")
