"""Fork a stored run at a step: a new run that takes the parent's steps up to there and
goes on with other options (strategy, models, rounds).

The fork does not re-run the past. Its graph starts from the beginning with the
parent's steps up to STEP served by key, as an exact replay serves them: no model is
asked and no candidate executed for them, and each is stored again in the fork, so the
fork's trajectory is whole on its own (``show``, export and exact replay read it like any
run). The first step the graph asks for that the parent did not record at or before STEP
is asked of the fork's models. Walking the graph again, rather than loading a checkpoint,
rebuilds the state at STEP the same way on every store, and needs no checkpoint kept
after the parent finished.

The fork's spec names its parent (``forked_from``); a run's forks are found by that
(:func:`~corrigo.lifecycle.stored.forks_of`). A fork made here goes in the batch
``fork_<parent id>``; one made over HTTP goes in its caller's batch.
"""

from __future__ import annotations

from collections.abc import Mapping

from corrigo.config import Settings
from corrigo.errors import UsageError
from corrigo.graphs.registry import parse_strategy
from corrigo.lifecycle.execute import EventCallback
from corrigo.lifecycle.options import RunOptions, build_specs, plan
from corrigo.lifecycle.session import Session
from corrigo.lifecycle.stored import forks_batch
from corrigo.records import ForkPoint, Outcome, RunRecord, RunSpec
from corrigo.storage.base import TrajectoryStore


async def fork(
    run_id: str,
    *,
    at: int,
    strategy: str | None = None,
    model: str | None = None,
    roles: Mapping[str, str] | None = None,
    max_rounds: int | None = None,
    store: str | TrajectoryStore | None = None,
    settings: Settings | None = None,
    session: Session | None = None,
    on_event: EventCallback | None = None,
) -> Outcome:
    """Fork the stored run ``run_id`` (``"last"``: the newest) at step ``at`` and run the
    fork to its end. Options not given are the parent's. Bad input (an unknown run, a step
    out of range, a run still running, an unknown strategy or model) raises a
    CorrigoError subclass before anything is stored."""
    if session is not None:
        return await _fork_in(session, run_id, at, strategy, model, roles, max_rounds, on_event)
    async with Session(settings, store) as opened:
        return await _fork_in(opened, run_id, at, strategy, model, roles, max_rounds, on_event)


async def prepare_fork(
    session: Session,
    run_id: str,
    *,
    at: int,
    strategy: str | None = None,
    model: str | None = None,
    roles: Mapping[str, str] | None = None,
    max_rounds: int | None = None,
) -> RunSpec:
    """The fork's spec, checked; nothing is stored. The serve API stores it as a queued
    run; :func:`fork` runs it (the session serves the parent's steps up to the fork
    point to it, see :meth:`Session.fork_past`)."""
    from corrigo.lifecycle.stored import resolve_run_id
    from corrigo.liveness import shown

    store = session.store
    parent = shown(await store.get_run(await resolve_run_id(store, run_id)))
    if parent.status in ("running", "queued"):
        raise UsageError(
            f"run {parent.id} is {parent.status}: fork a run that has finished or stopped"
        )
    steps = await store.get_steps(parent.id)
    if not steps:
        raise UsageError(f"run {parent.id} has no steps to fork from")
    last = max(s.seq for s in steps)
    if not 1 <= at <= last:
        raise UsageError(f"step {at} is out of range: run {parent.id} has steps 1 to {last}")
    options = _options(parent, strategy, model, roles, max_rounds)
    chosen = plan(options, session.settings)
    [spec] = build_specs(
        [parent.spec.task],
        chosen,
        store_label=parent.spec.store,
        batch_id=forks_batch(parent.id),
    )
    return spec.model_copy(update={"forked_from": ForkPoint(run_id=parent.id, step=at)})


async def _fork_in(
    session: Session,
    run_id: str,
    at: int,
    strategy: str | None,
    model: str | None,
    roles: Mapping[str, str] | None,
    max_rounds: int | None,
    on_event: EventCallback | None,
) -> Outcome:
    spec = await prepare_fork(
        session, run_id, at=at, strategy=strategy, model=model, roles=roles, max_rounds=max_rounds
    )
    return await session.execute(spec, on_event=on_event)  # models checked before storing


def _options(
    parent: RunRecord,
    strategy: str | None,
    model: str | None,
    roles: Mapping[str, str] | None,
    max_rounds: int | None,
) -> RunOptions:
    """The fork's options: the parent's, with what the caller changes laid over them."""
    spec = parent.spec
    same = strategy is None or parse_strategy(strategy)[0].name == spec.strategy
    params = {k: v for k, v in spec.params.items() if k != "max_rounds"} if same else {}
    rounds = max_rounds if max_rounds is not None else int(spec.params.get("max_rounds", 3))
    # Roles: the parent's models, all replaced by ``model`` when given, then ``roles``.
    base = model or spec.roles.get("solver")
    mapping = {} if model else dict(spec.roles)
    mapping.update(roles or {})
    return RunOptions(
        strategy=strategy or spec.strategy,
        model=base,
        roles=mapping,
        params=params,
        sampling=spec.sampling,
        max_rounds=rounds,
        budgets=spec.budgets,
        limits=spec.limits,
        sandbox=spec.sandbox,
    )
