"""JSON responses: the error body every failure shares, and secrets kept out of bodies.

An error is ``{"error": "...", "code": "..."}`` with its status. :func:`corrigo_error`
says which status and code each :class:`~corrigo.errors.CorrigoError` gets. The app
factory and the routes both answer through here, so an error reads the same wherever
it is raised.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi.responses import JSONResponse, Response

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


def scrubber(secrets: list[str]) -> Callable[[str], str]:
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


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return SafeJSON({"error": message, "code": code}, status_code=status, headers=headers)


_USAGE_CODES: list[tuple[type[CorrigoError], str]] = [
    (TaskNotFound, "unknown_task"),
    (TaskFormatError, "invalid_task"),
    (UnknownStrategy, "unknown_strategy"),
    (ConfigError, "invalid_request"),
]


def corrigo_error(exc: CorrigoError) -> Response:
    """A corrigo error as an answer: 404 for a missing run, 422 for a bad request, 503
    when the store is down, 500 for anything else."""
    if isinstance(exc, RunNotFound):
        return error(404, "not_found", str(exc))
    if isinstance(exc, UsageError):
        code = next((c for t, c in _USAGE_CODES if isinstance(exc, t)), "invalid_request")
        return error(422, code, str(exc))
    if isinstance(exc, StoreUnavailable):
        return error(503, "store_unavailable", "the store is unavailable")
    return error(500, "internal", f"{type(exc).__name__}: {exc}")
