"""A run's steps and outcome as server-sent events, read from the store.

The stream is derived from the store alone, not from memory, so it is the same
whichever process runs the run, and a reconnect is exact: every stored step is one
event whose id is its ``seq``; a client reconnecting with ``Last-Event-ID: N`` gets
the steps after ``N``, nothing lost or repeated. When the run is finished a last
``outcome`` event (id ``outcome``) carries the outcome and the stream ends; a
reconnect after it gets ``204 No Content``, which tells an ``EventSource`` to stop.

Between looks at the store the stream sleeps a short interval, doubling while nothing
happens (up to :data:`MAX_PAUSE`), or less: a run that executes in this server wakes its
streams as each step is stored and when it ends (:class:`Waiters`).
A comment line every ``keepalive_seconds`` keeps idle connections open through proxies.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable

from corrigo.records import Step
from corrigo.storage.base import TrajectoryStore

OUTCOME_ID = "outcome"
MAX_PAUSE = 2.0  # seconds between looks at the store for a quiet run


class Waiters:
    """Wake-ups per run id: the queue calls :meth:`wake` as a run stores a step."""

    def __init__(self) -> None:
        self._events: dict[str, set[asyncio.Event]] = {}

    def wake(self, run_id: str) -> None:
        for event in self._events.get(run_id, ()):
            event.set()

    async def wait(self, run_id: str, timeout: float) -> None:
        event = asyncio.Event()
        waiting = self._events.setdefault(run_id, set())
        waiting.add(event)
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            waiting.discard(event)
            if not waiting:
                self._events.pop(run_id, None)


def frame(event: str, data: str, event_id: str | None = None) -> bytes:
    """One server-sent event; ``data`` is one line of JSON (JSON escapes newlines)."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {data}\n\n".encode()


def step_data(step: Step) -> str:
    return json.dumps(step.model_dump(mode="json"), ensure_ascii=False)


async def stream(
    store: TrajectoryStore,
    run_id: str,
    after: int,
    *,
    waiters: Waiters,
    poll_seconds: float,
    keepalive_seconds: float,
    scrub: Callable[[str], str],
) -> AsyncIterator[bytes]:
    """Events of run ``run_id`` (a full id) after step ``after``, until its outcome."""
    last = after
    quiet_since = time.monotonic()
    pause = poll_seconds
    yield b": corrigo run events\n\n"
    while True:
        # The record first: once it reads finished, every step is already stored.
        record = await store.get_run(run_id)
        fresh = False
        for step in await store.get_steps(run_id):
            if step.seq > last:
                yield frame("step", scrub(step_data(step)), str(step.seq))
                last = step.seq
                quiet_since = time.monotonic()
                fresh = True
        if record.status == "finished":
            outcome = record.outcome.model_dump(mode="json") if record.outcome else None
            data = json.dumps({"run_id": run_id, "status": "finished", "outcome": outcome})
            yield frame("outcome", scrub(data), OUTCOME_ID)
            return
        if time.monotonic() - quiet_since >= keepalive_seconds:
            yield b": keep-alive\n\n"
            quiet_since = time.monotonic()
        # A quiet run (queued, or in a long sandbox call) is looked at less and less
        # often, up to MAX_PAUSE: a run executing in this server wakes its streams as
        # each step is stored anyway; only runs of other processes wait for the look.
        pause = poll_seconds if fresh else min(pause * 2, max(poll_seconds, MAX_PAUSE))
        await waiters.wait(run_id, pause)
