"""The server's configuration: who may call it, what a request may name, and its limits.

Environment variables (read by :meth:`ServeConfig.from_env`, at start-up only):

- ``CORRIGO_API_TOKENS``: bearer tokens, comma-separated, each at least 16 characters.
  Without one the server refuses to start (unless ``--insecure-no-auth`` on loopback).
- ``CORRIGO_SERVE_SUITES``: the task suites a request may select from,
  ``name=selector;name=selector`` (default ``humaneval=humaneval``). The selectors are
  the server's own, so they may name files (``mine=jsonl:/srv/tasks.jsonl``); a request
  only names a suite, optionally with a slice or task ids.
- ``CORRIGO_SERVE_MODELS``: the models a request may name, ``name=spec;name=spec``
  (default ``default=`` the ``CORRIGO_MODEL`` spec). The first is used when a request
  names none. Base URLs and API keys stay in the server's settings.
- ``CORRIGO_SERVE_MAX_REQUEST_BYTES`` (default 262144), ``CORRIGO_SERVE_MAX_TASKS`` per
  request (50), ``CORRIGO_SERVE_MAX_RUNS_PER_TOKEN`` queued or running at once (200),
  ``CORRIGO_SERVE_QUEUE``: queued runs at most, over all tokens (1000),
  ``CORRIGO_SERVE_WORKERS``: runs executing at once (2; with Ray, per actor).
- ``CORRIGO_SERVE_EXECUTOR``: ``local`` (runs execute in the server's process, the
  default) or ``ray`` (Ray actors execute them; the server only serves), with
  ``RAY_ADDRESS`` (default ``auto``) and ``CORRIGO_SERVE_RAY_ACTORS`` (2).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from corrigo.config import Settings
from corrigo.errors import ConfigError
from corrigo.records import Budgets

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MIN_TOKEN_LENGTH = 16

#: The most a request may ask for; its own budgets default to corrigo's defaults.
CAPS = Budgets(
    max_rounds=10,
    max_model_calls=200,
    max_tokens=2_000_000,
    max_seconds=3600.0,
    max_sandbox_seconds=600.0,
)


def _named(raw: str, variable: str) -> dict[str, str]:
    """``name=value;name=value`` as a dict, in order; names are plain words."""
    entries: dict[str, str] = {}
    for part in raw.split(";"):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not value:
            raise ConfigError(f"{variable}: {part.strip()!r} must look like name=value")
        if not NAME.match(name):
            raise ConfigError(f"{variable}: name {name!r} must be letters, digits, '_', '-' or '.'")
        if name in entries:
            raise ConfigError(f"{variable}: name {name!r} is given twice")
        entries[name] = value
    return entries


def _count(env: Mapping[str, str], name: str, default: int, least: int = 1) -> int:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if value < least:
        raise ConfigError(f"{name}={raw!r} must be at least {least}")
    return value


@dataclass(frozen=True)
class ServeConfig:
    tokens: tuple[str, ...] = field(default=(), repr=False)
    suites: Mapping[str, str] = field(default_factory=lambda: {"humaneval": "humaneval"})
    models: Mapping[str, str] = field(default_factory=dict)
    max_request_bytes: int = 256 * 1024
    max_tasks: int = 50
    max_runs_per_token: int = 200
    queue_bound: int = 1000
    workers: int = 2
    #: Event streams open at once, in all and per token (past either: 429).
    max_streams: int = 500
    max_streams_per_token: int = 200
    caps: Budgets = CAPS
    #: Serve without tokens (only allowed on a loopback address; see corrigo.cli.serve).
    insecure_no_auth: bool = False
    #: How often an event stream looks for new steps when nothing woke it, and how long
    #: it stays silent before a keep-alive comment.
    poll_seconds: float = 0.1
    keepalive_seconds: float = 15.0
    #: Where queued runs execute: "local" or "ray" (``ray_actors`` actors at
    #: ``ray_address``, ``workers`` runs each).
    executor: str = "local"
    ray_address: str | None = None
    ray_actors: int = 2

    @classmethod
    def from_env(
        cls, settings: Settings, env: Mapping[str, str] | None = None, **overrides: object
    ) -> ServeConfig:
        env = os.environ if env is None else env
        tokens = tuple(t.strip() for t in env.get("CORRIGO_API_TOKENS", "").split(",") if t.strip())
        short = [t for t in tokens if len(t) < MIN_TOKEN_LENGTH]
        if short:
            raise ConfigError(
                f"CORRIGO_API_TOKENS: every token must be at least {MIN_TOKEN_LENGTH} "
                "characters (make one with: python3 -c 'import secrets; "
                "print(secrets.token_urlsafe(32))')"
            )
        suites = _named(env.get("CORRIGO_SERVE_SUITES", ""), "CORRIGO_SERVE_SUITES")
        models = _named(env.get("CORRIGO_SERVE_MODELS", ""), "CORRIGO_SERVE_MODELS")
        if not models:
            models = {"default": _default_model(settings)}
        config = cls(
            tokens=tokens,
            suites=suites or {"humaneval": "humaneval"},
            models=models,
            max_request_bytes=_count(env, "CORRIGO_SERVE_MAX_REQUEST_BYTES", 256 * 1024, 1024),
            max_tasks=_count(env, "CORRIGO_SERVE_MAX_TASKS", 50),
            max_runs_per_token=_count(env, "CORRIGO_SERVE_MAX_RUNS_PER_TOKEN", 200),
            queue_bound=_count(env, "CORRIGO_SERVE_QUEUE", 1000),
            workers=_count(env, "CORRIGO_SERVE_WORKERS", 2),
            max_streams=_count(env, "CORRIGO_SERVE_MAX_STREAMS", 500),
            max_streams_per_token=_count(env, "CORRIGO_SERVE_MAX_STREAMS_PER_TOKEN", 200),
            executor=env.get("CORRIGO_SERVE_EXECUTOR") or "local",
            ray_address=env.get("RAY_ADDRESS") or None,
            ray_actors=_count(env, "CORRIGO_SERVE_RAY_ACTORS", 2),
        )
        changes = {k: v for k, v in overrides.items() if v is not None}
        if changes:
            from dataclasses import replace

            config = replace(config, **changes)  # type: ignore[arg-type]
        if config.executor not in ("local", "ray"):
            raise ConfigError(f"executor {config.executor!r}: choose local or ray")
        return config

    @property
    def default_model(self) -> str:
        return next(iter(self.models))


def _default_model(settings: Settings) -> str:
    if settings.model:
        return settings.model
    from corrigo.models.local import default_local_spec

    try:
        return default_local_spec(settings)
    except ConfigError:
        raise ConfigError(
            "corrigo serve has no model: set CORRIGO_SERVE_MODELS (name=spec;...) or CORRIGO_MODEL"
        ) from None
