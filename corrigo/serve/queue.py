"""The run queue, kept in the store, and the workers that take runs from it.

``POST /v1/runs`` stores one run per task in status ``queued`` (no owner) and returns;
nothing is held in memory. A dispatcher takes the oldest queued run whenever one of
``workers`` slots is free, and a worker runs it with :meth:`Session.continue_run
<corrigo.lifecycle.session.Session.continue_run>`,
which first *claims* it (queued → running, owner this process: a compare-and-set, so
two servers on one store never take the same run) and then executes its stored spec.

A restarted server therefore finds its queue where it left it. Runs it was executing
when it died are ``interrupted`` (their owner, this host's earlier process, is gone):
at start-up they are claimed from that owner and continue from their last checkpoint,
reusing their stored steps. Only the server's own runs (batch ids ``api_...``) are
taken over; interrupted CLI runs are left to ``corrigo resume``. On a graceful stop
the running runs are left unfinished on purpose, to be resumed the same way, instead
of being stored as cancelled.

Cancelling a queued run claims it and stores it finished with stop reason
``cancelled``; cancelling a run this server executes cancels its asyncio task
(``execute`` stores it as cancelled). A run executing in another process is not ours
to cancel (409).

Each ``api_<caller>_<id>`` batch id carries the caller's token fingerprint, so the
limit of queued and running runs per token is counted from the store.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from contextlib import suppress
from types import TracebackType
from typing import Any, cast

from corrigo.config import Settings
from corrigo.errors import CorrigoError, StoreError
from corrigo.lifecycle.session import Session
from corrigo.liveness import current_owner, shown
from corrigo.records import Outcome, RunQuery, RunRecord, RunSpec, new_id
from corrigo.serve.config import ServeConfig
from corrigo.serve.events import Waiters
from corrigo.serve.schemas import ApiError
from corrigo.storage.base import TrajectoryStore

log = logging.getLogger("corrigo.serve")

BATCH_PREFIX = "api_"
_IDLE_SCAN_SECONDS = 1.0  # other servers on the same store may queue runs too
_ALL = 1_000_000
_RECOUNT_SECONDS = 1.0


def batch_for(caller: str) -> str:
    return new_id(f"{BATCH_PREFIX}{caller}_")


class _Detachable:
    """The store as runs see it. Once detached (the server is stopping), a run's
    "cancelled" outcome is not stored: the run stays unfinished, to be resumed."""

    def __init__(self, store: TrajectoryStore) -> None:
        self._store = store
        self.detached = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def finish_run(self, run_id: str, outcome: Outcome) -> None:
        if self.detached and outcome.stop_reason == "cancelled":
            raise StoreError(f"run {run_id} left unfinished: the server is stopping")
        await self._store.finish_run(run_id, outcome)


class RunQueue:
    """Started with ``async with``: opens the sandbox and checkpointer, checks the
    configured models, and starts the dispatcher; leaving stops the workers."""

    def __init__(
        self, store: TrajectoryStore, settings: Settings, config: ServeConfig, waiters: Waiters
    ) -> None:
        self.store, self.settings, self.config, self.waiters = store, settings, config, waiters
        self._runs = _Detachable(store)
        self._session = Session(settings, store, _executor(config, settings))
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._interrupted: list[RunRecord] = []
        self._ray = config.executor == "ray"
        slots = config.workers * (config.ray_actors if self._ray else 1)
        self._slots = asyncio.Semaphore(slots)
        self._wake = asyncio.Event()
        self._submit_lock = asyncio.Lock()
        # (when counted, runs waiting, active runs per caller): see _counts.
        self._counted: tuple[float, int, dict[str, int]] = (-1e9, 0, {})
        self._dispatcher: asyncio.Task[None] | None = None

    @property
    def session(self) -> Session:
        """The session the queue's runs execute in (its store, sandboxes and models)."""
        return self._session

    @property
    def running(self) -> int:
        return len(self._tasks)

    async def __aenter__(self) -> RunQueue:
        session = self._session
        await session.__aenter__()
        try:
            session.runs = cast(TrajectoryStore, self._runs)
            for spec in dict.fromkeys(self.config.models.values()):
                if not (self._ray and spec.startswith("local:")):  # loaded by the actors
                    await session.check({"any": spec})
            if not self._ray:  # with Ray the actors hold the sandboxes
                await session.sandbox(self.settings.sandbox)
            self._interrupted = await self._own_interrupted()
        except BaseException:
            await session.close()
            raise
        if self._interrupted:
            log.info("resuming %d interrupted run(s)", len(self._interrupted))
        self._dispatcher = asyncio.create_task(self._dispatch(), name="corrigo-serve-dispatch")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._runs.detached = True
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            await asyncio.gather(self._dispatcher, return_exceptions=True)
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._session.close()

    # -- submitting and cancelling --------------------------------------------------------

    async def submit(self, specs: list[RunSpec], caller: str) -> list[RunRecord]:
        """Store ``specs`` as queued runs, within the queue bound and the caller's limit."""
        config = self.config
        async with self._submit_lock:
            waiting, by_caller = await self._counts()
            active = by_caller.get(caller, 0)
            if active + len(specs) > config.max_runs_per_token:
                raise ApiError(
                    429,
                    "too_many_runs",
                    f"this token has {active} runs queued or running; {len(specs)} more would "
                    f"pass its limit of {config.max_runs_per_token}",
                    headers={"Retry-After": "30"},
                )
            if waiting + len(specs) > config.queue_bound:
                raise ApiError(
                    503,
                    "queue_full",
                    f"the queue is full ({waiting} runs waiting, at most "
                    f"{config.queue_bound}): try again later",
                    headers={"Retry-After": "30"},
                )
            records: list[RunRecord] = []
            try:
                for spec in specs:
                    records.append(await self.store.create_run(spec, status="queued"))
            except BaseException:
                for record in records:  # all of the request or none of it
                    await asyncio.shield(self.store.delete_run(record.id))
                raise
            # Counted until the next look at the store.
            self._counted = (self._counted[0], waiting + len(records), by_caller)
            by_caller[caller] = active + len(records)
        self._wake.set()
        return records

    async def _counts(self) -> tuple[int, dict[str, int]]:
        """Runs waiting in all, and runs queued or running per caller, read from the store
        at most every ``_RECOUNT_SECONDS`` (a submission then adds its own): decoding
        every active run on each request made submissions slow under load."""
        at, waiting, by_caller = self._counted
        if time.monotonic() - at < _RECOUNT_SECONDS:
            return waiting, by_caller
        bound = self.config.queue_bound + 1
        queued = await self.store.list_runs(query=RunQuery(status="queued", limit=bound))
        running = await self.store.list_runs(query=RunQuery(status="running", limit=_ALL))
        by_caller = {}
        for record in [*queued, *running]:
            batch = record.spec.batch_id or ""
            if batch.startswith(BATCH_PREFIX):
                who = batch[len(BATCH_PREFIX) :].rsplit("_", 1)[0]
                by_caller[who] = by_caller.get(who, 0) + 1
        self._counted = (time.monotonic(), len(queued), by_caller)
        return len(queued), by_caller

    async def cancel(self, run_id: str) -> RunRecord:
        record = shown(await self.store.get_run(run_id))
        run_id = record.id
        if record.status == "finished":
            raise ApiError(409, "finished", f"run {run_id} is already finished")
        task = self._tasks.get(run_id)
        if task is None and record.status in ("queued", "interrupted"):
            try:
                await self.store.claim_run(run_id, current_owner(), expected=record.owner)
            except StoreError:
                task = self._tasks.get(run_id)  # a worker of this server took it meanwhile
            else:
                await self.store.finish_run(run_id, _cancelled(record))
                self.waiters.wake(run_id)
                return await self.store.get_run(run_id)
        if task is None:
            current = shown(await self.store.get_run(run_id))
            if current.status == "finished":
                return current
            raise ApiError(
                409,
                "not_here",
                f"run {run_id} is running in another process ({current.owner or 'unknown'}); "
                "cancel it there",
            )
        if not self._session.executor.cancel(run_id):
            task.cancel()  # a run of this process (or not yet handed to an actor)
        await asyncio.wait({task}, timeout=60)
        return shown(await self.store.get_run(run_id))

    # -- workers -----------------------------------------------------------------------

    async def _own_interrupted(self) -> list[RunRecord]:
        running = await self.store.list_runs(query=RunQuery(status="running", limit=_ALL))
        found = [shown(r) for r in running]
        own = [
            r
            for r in found
            if r.status == "interrupted" and (r.spec.batch_id or "").startswith(BATCH_PREFIX)
        ]
        return sorted(own, key=lambda r: (r.created_at, r.id))

    async def _dispatch(self) -> None:
        while True:
            await self._slots.acquire()
            try:
                record = await self._next()
            except BaseException:
                self._slots.release()
                raise
            task = asyncio.create_task(self._work(record), name=f"corrigo-run-{record.id}")
            self._tasks[record.id] = task

    async def _next(self) -> RunRecord:
        """The next run to work on: an interrupted one of ours, else the oldest queued."""
        while True:
            if self._interrupted:
                return self._interrupted.pop(0)
            self._wake.clear()
            try:
                queued = await self.store.list_runs(
                    query=RunQuery(status="queued", limit=self.config.queue_bound + 100)
                )
            except CorrigoError as exc:
                log.warning("cannot read the queue: %s", exc)
                queued = []
            for record in reversed(queued):  # newest first: the oldest is last
                if record.id not in self._tasks:
                    return record
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), _IDLE_SCAN_SECONDS)

    async def _work(self, record: RunRecord) -> None:
        run_id = record.id

        def on_event(_task_id: str, event: Mapping[str, Any]) -> None:
            if event.get("event") == "step":
                self.waiters.wake(run_id)

        try:
            if self._ray:  # an actor claims and executes it; its steps wake streams
                await self._session.executor.continue_runs(
                    self._session, [record], concurrency=1, on_outcome=None, on_event=None
                )
            else:
                await self._session.continue_run(record, on_event=on_event)
        except asyncio.CancelledError:
            if not self._runs.detached:
                await asyncio.shield(self._settle_cancelled(record))
        except StoreError as exc:
            # Lost the claim to another process, or the store failed mid-run (the run
            # stays unfinished; a restart resumes it).
            log.warning("run %s: %s", run_id, exc)
        except Exception as exc:
            log.exception("run %s failed", run_id)
            await self._settle(record, "error", f"{type(exc).__name__}: {exc}")
        finally:
            self._tasks.pop(run_id, None)
            self._slots.release()
            self.waiters.wake(run_id)

    async def _settle_cancelled(self, record: RunRecord) -> None:
        await self._settle(record, "cancelled", None)

    async def _settle(self, record: RunRecord, reason: str, error: str | None) -> None:
        """Finish a run of ours that ``execute`` could not finish itself."""
        try:
            current = await self.store.get_run(record.id)
            if current.status == "finished":
                return
            if current.owner != current_owner():
                await self.store.claim_run(record.id, current_owner(), expected=current.owner)
            outcome = _cancelled(record).model_copy(update={"stop_reason": reason, "error": error})
            await self.store.finish_run(record.id, outcome)
        except CorrigoError as exc:
            log.warning("run %s could not be settled as %s: %s", record.id, reason, exc)


def _executor(config: ServeConfig, settings: Settings) -> Any:
    """The queue's executor: this process (None) or Ray actors on the server's store."""
    if config.executor != "ray":
        return None
    from corrigo.lifecycle.executor import get_executor

    return get_executor(
        "ray",
        config.ray_address,
        actors=config.ray_actors,
        per_actor=config.workers,
        store_url=settings.resolved_store_url,
    )


def _cancelled(record: RunRecord) -> Outcome:
    return Outcome(
        run_id=record.id,
        task_id=record.spec.task.id,
        stop_reason="cancelled",
        strategy=record.spec.strategy,
    )
