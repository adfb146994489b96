"""The API describing itself: ``/openapi.json`` and ``/docs``, an offline HTML page.

Neither is in the schema it serves. Both need a token like the rest of the API; the
app factory attaches that dependency when it mounts this router.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

router = APIRouter(include_in_schema=False)


@router.get("/openapi.json")
async def openapi(request: Request) -> Response:
    return JSONResponse(request.app.openapi())


@router.get("/docs")
async def docs(request: Request) -> HTMLResponse:
    from corrigo.serve import docs as offline_docs

    return HTMLResponse(offline_docs.render(request.app.openapi()))
