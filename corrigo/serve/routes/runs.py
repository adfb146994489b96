"""``/v1/runs``: queue runs, list and read them, follow, cancel and replay them.

Every route here needs a token; the app factory mounts this router behind
:func:`~corrigo.serve.auth.require_caller`. A route takes what it uses as a
dependency from :mod:`~corrigo.serve.routes.deps` (the store, the queue, the
configuration, the caller). A new action on one run is one more function at the end
of this module, decorated ``@router.post("/runs/{run_id}/<action>")``.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from corrigo.records import RunQuery, RunRecord, RunStatus, Task
from corrigo.serve import schemas
from corrigo.serve.queue import BATCH_PREFIX, batch_for
from corrigo.serve.routes import streams
from corrigo.serve.routes.deps import CallerDep, ConfigDep, QueueDep, SettingsDep, StoreDep
from corrigo.serve.schemas import ApiError

router = APIRouter(tags=["runs"])

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


@router.post("/runs", status_code=202, response_model=schemas.Submitted)
async def submit(
    body: schemas.RunRequest,
    request: Request,
    caller: CallerDep,
    config: ConfigDep,
    settings: SettingsDep,
    queue: QueueDep,
) -> schemas.Submitted:
    """Queue one run per task: a configured suite (optionally sliced) or task records."""
    from corrigo.lifecycle.api import run_specs
    from corrigo.storage.urls import redact_url

    if isinstance(body.tasks, str):
        suites: dict[str, list[Task]] = request.app.state.suites
        name, window, ids = schemas.parse_selector(body.tasks, config.suites)
        tasks = schemas.select(suites[name], name, window, ids)
    else:
        if len(body.tasks) > config.max_tasks:
            raise _too_many(len(body.tasks), config.max_tasks)
        tasks = schemas.inline_tasks(body.tasks)
    if len(tasks) > config.max_tasks:
        raise _too_many(len(tasks), config.max_tasks)
    spec = schemas.model_spec(body.model, config.models)
    if schemas.looks_like_place(body.strategy):
        raise ApiError(422, "path_not_allowed", "strategy must be a strategy's name")
    from corrigo.graphs.registry import parse_strategy

    _, named = parse_strategy(body.strategy)  # parameters given in the name count too
    schemas.check_params({**named, **body.params})
    budgets = schemas.budgets_within(body.budgets, config.caps)
    specs = run_specs(
        tasks,
        strategy=body.strategy,
        model=spec,
        params=body.params,
        max_rounds=budgets.max_rounds,
        budgets=budgets,
        sandbox=settings.sandbox,
        store_label=redact_url(settings.resolved_store_url),
        settings=settings,
        batch_id=batch_for(caller),
    )
    records = await queue.submit(specs, caller)
    return schemas.Submitted(batch_id=specs[0].batch_id or "", run_ids=[r.id for r in records])


def _too_many(count: int, most: int) -> ApiError:
    return ApiError(
        422,
        "too_many_tasks",
        f"{count} tasks in one request; this server takes at most {most}",
    )


@router.get("/runs", response_model=schemas.RunPage)
async def list_runs(
    config: ConfigDep,
    store: StoreDep,
    status: RunStatus | None = None,
    task: str | None = Query(None, description="A task id, or a prefix ending in *"),
    strategy: str | None = None,
    model: str | None = Query(None, description="A configured model name, or a spec"),
    batch: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = Query(50, ge=1, le=200),
    before: str | None = Query(None, description="The cursor of the previous page's next"),
) -> schemas.RunPage:
    """Stored runs, newest first."""
    from corrigo.lifecycle.stored import list_runs as stored_runs

    bound: tuple[datetime, str] | None = _parse_cursor(before) if before else None
    if bound is not None:
        edge = bound[0] + _MICRO  # runs created in the same microsecond are sorted by id
        until = min(until, edge) if until is not None else edge
    query = RunQuery(
        limit=limit + 1,
        status=status,
        task_id=task,
        strategy=strategy,
        model=config.models.get(model, model) if model else None,
        batch_id=batch,
        since=since,
        until=until,
    )
    fetch = limit + 1
    while True:
        found = await stored_runs(query=query.model_copy(update={"limit": fetch}), store=store)
        kept = [r for r in found if (r.created_at, r.id) < bound] if bound is not None else found
        if len(kept) > limit or len(found) < fetch:
            break
        fetch *= 2
    page = kept[:limit]
    more = len(kept) > limit
    return schemas.RunPage(runs=page, next=_cursor(page[-1]) if more and page else None)


def _cursor(record: RunRecord) -> str:
    return f"{(record.created_at - _EPOCH) // _MICRO}_{record.id}"


def _parse_cursor(text: str) -> tuple[datetime, str]:
    micros, sep, run_id = text.partition("_")
    if not sep or not re.fullmatch(r"[0-9]{1,17}", micros) or not run_id:
        raise ApiError(422, "invalid_request", "before must be a cursor from a previous page")
    return _EPOCH + int(micros) * _MICRO, run_id


@router.get("/runs/{run_id}", response_model=RunRecord)
async def get_run(run_id: str, store: StoreDep) -> RunRecord:
    """One run: its spec, status (``interrupted`` when its process is gone) and outcome."""
    from corrigo.liveness import shown

    return shown(await store.get_run(run_id))


@router.get("/runs/{run_id}/steps", response_model=schemas.StepsOut)
async def get_steps(run_id: str, store: StoreDep, after: int = Query(0, ge=0)) -> schemas.StepsOut:
    """The run's steps in order (with ``after``: only those after that seq)."""
    record = await store.get_run(run_id)
    steps = [s for s in await store.get_steps(record.id) if s.seq > after]
    return schemas.StepsOut(run_id=record.id, steps=steps)


@router.get(
    "/runs/{run_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, 204: {"description": "Done"}},
)
async def run_events(
    run_id: str,
    request: Request,
    caller: CallerDep,
    store: StoreDep,
    after: int | None = Query(None, ge=0, description="Like Last-Event-ID: steps after it"),
) -> Response:
    """Server-sent events: ``step`` (id: its seq) as each step is stored, then
    ``outcome`` (id: ``outcome``) and the end. Reconnect with ``Last-Event-ID``."""
    record = await store.get_run(run_id)
    return streams.respond(request, record, caller, after)


@router.post("/runs/{run_id}/cancel", response_model=RunRecord)
async def cancel(run_id: str, caller: CallerDep, store: StoreDep, queue: QueueDep) -> RunRecord:
    """Cancel one of your queued runs, or one running in this server: it ends
    ``cancelled``. Runs submitted with another token, or not through this API, are
    not yours to cancel (403)."""
    record = await store.get_run(run_id)
    if not (record.spec.batch_id or "").startswith(f"{BATCH_PREFIX}{caller}_"):
        raise ApiError(403, "not_yours", f"run {record.id} was not submitted with this token")
    return await queue.cancel(record.id)


@router.post("/runs/{run_id}/replay", response_model=schemas.ReplayOut)
async def replay(
    run_id: str,
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    reverify: bool = Query(False, description="Run the candidates again in the sandbox"),
) -> schemas.ReplayOut:
    """Replay a finished run from its records: no model is called."""
    import corrigo

    stored = await corrigo.load_run(run_id, store=store, settings=settings)
    if stored.record.status != "finished":
        raise ApiError(409, "not_finished", f"run {stored.record.id} is {stored.record.status}")
    replays: asyncio.Lock = request.app.state.replays
    if replays.locked():
        raise ApiError(
            429, "busy", "a replay is running: try again shortly", headers={"Retry-After": "1"}
        )
    async with replays:  # one at a time: a replay (re-verify: a sandbox) is heavy
        report = await corrigo.replay_run(stored, reverify=reverify)
    return schemas.ReplayOut(
        run_id=report.run_id,
        mode=report.mode,
        all_matched=report.all_matched,
        steps=[schemas.StepMatchOut(**vars(s)) for s in report.steps],
        replies_served=report.replies_served,
        model_calls=report.model_calls,
        stop_reason=report.stop_reason,
        recorded_stop_reason=report.recorded_stop_reason,
    )


@router.post("/runs/{run_id}/fork", status_code=202, response_model=schemas.Submitted)
async def fork(
    run_id: str,
    body: schemas.ForkRequest,
    caller: CallerDep,
    config: ConfigDep,
    queue: QueueDep,
) -> schemas.Submitted:
    """Queue a fork of a stored run: its steps up to ``at`` are the run's, reused (no model
    asked, nothing executed again); from there it goes on with the options given. Every
    model the fork would use must be one of the server's; its budgets stay within the
    server's caps. The fork is the caller's run (listed, cancelled and counted as such)."""
    from corrigo.lifecycle.fork import prepare_fork

    if body.strategy is not None and schemas.looks_like_place(body.strategy):
        raise ApiError(422, "path_not_allowed", "strategy must be a strategy's name")
    if body.max_rounds is not None and body.max_rounds > config.caps.max_rounds:
        raise ApiError(
            422,
            "over_cap",
            f"max_rounds={body.max_rounds} is above this server's cap of {config.caps.max_rounds}",
        )
    model = schemas.model_spec(body.model, config.models) if body.model is not None else None
    spec = await prepare_fork(
        queue.session,
        run_id,
        at=body.at,
        strategy=body.strategy,
        model=model,
        max_rounds=body.max_rounds,
    )
    allowed = set(config.models.values())
    foreign = sorted(set(spec.roles.values()) - allowed)
    if foreign:
        raise ApiError(
            422,
            "model_not_allowed",
            f"the run used models this server does not offer ({len(foreign)}): name one of "
            f"its models ({', '.join(config.models)}) with 'model'",
        )
    schemas.check_params(spec.params)  # the parent's, and any given in the strategy's name
    spec = spec.model_copy(
        update={
            "budgets": schemas.capped(spec.budgets, config.caps),
            "batch_id": batch_for(caller),
        }
    )
    [record] = await queue.submit([spec], caller)
    return schemas.Submitted(batch_id=spec.batch_id or "", run_ids=[record.id])
