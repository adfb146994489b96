"""The web viewer: server-rendered HTML pages over the stored runs and benches.

- ``/``: the runs, newest first, filtered by status, task, strategy, model (or batch);
  first round against final on visible and hidden tests, flips, tokens, calls, seconds.
- ``/runs/{id}``: the rounds side by side: each candidate with a diff against the one it
  revised, each verification with its tests and feedback, critiques and reflections,
  tokens and seconds per model call, the outcome. Math and instructions runs show the
  answer and its check instead (see :mod:`corrigo.serve.run_view`). A run in progress follows the API's
  event stream (``static/live.js``) and redraws ``/runs/{id}/live`` as steps arrive.
- ``/benches`` and ``/benches/{id}``: the bench report table and its pass-vs-tokens plot.
- ``/login``: a form that stores the API token in an HttpOnly cookie.

Everything the pages show is data from the store; Jinja2 autoescapes all of it
(candidate code and model output are hostile), and a strict Content-Security-Policy
allows only this server's own script and style files. No CDN, no build step.
"""

from __future__ import annotations

import asyncio
import functools
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, quote, urlsplit

import jinja2
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from corrigo.errors import CorrigoError, RunNotFound
from corrigo.records import Outcome, RunQuery, RunRecord, RunStatus
from corrigo.serve.auth import COOKIE, is_authenticated, token_accepted
from corrigo.serve.run_view import build_rounds

router = APIRouter(include_in_schema=False)

HERE = Path(__file__).parent
STATIC = {"viewer.css": "text/css; charset=utf-8", "live.js": "text/javascript; charset=utf-8"}
STATUSES: tuple[RunStatus, ...] = ("queued", "running", "finished", "interrupted")
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # no-referrer would make form posts send Origin: null
    "Cache-Control": "no-store",
}


@functools.cache
def templates() -> jinja2.Environment:
    from corrigo.bench.render import model_label
    from corrigo.models.pricing import dollars

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, trim_blocks=True
    )
    env.globals["static"] = lambda name: f"/static/{name}"
    env.filters["model_label"] = model_label
    env.filters["dollars"] = dollars
    return env


# --- where the data comes from, and how pages are made ----------------------------------


def _source(request: Request) -> dict[str, Any]:
    """The ``store`` and ``settings`` keywords of the public API, from the app's state."""
    state = request.app.state
    return {"store": getattr(state, "store", None), "settings": getattr(state, "settings", None)}


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this server, never another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _to_login(request: Request) -> RedirectResponse:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(here, safe='')}", status_code=303)


def _page(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    html = templates().get_template(name).render({"signed_in": True, **context})
    scrub = getattr(request.app.state, "scrub", None)  # the server's secrets, blanked out
    if scrub is not None:
        html = scrub(html)
    return HTMLResponse(html, status_code=status_code, headers=HEADERS)


def _not_found(request: Request, what: str) -> Response:
    return _page(request, "error.html", {"heading": "Not found", "message": what}, 404)


# --- static files and sign-in ------------------------------------------------------------


@router.get("/static/{name}")
async def static_file(name: str) -> Response:
    if name not in STATIC:  # a fixed list: nothing else under this package is served
        return Response("not found", status_code=404, media_type="text/plain")
    return FileResponse(HERE / "static" / name, media_type=STATIC[name], headers=HEADERS)


@router.get("/login")
async def login_form(request: Request, next: str = "/") -> Response:
    context = {"signed_in": False, "next": _safe_next(next), "error": None}
    return _page(request, "login.html", context)


@router.post("/login")
async def login(request: Request) -> Response:
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.headers.get("host"):
        return Response("sign in from this server's own page", status_code=403)
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    token = (form.get("token") or [""])[0].strip()
    target = _safe_next((form.get("next") or ["/"])[0])
    if not token or not await token_accepted(request, token):
        context = {"signed_in": False, "next": target, "error": "That token is not accepted."}
        return _page(request, "login.html", context, 401)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="strict",
        path="/",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
async def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


# --- the runs list -----------------------------------------------------------------------

Flip = Literal["fixed", "broken"] | None


def flip_of(outcome: Outcome | None) -> Flip:
    """First round against final, on hidden tests (visible ones when a task has none)."""
    if outcome is None:
        return None
    first, final = outcome.first_round_hidden_passed, outcome.hidden_passed
    if first is None or final is None:
        first, final = outcome.first_round_passed, outcome.visible_passed
    if first is False and final:
        return "fixed"
    if first and final is False:
        return "broken"
    return None


@dataclass(frozen=True)
class RunRow:
    record: RunRecord
    models: str
    flip: Flip


@router.get("/")
async def runs_page(
    request: Request,
    status: str = "",
    task: str = "",
    strategy: str = "",
    model: str = "",
    batch: str = "",
    limit: int = 100,
) -> Response:
    if not await is_authenticated(request):
        return _to_login(request)
    import corrigo
    from corrigo.bench.render import model_label

    query = RunQuery(
        limit=min(max(limit, 1), 1000),
        status=next((s for s in STATUSES if s == status), None),
        task_id=task.strip() or None,
        strategy=strategy.strip() or None,
        model=model.strip() or None,
        batch_id=batch.strip() or None,
    )
    filters = {
        "status": query.status or "",
        "task": query.task_id or "",
        "strategy": query.strategy or "",
        "model": query.model or "",
        "batch": query.batch_id or "",
        "limit": query.limit,
    }
    records = await corrigo.list_runs(query=query, **_source(request))
    rows = [
        RunRow(
            r,
            ", ".join(sorted({model_label(m) for m in r.spec.roles.values()})),
            flip_of(r.outcome),
        )
        for r in records
    ]
    done = [r.record.outcome for r in rows if r.record.outcome is not None]
    totals = {
        "n": len(done),
        "first": sum(1 for o in done if o.first_round_hidden_passed),
        "final": sum(1 for o in done if o.hidden_passed),
        "fixed": sum(1 for r in rows if r.flip == "fixed"),
        "broken": sum(1 for r in rows if r.flip == "broken"),
    }
    context = {"rows": rows, "filters": filters, "statuses": STATUSES, "totals": totals}
    return _page(request, "runs.html", context)


# --- one run -----------------------------------------------------------------------------


async def _run_context(request: Request, run_id: str) -> dict[str, Any] | None:
    import corrigo
    from corrigo.lifecycle.stored import forks_of

    try:
        stored = await corrigo.load_run(run_id, **_source(request))
    except RunNotFound:
        return None
    record = stored.record
    kind = record.spec.task.kind
    rounds, scoring = build_rounds(stored.steps, kind)
    models: dict[str, list[str]] = {}
    for role, model in record.spec.roles.items():
        models.setdefault(model, []).append(role)
    return {
        "record": record,
        "models": list(models.items()),
        "rounds": rounds,
        "scoring": scoring,
        "steps_count": len(stored.steps),
        "flip_kind": flip_of(record.outcome),
        "kind": kind,
        "live": record.status in ("queued", "running"),
        "params": json.dumps(record.spec.params, sort_keys=True, default=str),
        "forks": await forks_of(record, **_source(request)),
    }


@router.get("/runs/{run_id}")
async def run_page(request: Request, run_id: str) -> Response:
    if not await is_authenticated(request):
        return _to_login(request)
    context = await _run_context(request, run_id)
    if context is None:
        return _not_found(request, f"No stored run {run_id!r}.")
    return _page(request, "run.html", context)


@router.get("/runs/{run_id}/live")
async def run_live_section(request: Request, run_id: str) -> Response:
    """The part of the run page that changes while it runs (fetched by live.js)."""
    if not await is_authenticated(request):
        return Response("sign in first", status_code=401, media_type="text/plain")
    context = await _run_context(request, run_id)
    if context is None:
        return Response("no such run", status_code=404, media_type="text/plain")
    return _page(request, "_run_live.html", context)


# --- benches -----------------------------------------------------------------------------


@router.get("/benches")
async def benches_page(request: Request) -> Response:
    if not await is_authenticated(request):
        return _to_login(request)
    from corrigo.bench import list_benches

    benches = await list_benches(limit=200, **_source(request))
    return _page(request, "benches.html", {"benches": benches})


@router.get("/benches/{bench_id}")
async def bench_page(request: Request, bench_id: str) -> Response:
    if not await is_authenticated(request):
        return _to_login(request)
    import corrigo
    from corrigo.bench.render import kinds_note, table

    try:
        report = await corrigo.bench_report(bench_id, **_source(request))
    except RunNotFound:
        return _not_found(request, f"No stored bench {bench_id!r}.")
    spec = report.bench
    columns, cells = table(report)
    context = {
        "spec": spec,
        "columns": columns,
        "rows": [
            {"cells": row, "batch": cell.batch_id}
            for row, cell in zip(cells, report.cells, strict=True)
        ],
        "kinds": kinds_note(report),
        "loose": "loose" in columns,
        "tasks": len(report.task_ids) if report.task_ids is not None else None,
        "complete": report.complete,
        "params": json.dumps(spec.params, sort_keys=True) if spec.params else "",
    }
    return _page(request, "bench.html", context)


@router.get("/benches/{bench_id}/plot.png")
async def bench_plot(request: Request, bench_id: str) -> Response:
    if not await is_authenticated(request):
        return Response("sign in first", status_code=401, media_type="text/plain")
    import corrigo

    try:
        report = await corrigo.bench_report(bench_id, **_source(request))
    except CorrigoError:
        return Response("no such bench", status_code=404, media_type="text/plain")
    png = await asyncio.to_thread(_plot_png, report)
    return Response(png, media_type="image/png", headers=HEADERS)


def _plot_png(report: Any) -> bytes:
    from corrigo.bench.plot import plot_pass_vs_tokens

    with tempfile.TemporaryDirectory(prefix="corrigo-plot-") as tmp:
        return plot_pass_vs_tokens(report, Path(tmp) / "plot.png").read_bytes()
