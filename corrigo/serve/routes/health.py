"""``GET /v1/health``: liveness and the store's state, the one route that needs no token."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from corrigo.config import corrigo_version
from corrigo.serve import schemas
from corrigo.serve.responses import SafeJSON
from corrigo.serve.routes.deps import ConfigDep

router = APIRouter(tags=["service"])


@router.get("/v1/health", response_model=schemas.Health)
async def health(request: Request, config: ConfigDep) -> Response:
    """Liveness, for load balancers and compose: needs no token."""
    store_state, status = "ok", "ok"
    try:
        await request.app.state.store.list_runs(limit=1)
    except Exception:
        store_state, status = "unavailable", "degraded"
    queue = getattr(request.app.state, "queue", None)
    body = schemas.Health(
        status=status,  # type: ignore[arg-type]
        version=corrigo_version(),
        store=store_state,
        workers=config.workers,
        running=queue.running if queue is not None else 0,
    )
    return SafeJSON(body.model_dump(), status_code=200 if status == "ok" else 503)
