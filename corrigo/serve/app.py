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
(:mod:`corrigo.serve.queue`). The routes live in :mod:`corrigo.serve.routes`, one
router per resource; this module builds the app, mounts them, and says which need a
token. The web viewer's pages are included when :mod:`corrigo.serve.viewer` is present.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from corrigo.config import Settings, corrigo_version
from corrigo.errors import ConfigError, CorrigoError
from corrigo.records import Task
from corrigo.serve import auth, events, schemas
from corrigo.serve.config import ServeConfig
from corrigo.serve.queue import RunQueue
from corrigo.serve.responses import SafeJSON, corrigo_error, error, scrubber
from corrigo.serve.routes import health, meta, runs
from corrigo.serve.routes.streams import Streams
from corrigo.serve.schemas import ApiError


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
        response = error(
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


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load the configured suites, open the store, start the queue; undo it all at the end."""
    from corrigo.storage.factory import open_store
    from corrigo.tasks import load_tasks

    config: ServeConfig = app.state.config
    settings: Settings = app.state.settings
    suites: dict[str, list[Task]] = app.state.suites
    for name, selector in config.suites.items():
        try:
            suites[name] = await asyncio.to_thread(load_tasks, selector, home=settings.home)
        except CorrigoError as exc:
            raise ConfigError(f"suite {name!r} ({selector}): {exc}") from None
    async with AsyncExitStack() as stack:
        store = await stack.enter_async_context(open_store(settings.resolved_store_url))
        queue = await stack.enter_async_context(
            RunQueue(store, settings, config, app.state.waiters)
        )
        app.state.store, app.state.queue = store, queue
        yield


def create_app(config: ServeConfig, settings: Settings) -> FastAPI:
    """The app; nothing starts until uvicorn runs its lifespan."""
    scrub = scrubber([settings.api_key or "", *config.tokens])
    response_class = type("SafeJSONResponse", (SafeJSON,), {"scrub": staticmethod(scrub)})
    app = FastAPI(
        title="corrigo",
        version=corrigo_version(),
        summary="Self-correcting LLM workflows over HTTP: queue runs, follow them, replay them.",
        lifespan=_lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        default_response_class=response_class,
        responses={
            401: {"model": schemas.ErrorBody, "description": "No or wrong token"},
            422: {"model": schemas.ErrorBody, "description": "Invalid request"},
        },
    )
    # What the routes share (see corrigo.serve.routes.deps); the lifespan adds the
    # opened store and the running queue.
    state = app.state
    state.config, state.settings = config, settings
    state.store = None
    state.scrub = scrub  # the viewer's HTML pages and the event stream blank the same secrets
    state.suites = {}  # name -> tasks, loaded by the lifespan
    state.waiters = events.Waiters()
    state.streams = Streams(config.max_streams, config.max_streams_per_token)
    state.replays = asyncio.Lock()
    _handle_errors(app)

    token = [Depends(auth.require_caller)]
    app.include_router(health.router)  # the one route open to all
    app.include_router(meta.router, dependencies=token)
    app.include_router(runs.router, prefix="/v1", dependencies=token)
    if importlib.util.find_spec("corrigo.serve.viewer") is not None:
        from corrigo.serve.viewer import router as viewer

        app.include_router(viewer)  # its pages check the token (header or cookie) themselves
    app.add_middleware(BodyLimit, limit=config.max_request_bytes)
    return app


def _handle_errors(app: FastAPI) -> None:
    """Every failure answers ``{"error", "code"}``, never a traceback or a secret."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        return error(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(CorrigoError)
    async def from_corrigo(request: Request, exc: CorrigoError) -> Response:
        return corrigo_error(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error(422, "invalid_request", f"{where}: {first.get('msg')}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        codes = {404: "not_found", 405: "method_not_allowed"}
        return error(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail))

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> Response:
        return error(500, "internal", "internal server error")
