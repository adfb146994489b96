"""The ASGI app: ``create_app(config, settings)``, a thin face over corrigo's API.

=======  ===========================  ==================================================
method   path                         does
=======  ===========================  ==================================================
POST     /v1/runs                     queue one run per task → 202 {batch_id, run_ids}
GET      /v1/runs                     stored runs, newest first; filters; ``before`` cursor
GET      /v1/runs/{id}                one run (spec, status, outcome)
GET      /v1/runs/{id}/steps          its steps in order (``after``: only later ones)
GET      /v1/runs/{id}/events         server-sent events: steps, then the outcome
POST     /v1/runs/{id}/cancel         cancel a queued or running run
POST     /v1/runs/{id}/replay         replay a finished run (``reverify=true``: re-run code)
GET      /v1/health                   liveness and the store's state (no token needed)
GET      /docs, /openapi.json         the API's documentation and schema
=======  ===========================  ==================================================

Every route but health needs a token (see :mod:`corrigo.serve.auth`). Errors are JSON,
``{"error": "...", "code": "..."}``. Bodies larger than the configured limit are refused
with 413 before they are read whole. The lifespan opens the store and starts the queue
(:mod:`corrigo.serve.queue`); the web viewer's pages are included when
:mod:`corrigo.serve.viewer` is present.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from corrigo.config import Settings
from corrigo.errors import (
    ConfigError,
    CorrigoError,
    RunNotFound,
    StoreUnavailable,
    TaskFormatError,
    TaskNotFound,
    UnknownStrategy,
    UsageError,
)
from corrigo.records import RunQuery, RunRecord, RunStatus, Task
from corrigo.serve import auth, events, schemas
from corrigo.serve.config import ServeConfig
from corrigo.serve.queue import BATCH_PREFIX, RunQueue, batch_for
from corrigo.serve.schemas import ApiError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("corrigo")
    except PackageNotFoundError:
        return "0+unknown"


def _scrubber(secrets: list[str]) -> Callable[[str], str]:
    """Defence in depth: no configured secret can leave the server in a body."""
    secrets = [s for s in secrets if s and len(s) >= 4]

    def scrub(text: str) -> str:
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    return scrub


class SafeJSON(JSONResponse):
    """JSON responses with the server's secrets (API keys, tokens) blanked out."""

    scrub: Callable[[str], str] = staticmethod(lambda text: text)  # set by create_app

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return type(self).scrub(text).encode("utf-8")


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return SafeJSON({"error": message, "code": code}, status_code=status, headers=headers)


_USAGE_CODES: list[tuple[type[CorrigoError], str]] = [
    (TaskNotFound, "unknown_task"),
    (TaskFormatError, "invalid_task"),
    (UnknownStrategy, "unknown_strategy"),
    (ConfigError, "invalid_request"),
]


def _corrigo_error(exc: CorrigoError) -> Response:
    if isinstance(exc, RunNotFound):
        return _error(404, "not_found", str(exc))
    if isinstance(exc, UsageError):
        code = next((c for t, c in _USAGE_CODES if isinstance(exc, t)), "invalid_request")
        return _error(422, code, str(exc))
    if isinstance(exc, StoreUnavailable):
        return _error(503, "store_unavailable", "the store is unavailable")
    return _error(500, "internal", f"{type(exc).__name__}: {exc}")


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, declared or streamed."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
        send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
        if declared is not None:
            try:
                too_big = int(declared) > self.limit
            except ValueError:
                too_big = True
            if too_big:
                await self._refuse(scope, receive, send)
                return
        if not chunked:
            await self.app(scope, receive, send)
            return
        # A streamed body: read it here, within the limit, then hand it on.
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message], receive), send)
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.limit:
                await self._refuse(scope, receive, send)
                return
        whole = {"type": "http.request", "body": bytes(body), "more_body": False}
        await self.app(scope, _replay([whole], receive), send)

    async def _refuse(self, scope: Any, receive: Any, send: Any) -> None:
        response = _error(
            413,
            "request_too_large",
            f"the request body is larger than this server's limit of {self.limit} bytes",
        )
        await response(scope, receive, send)


def _replay(
    first: list[MutableMapping[str, Any]],
    receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
) -> Callable[[], Awaitable[MutableMapping[str, Any]]]:
    pending = list(first)

    async def replayed() -> MutableMapping[str, Any]:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


def _cursor(record: RunRecord) -> str:
    return f"{(record.created_at - _EPOCH) // _MICRO}_{record.id}"


def _parse_cursor(text: str) -> tuple[datetime, str]:
    micros, sep, run_id = text.partition("_")
    if not sep or not re.fullmatch(r"[0-9]{1,17}", micros) or not run_id:
        raise ApiError(422, "invalid_request", "before must be a cursor from a previous page")
    return _EPOCH + int(micros) * _MICRO, run_id


class _Streams:
    """Open event streams, counted per caller and in all: a new one past a limit is 429."""

    def __init__(self, total: int, per_caller: int) -> None:
        self.total, self.per_caller = total, per_caller
        self.open_by: dict[str, int] = {}

    def open(self, caller: str) -> None:
        if sum(self.open_by.values()) >= self.total:
            raise ApiError(
                429,
                "too_many_streams",
                "too many event streams are open",
                headers={"Retry-After": "5"},
            )
        if self.open_by.get(caller, 0) >= self.per_caller:
            raise ApiError(
                429,
                "too_many_streams",
                f"this token has {self.per_caller} event streams open already",
                headers={"Retry-After": "5"},
            )
        self.open_by[caller] = self.open_by.get(caller, 0) + 1

    def counted(self, caller: str, body: AsyncIterator[bytes]) -> _Counted:
        return _Counted(self, caller, body)

    def close(self, caller: str) -> None:
        self.open_by[caller] -= 1
        if not self.open_by[caller]:
            del self.open_by[caller]


class _Counted:
    """A stream's body that gives its slot back when it ends, fails, is cancelled, or is
    dropped without ever being read (a client gone before the first byte)."""

    def __init__(self, streams: _Streams, caller: str, body: AsyncIterator[bytes]) -> None:
        self.streams, self.caller, self.body = streams, caller, body
        self.closed = False

    def __aiter__(self) -> _Counted:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self.body.__anext__()
        except BaseException:
            self._close()
            raise

    def _close(self) -> None:
        if not self.closed:
            self.closed = True
            self.streams.close(self.caller)

    def __del__(self) -> None:
        self._close()


def create_app(config: ServeConfig, settings: Settings) -> FastAPI:
    """The app; nothing starts until uvicorn runs its lifespan."""
    waiters = events.Waiters()
    streams = _Streams(config.max_streams, config.max_streams_per_token)
    replays = asyncio.Lock()
    secrets = [settings.api_key or "", *config.tokens]
    scrub = _scrubber(secrets)
    response_class = type("SafeJSONResponse", (SafeJSON,), {"scrub": staticmethod(scrub)})
    suites: dict[str, list[Task]] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from corrigo.storage.base import open_store
        from corrigo.tasks import load_tasks

        for name, selector in config.suites.items():
            try:
                suites[name] = await asyncio.to_thread(load_tasks, selector, home=settings.home)
            except CorrigoError as exc:
                raise ConfigError(f"suite {name!r} ({selector}): {exc}") from None
        async with AsyncExitStack() as stack:
            store = await stack.enter_async_context(open_store(settings.resolved_store_url))
            queue = await stack.enter_async_context(RunQueue(store, settings, config, waiters))
            app.state.store, app.state.queue = store, queue
            app.state.scrub = scrub  # the viewer's HTML pages blank the same secrets
            yield

    app = FastAPI(
        title="corrigo",
        version=_version(),
        summary="Self-correcting LLM workflows over HTTP: queue runs, follow them, replay them.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        default_response_class=response_class,
        responses={
            401: {"model": schemas.ErrorBody, "description": "No or wrong token"},
            422: {"model": schemas.ErrorBody, "description": "Invalid request"},
        },
    )
    app.state.config, app.state.settings = config, settings
    app.state.store = None

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        return _error(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(CorrigoError)
    async def corrigo_error(request: Request, exc: CorrigoError) -> Response:
        return _corrigo_error(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _error(422, "invalid_request", f"{where}: {first.get('msg')}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        codes = {404: "not_found", 405: "method_not_allowed"}
        return _error(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail))

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> Response:
        return _error(500, "internal", "internal server error")

    def queue_of(request: Request) -> RunQueue:
        queue: RunQueue = request.app.state.queue
        return queue

    # -- open: health ----------------------------------------------------------------

    @app.get("/v1/health", response_model=schemas.Health, tags=["service"])
    async def health(request: Request) -> Response:
        """Liveness, for load balancers and compose: needs no token."""
        store_state, status = "ok", "ok"
        try:
            await request.app.state.store.list_runs(limit=1)
        except Exception:
            store_state, status = "unavailable", "degraded"
        queue = getattr(request.app.state, "queue", None)
        body = schemas.Health(
            status=status,  # type: ignore[arg-type]
            version=_version(),
            store=store_state,
            workers=config.workers,
            running=queue.running if queue is not None else 0,
        )
        return SafeJSON(body.model_dump(), status_code=200 if status == "ok" else 503)

    # -- documentation (behind the token, like everything else) --------------------------

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(auth.require_caller)])
    async def openapi() -> Response:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=[Depends(auth.require_caller)])
    async def docs() -> HTMLResponse:
        from corrigo.serve import docs as offline_docs

        return HTMLResponse(offline_docs.render(app.openapi()))

    # -- the API -------------------------------------------------------------------------

    api = APIRouter(prefix="/v1", dependencies=[Depends(auth.require_caller)], tags=["runs"])

    @api.post("/runs", status_code=202, response_model=schemas.Submitted)
    async def submit(
        body: schemas.RunRequest, request: Request, caller: str = Depends(auth.require_caller)
    ) -> schemas.Submitted:
        """Queue one run per task: a configured suite (optionally sliced) or task records."""
        from corrigo.lifecycle.execute import run_specs
        from corrigo.storage.base import redact_url

        if isinstance(body.tasks, str):
            name, window, ids = schemas.parse_selector(body.tasks, config.suites)
            tasks = schemas.select(suites[name], name, window, ids)
        else:
            if len(body.tasks) > config.max_tasks:
                raise _too_many(len(body.tasks))
            tasks = schemas.inline_tasks(body.tasks)
        if len(tasks) > config.max_tasks:
            raise _too_many(len(tasks))
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
        records = await queue_of(request).submit(specs, caller)
        return schemas.Submitted(batch_id=specs[0].batch_id or "", run_ids=[r.id for r in records])

    def _too_many(count: int) -> ApiError:
        return ApiError(
            422,
            "too_many_tasks",
            f"{count} tasks in one request; this server takes at most {config.max_tasks}",
        )

    @api.get("/runs", response_model=schemas.RunPage)
    async def list_runs(
        request: Request,
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
        store = request.app.state.store
        fetch = limit + 1
        while True:
            found = await stored_runs(query=query.model_copy(update={"limit": fetch}), store=store)
            if bound is not None:
                kept = [r for r in found if (r.created_at, r.id) < bound]
            else:
                kept = found
            if len(kept) > limit or len(found) < fetch:
                break
            fetch *= 2
        page = kept[:limit]
        more = len(kept) > limit
        return schemas.RunPage(runs=page, next=_cursor(page[-1]) if more and page else None)

    @api.get("/runs/{run_id}", response_model=RunRecord)
    async def get_run(run_id: str, request: Request) -> RunRecord:
        """One run: its spec, status (``interrupted`` when its process is gone) and outcome."""
        from corrigo.liveness import shown

        return shown(await request.app.state.store.get_run(run_id))

    @api.get("/runs/{run_id}/steps", response_model=schemas.StepsOut)
    async def get_steps(
        run_id: str, request: Request, after: int = Query(0, ge=0)
    ) -> schemas.StepsOut:
        """The run's steps in order (with ``after``: only those after that seq)."""
        store = request.app.state.store
        record = await store.get_run(run_id)
        steps = [s for s in await store.get_steps(record.id) if s.seq > after]
        return schemas.StepsOut(run_id=record.id, steps=steps)

    @api.get(
        "/runs/{run_id}/events",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}, 204: {"description": "Done"}},
    )
    async def run_events(
        run_id: str,
        request: Request,
        caller: str = Depends(auth.require_caller),
        after: int | None = Query(None, ge=0, description="Like Last-Event-ID: steps after it"),
    ) -> Response:
        """Server-sent events: ``step`` (id: its seq) as each step is stored, then
        ``outcome`` (id: ``outcome``) and the end. Reconnect with ``Last-Event-ID``."""
        store = request.app.state.store
        record = await store.get_run(run_id)
        last = request.headers.get("last-event-id")
        if last is not None and last.strip() == events.OUTCOME_ID:
            return Response(status_code=204)
        start = after or 0
        if last is not None and last.strip():
            if not re.fullmatch(r"[0-9]{1,9}", last.strip()):
                raise ApiError(422, "invalid_request", "Last-Event-ID must be a step's seq")
            start = int(last.strip())
        streams.open(caller)
        body = events.stream(
            store,
            record.id,
            start,
            waiters=waiters,
            poll_seconds=config.poll_seconds,
            keepalive_seconds=config.keepalive_seconds,
            scrub=scrub,
        )
        return StreamingResponse(
            streams.counted(caller, body),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @api.post("/runs/{run_id}/cancel", response_model=RunRecord)
    async def cancel(
        run_id: str, request: Request, caller: str = Depends(auth.require_caller)
    ) -> RunRecord:
        """Cancel one of your queued runs, or one running in this server: it ends
        ``cancelled``. Runs submitted with another token, or not through this API, are
        not yours to cancel (403)."""
        record = await request.app.state.store.get_run(run_id)
        if not (record.spec.batch_id or "").startswith(f"{BATCH_PREFIX}{caller}_"):
            raise ApiError(403, "not_yours", f"run {record.id} was not submitted with this token")
        return await queue_of(request).cancel(record.id)

    @api.post("/runs/{run_id}/replay", response_model=schemas.ReplayOut)
    async def replay(
        run_id: str,
        request: Request,
        reverify: bool = Query(False, description="Run the candidates again in the sandbox"),
    ) -> schemas.ReplayOut:
        """Replay a finished run from its records: no model is called."""
        import corrigo

        stored = await corrigo.load_run(run_id, store=request.app.state.store, settings=settings)
        if stored.record.status != "finished":
            raise ApiError(409, "not_finished", f"run {stored.record.id} is {stored.record.status}")
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

    app.include_router(api)
    if importlib.util.find_spec("corrigo.serve.viewer") is not None:
        from corrigo.serve.viewer import router as viewer

        app.include_router(viewer)
    app.add_middleware(BodyLimit, limit=config.max_request_bytes)
    return app
