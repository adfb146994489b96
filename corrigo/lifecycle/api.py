"""Running tasks: validate everything up front, then one stored run per task.

``run`` is what the CLI and services call. It loads the tasks, builds and checks the
models, opens the store and starts the sandbox *before* any run is created, so bad
input leaves nothing half-written; then it runs the tasks concurrently, each as one
stored run, and returns their outcomes in task order. ``resume`` continues stored runs
that did not finish; :mod:`corrigo.lifecycle.fork` starts a new run from a step of a
stored one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Unpack

from corrigo.config import Settings
from corrigo.lifecycle.execute import EventCallback
from corrigo.lifecycle.executor import Executor, OutcomeCallback, all_or_none
from corrigo.lifecycle.options import OptionArgs, RunOptions, build_specs, plan
from corrigo.lifecycle.session import Session
from corrigo.records import Outcome, RunQuery, RunSpec, Task
from corrigo.storage.base import TrajectoryStore

__all__ = ["OutcomeCallback", "all_or_none", "resume", "run", "run_specs", "run_sync"]


async def run(
    tasks: str | Sequence[Task],
    *,
    options: RunOptions | None = None,
    store: str | TrajectoryStore | None = None,
    settings: Settings | None = None,
    concurrency: int = 2,
    batch_id: str | None = None,
    on_outcome: OutcomeCallback | None = None,
    on_event: EventCallback | None = None,
    session: Session | None = None,
    executor: Executor | None = None,
    **args: Unpack[OptionArgs],
) -> list[Outcome]:
    """Run ``tasks`` (a selector such as ``"humaneval[:5]"`` or Task records) with the
    run options (``strategy="refine"``, ``model=...``: :class:`RunOptions`' fields, given
    one by one or as ``options``).

    Raises a :class:`~corrigo.errors.CorrigoError` subclass for bad input before
    anything is stored. ``session``: an open session to run in (its store, settings and
    executor); ``executor``: where the runs execute without one (default: this process;
    :func:`corrigo.lifecycle.executor.get_executor` gives Ray's).
    """
    from corrigo.tasks import load_tasks

    chosen_options = RunOptions.of(options, **args)
    settings = session.settings if session is not None else settings or Settings.from_env()
    task_list = load_tasks(tasks, home=settings.home) if isinstance(tasks, str) else list(tasks)
    specs = run_specs(
        task_list,
        options=chosen_options,
        store_label=_store_label(session.store if session is not None else store, settings),
        settings=settings,
        batch_id=batch_id,
    )
    if session is not None:
        return await _run_in(session, specs, concurrency, on_outcome, on_event)
    opened = Session(settings, store, executor)
    try:  # the models are checked before the store is opened: a bad model opens nothing
        if specs:
            await opened.check(specs[0].roles)
    except BaseException:
        await opened.close()
        raise
    async with opened:
        return await _run_in(opened, specs, concurrency, on_outcome, on_event)


async def _run_in(
    session: Session,
    specs: Sequence[RunSpec],
    concurrency: int,
    on_outcome: OutcomeCallback | None,
    on_event: EventCallback | None,
) -> list[Outcome]:
    return await session.executor.run_specs(
        session, specs, concurrency=concurrency, on_outcome=on_outcome, on_event=on_event
    )


def _store_label(store: str | TrajectoryStore | None, settings: Settings) -> str:
    from corrigo.storage.factory import redact_url

    if store is not None and not isinstance(store, str):
        return type(store).__name__
    return redact_url(store or settings.resolved_store_url)


async def resume(
    run_ids: Sequence[str] = (),
    *,
    interrupted: bool = False,
    batch_id: str | None = None,
    force: bool = False,
    store: str | TrajectoryStore | None = None,
    settings: Settings | None = None,
    concurrency: int = 2,
    on_outcome: OutcomeCallback | None = None,
    on_event: EventCallback | None = None,
    session: Session | None = None,
) -> list[Outcome]:
    """Continue stored runs that did not finish: ``run_ids``, and with ``interrupted``
    every interrupted run (of ``batch_id`` when given).

    Each run continues from its last checkpoint with the models, sandbox and budgets of
    its spec; steps it recorded are reused, never asked again. A run still owned by a
    live process (or by another host) is refused unless ``force``; a finished one always.
    Raises a :class:`~corrigo.errors.CorrigoError` subclass before anything changes.
    """
    if session is not None:
        return await _resume_in(
            session, run_ids, interrupted, batch_id, force, concurrency, on_outcome, on_event
        )
    async with Session(settings, store) as opened:
        return await _resume_in(
            opened, run_ids, interrupted, batch_id, force, concurrency, on_outcome, on_event
        )


async def _resume_in(
    session: Session,
    run_ids: Sequence[str],
    interrupted: bool,
    batch_id: str | None,
    force: bool,
    concurrency: int,
    on_outcome: OutcomeCallback | None,
    on_event: EventCallback | None,
) -> list[Outcome]:
    from corrigo.errors import UsageError
    from corrigo.liveness import current_owner, shown

    store = session.store
    records = [shown(await store.get_run(r)) for r in run_ids]
    if interrupted:
        query = RunQuery(status="running", batch_id=batch_id, limit=1_000_000)
        found = [shown(r) for r in await store.list_runs(query=query)]
        known = {r.id for r in records}
        records += [r for r in found if r.status == "interrupted" and r.id not in known]
    for record in records:
        if record.status == "finished":
            raise UsageError(f"run {record.id} is already finished: nothing to resume")
        if record.status == "running" and not force:
            raise UsageError(
                f"run {record.id} is still running (owner {record.owner or 'unknown'}); "
                "use --force if that process is gone"
            )
    # Every model is checked before any claim (the local executor builds them here).
    for key in {tuple(sorted(r.spec.roles.items())) for r in records}:
        await session.models(dict(key))
    # Claim every run before continuing any: two resumers cannot both take one.
    for record in records:
        await store.claim_run(record.id, current_owner(), expected=record.owner)
    return await session.executor.continue_runs(
        session, records, concurrency=concurrency, on_outcome=on_outcome, on_event=on_event
    )


def run_sync(tasks: str | Sequence[Task], **kwargs: Any) -> list[Outcome]:
    """:func:`run` for callers without an event loop."""
    return asyncio.run(run(tasks, **kwargs))


def run_specs(
    tasks: Sequence[Task],
    *,
    options: RunOptions | None = None,
    store_label: str = "",
    settings: Settings | None = None,
    batch_id: str | None = None,
    **args: Unpack[OptionArgs],
) -> list[RunSpec]:
    """The specs of ``tasks`` as :func:`run` runs them, one per task, without running
    them (``corrigo serve`` stores them as queued runs). Checks the strategy, its
    parameters and the role mapping; builds no model. Raises a CorrigoError subclass."""
    settings = settings or Settings.from_env()
    chosen = plan(RunOptions.of(options, **args), settings)
    return build_specs(tasks, chosen, store_label=store_label, batch_id=batch_id)
