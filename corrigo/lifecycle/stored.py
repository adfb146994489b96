"""Reading stored runs: load one, list them, prune them.

Kept apart from :mod:`corrigo.lifecycle.execute` so that commands that only read the store
(``corrigo runs``, ``corrigo show``) load neither LangGraph nor the strategies.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime

from corrigo.config import Settings
from corrigo.errors import RunNotFound
from corrigo.liveness import shown
from corrigo.records import RunQuery, RunRecord, Step
from corrigo.storage.base import TrajectoryStore
from corrigo.storage.factory import open_store


async def enter_store(
    stack: AsyncExitStack, store: str | TrajectoryStore | None, settings: Settings
) -> TrajectoryStore:
    """The caller's open store as is, or one opened from a URL (closed with ``stack``)."""
    if isinstance(store, TrajectoryStore):
        return store
    return await stack.enter_async_context(open_store(store or settings.resolved_store_url))


def forks_batch(run_id: str) -> str:
    """The batch id of ``run_id``'s forks (``corrigo runs --batch fork_<id>`` lists them)."""
    return f"fork_{run_id}"


async def forks_of(
    parent: RunRecord,
    *,
    store: str | TrajectoryStore | None = None,
    settings: Settings | None = None,
) -> list[RunRecord]:
    """The runs forked from ``parent``, newest first, whoever made them (the CLI, Python or
    the HTTP API). A fork has its parent's task and is made after it, so only those runs
    are read."""
    settings = settings or Settings.from_env()
    async with AsyncExitStack() as stack:
        opened = await enter_store(stack, store, settings)
        query = RunQuery(task_id=parent.spec.task.id, since=parent.created_at, limit=1_000_000)
        runs = await opened.list_runs(query=query)
        return [
            shown(r)
            for r in runs
            if r.spec.forked_from is not None and r.spec.forked_from.run_id == parent.id
        ]


async def resolve_run_id(store: TrajectoryStore, run_id: str) -> str:
    """``run_id`` itself, or for ``"last"`` the newest run's id; raises RunNotFound."""
    if run_id != "last":
        return run_id
    newest = await store.list_runs(limit=1)
    if not newest:
        raise RunNotFound("no runs in the store yet")
    return newest[0].id


@dataclass(frozen=True)
class StoredRun:
    record: RunRecord
    steps: list[Step]


async def load_run(
    run_id: str, *, store: str | TrajectoryStore | None = None, settings: Settings | None = None
) -> StoredRun:
    """A stored run and its steps (``"last"``: the newest run); raises RunNotFound."""
    settings = settings or Settings.from_env()
    async with AsyncExitStack() as stack:
        opened = await enter_store(stack, store, settings)
        record = shown(await opened.get_run(await resolve_run_id(opened, run_id)))
        return StoredRun(record, await opened.get_steps(record.id))


async def list_runs(
    *,
    limit: int = 50,
    batch_id: str | None = None,
    query: RunQuery | None = None,
    store: str | TrajectoryStore | None = None,
    settings: Settings | None = None,
) -> list[RunRecord]:
    """Stored runs, newest first, filtered by ``query`` (``limit`` and ``batch_id`` are
    shorthands for its fields). A running run whose process is gone is ``interrupted``."""
    settings = settings or Settings.from_env()
    query = query or RunQuery(limit=limit, batch_id=batch_id)
    async with AsyncExitStack() as stack:
        opened = await enter_store(stack, store, settings)
        if query.status not in ("interrupted", "running"):
            return [shown(r) for r in await opened.list_runs(query=query)]
        # Liveness is decided here, not stored: ask for running runs until enough remain.
        wanted, fetch = query.status, query.limit
        while True:
            batch = await opened.list_runs(
                query=query.model_copy(update={"status": "running", "limit": fetch})
            )
            picked = [r for r in map(shown, batch) if r.status == wanted]
            if len(picked) >= query.limit or len(batch) < fetch:
                return picked[: query.limit]
            fetch *= 4


async def prune_runs(
    *,
    older_than: datetime | None = None,
    keep: int | None = None,
    store: str | TrajectoryStore | None = None,
    settings: Settings | None = None,
) -> int:
    """Delete finished runs created before ``older_than`` and/or beyond the ``keep``
    newest; returns how many were deleted. Running and interrupted runs stay."""
    settings = settings or Settings.from_env()
    async with AsyncExitStack() as stack:
        opened = await enter_store(stack, store, settings)
        return await opened.prune_runs(older_than=older_than, keep=keep)
