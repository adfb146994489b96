"""The Ray actor that executes corrigo's runs (:class:`RunWorker`), driven by
:class:`~corrigo.lifecycle.ray_executor.RayExecutor`: it opens its own session on the store
by URL, claims each run it is handed and continues it to its outcome."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from corrigo.errors import StoreError

if TYPE_CHECKING:
    from corrigo.lifecycle.execute import EventCallback
    from corrigo.lifecycle.session import Session


class RunWorker:
    """A Ray actor (async: up to ``max_concurrency`` runs at once on its event loop) with
    its own session on the store, opened on its first run and kept for the next."""

    def __init__(self, store_url: str) -> None:
        self.store_url = store_url
        self.session: Any = None
        self.lock = asyncio.Lock()

    async def _session(self) -> Session:
        from corrigo.config import Settings
        from corrigo.lifecycle.session import Session

        async with self.lock:
            if self.session is None:
                session = Session(Settings.from_env(), self.store_url)
                await session.__aenter__()
                self.session = session
            return self.session

    async def execute(self, run_id: str, driver: str, on_event: EventCallback | None = None) -> str:
        """Claim the stored run and continue it to its outcome (JSON), or say why not.

        The run is taken when it has no owner (queued), is the ``driver``'s (which
        claimed it to resume it), or its owner is not known to be alive (an actor that
        died; on another host the driver, which saw it die, is trusted)."""
        from corrigo.errors import CorrigoError
        from corrigo.liveness import current_owner, owner_alive

        try:
            session = await self._session()
            store = session.store
            record = await store.get_run(run_id)
            if record.status == "finished" and record.outcome is not None:
                return json.dumps({"outcome": record.outcome.model_dump(mode="json")})
            mine = record.owner in (None, "", driver, current_owner())
            if not mine and owner_alive(record.owner) is True:
                return json.dumps({"busy": record.owner})
            try:
                await store.claim_run(run_id, current_owner(), expected=record.owner)
            except StoreError:
                return json.dumps({"busy": "another worker"})
            outcome = await session.continue_run(record, claim=False, on_event=on_event)
            return json.dumps({"outcome": outcome.model_dump(mode="json")})
        except CorrigoError as exc:
            return json.dumps({"error": str(exc), "kind": type(exc).__name__})

    async def execute_streaming(self, run_id: str, driver: str) -> AsyncIterator[str]:
        """:meth:`execute`, yielding the run's progress events (JSON, ``{"task", "event"}``)
        as its graph moves, then the reply. The driver reads it as a Ray streaming
        generator; a cancel from the driver cancels the run, which stores itself cancelled."""
        events: asyncio.Queue[str] = asyncio.Queue()

        def on_event(task_id: str, event: dict[str, Any]) -> None:
            events.put_nowait(json.dumps({"task": task_id, "event": event}, default=str))

        work = asyncio.ensure_future(self.execute(run_id, driver, on_event))
        # A cancel can reach the task that reads this generator while the generator
        # waits at a yield, where no finally runs until it is collected: the run is
        # cancelled with that task.
        reader = asyncio.current_task()
        if reader is not None:
            reader.add_done_callback(lambda task: work.cancel() if task.cancelled() else None)
        next_event: asyncio.Future[str] | None = None
        try:
            while not work.done():
                next_event = asyncio.ensure_future(events.get())
                await asyncio.wait({work, next_event}, return_when=asyncio.FIRST_COMPLETED)
                if next_event.done():
                    yield next_event.result()
                else:
                    next_event.cancel()
            while not events.empty():
                yield events.get_nowait()
            yield work.result()
        finally:
            if next_event is not None:
                next_event.cancel()
            if not work.done():
                work.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await work
