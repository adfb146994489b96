"""Health checks shared by ``corrigo doctor`` and services that want a readiness probe."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from corrigo.config import Settings
from corrigo.errors import CorrigoError
from corrigo.records import Limits, TestCase


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


async def _store(settings: Settings) -> Check:
    from corrigo.liveness import shown
    from corrigo.records import RunQuery
    from corrigo.storage.factory import open_store, redact_url

    url = settings.resolved_store_url
    try:
        async with open_store(url) as store:
            runs = await store.list_runs(limit=1000)
            running = await store.list_runs(query=RunQuery(status="running", limit=100_000))
    except CorrigoError as exc:
        return Check("store", False, str(exc))
    interrupted = sum(1 for r in running if shown(r).status == "interrupted")
    detail = f"{redact_url(url)} ({len(runs)} recent runs)"
    if interrupted:
        detail += f"; {interrupted} interrupted (corrigo resume --all continues them)"
    return Check("store", True, detail)


async def _sandbox(settings: Settings) -> Check:
    from corrigo.sandbox.base import get_sandbox

    try:
        async with get_sandbox(settings.sandbox) as box:
            result = await box.run_tests(
                "def f():\n    return 1\n",
                [TestCase(name="smoke", code="assert f() == 1")],
                Limits(),
            )
    except CorrigoError as exc:
        return Check("sandbox", False, str(exc))
    ok = result.status == "passed"
    detail = f"{settings.sandbox}: smoke test {result.status} in {result.wall_ms:.0f} ms"
    if settings.sandbox == "docker":
        from corrigo.sandbox.docker import check_engine

        detail += "; " + await asyncio.to_thread(check_engine)
    return Check("sandbox", ok, detail)


async def _models(settings: Settings, model: str | None) -> list[Check]:
    from corrigo.models import build_models, check_models, resolve_specs
    from corrigo.models.local import CATALOGUE, llama_available, model_path

    installed = [n for n in CATALOGUE if model_path(n, settings).exists()]
    local = Check(
        "local",
        True,
        f"llama-cpp-python {'installed' if llama_available() else 'not installed'}; "
        f"models pulled: {', '.join(installed) or 'none'}",
    )
    try:
        specs = resolve_specs(model, None, settings)
        models = build_models(specs, settings)
        await check_models(models)
    except CorrigoError as exc:
        return [local, Check("model", False, str(exc))]
    return [local, Check("model", True, ", ".join(sorted(set(specs.values()))) + " reachable")]


def _suites(settings: Settings) -> Check:
    """Pulled suites, and whether instruction suites can be checked here."""
    import importlib.util

    from corrigo.tasks.suites import nltk_data_dir, status

    pulled = [row for row in status(settings.home) if row.pulled]
    names = ", ".join(f"{row.suite.name} ({row.tasks})" for row in pulled) or "none pulled"
    needs_checkers = any(row.suite.kind == "instructions" for row in pulled)
    if not needs_checkers:
        return Check("suites", True, names)
    if importlib.util.find_spec("if_verifiable") is None:
        return Check(
            "suites",
            False,
            f"{names}; instruction checkers missing: pip install 'corrigo[instructions]'",
        )
    if nltk_data_dir(settings.home) is None:
        return Check("suites", False, f"{names}; NLTK data missing: corrigo suites pull ifeval")
    return Check("suites", True, f"{names}; instruction checkers and NLTK data present")


async def run_checks(settings: Settings, model: str | None = None) -> list[Check]:
    config = Check("config", True, f"home {settings.home}; sandbox {settings.sandbox}")
    return [
        config,
        await _store(settings),
        await _sandbox(settings),
        *await _models(settings, model),
        _suites(settings),
    ]
