"""Settings: built once at the edge (CLI ``main`` or the API caller) and passed down.

Environment variables (all optional):

- ``CORRIGO_HOME``: data directory (default ``~/.local/share/corrigo``); holds the
  default SQLite store and pulled local models.
- ``CORRIGO_STORE``: a SQLAlchemy URL for the trajectory store.
- ``CORRIGO_MODEL``: the default model spec for every role.
- ``CORRIGO_SANDBOX``: the default sandbox backend (``process``).
- ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY``: for ``openai:`` models.

Model calls (see :mod:`corrigo.models`):

- ``CORRIGO_MODEL_RETRIES``: retries per call after the first attempt, on HTTP 429,
  5xx and connection failures (default 4; 0 disables). Other 4xx are never retried.
- ``CORRIGO_MODEL_DEADLINE``: seconds one call may take in total, retries and waits
  included (default 300). A server that drips bytes cannot hang a run past it.
- ``CORRIGO_MODEL_BACKOFF``: the first retry's wait in seconds (default 0.5); it
  doubles per retry up to 8 s, each wait drawn between half and all of that. A
  ``Retry-After`` header (on 429 or 5xx) is waited instead; a call whose next wait
  would end past its deadline fails at once rather than sleep through it.
- ``CORRIGO_MODEL_CONCURRENCY``: calls in flight at once per OpenAI-compatible model
  (default 8). A local model always runs one call at a time.
- ``CORRIGO_LOCAL_CACHE_MB``: RAM for a local model's prompt cache (default 512;
  0 turns it off). It keeps the evaluated state of recent prompts, so prompts that
  alternate (solver, reviewer, refiner) each resume from their own shared prefix.
- ``CORRIGO_REPLY_CACHE``: a file of cached replies to deterministic calls (greedy or
  seeded), shared by the runs that use it — a bench's strategies all make the same first
  call. Cached replies keep their original token counts and are flagged ``cached``.

Costs (see :mod:`corrigo.models.pricing`):

- ``CORRIGO_PRICES``: a TOML file of model prices (dollars per million tokens) laid over
  the shipped table; it must exist. Without it, ``prices.toml`` in the data directory is
  used when present.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from corrigo.errors import ConfigError

_N = TypeVar("_N", int, float)


def _default_home(env: Mapping[str, str]) -> Path:
    if env.get("CORRIGO_HOME"):
        return Path(env["CORRIGO_HOME"]).expanduser()
    base = env.get("XDG_DATA_HOME") or str(Path("~/.local/share").expanduser())
    return Path(base) / "corrigo"


def _number(env: Mapping[str, str], name: str, kind: Callable[[str], _N], default: _N) -> _N:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if value < 0:
        raise ConfigError(f"{name}={raw!r} must not be negative")
    return value


@dataclass(frozen=True)
class Settings:
    home: Path
    store_url: str | None = None
    model: str | None = None
    sandbox: str = "process"
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    model_retries: int = 4
    model_deadline: float = 300.0
    model_backoff: float = 0.5
    model_concurrency: int = 8
    local_cache_mb: int = 512
    reply_cache: Path | None = None
    prices: Path | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        concurrency = _number(env, "CORRIGO_MODEL_CONCURRENCY", int, 8)
        deadline = _number(env, "CORRIGO_MODEL_DEADLINE", float, 300.0)
        if concurrency < 1 or deadline <= 0:
            raise ConfigError(
                "CORRIGO_MODEL_CONCURRENCY must be at least 1 and CORRIGO_MODEL_DEADLINE above 0"
            )
        return cls(
            home=_default_home(env),
            store_url=env.get("CORRIGO_STORE") or None,
            model=env.get("CORRIGO_MODEL") or None,
            sandbox=env.get("CORRIGO_SANDBOX") or "process",
            base_url=env.get("OPENAI_BASE_URL") or None,
            api_key=env.get("OPENAI_API_KEY") or None,
            model_retries=_number(env, "CORRIGO_MODEL_RETRIES", int, 4),
            model_deadline=deadline,
            model_backoff=_number(env, "CORRIGO_MODEL_BACKOFF", float, 0.5),
            model_concurrency=concurrency,
            local_cache_mb=_number(env, "CORRIGO_LOCAL_CACHE_MB", int, 512),
            reply_cache=Path(env["CORRIGO_REPLY_CACHE"]).expanduser()
            if env.get("CORRIGO_REPLY_CACHE")
            else None,
            prices=Path(env["CORRIGO_PRICES"]).expanduser() if env.get("CORRIGO_PRICES") else None,
        )

    def to_env(self) -> dict[str, str]:
        """The environment variables :meth:`from_env` reads these settings back from
        (how a Ray actor gets the driver's settings, its secrets included)."""
        env = {
            "CORRIGO_HOME": str(self.home),
            "CORRIGO_SANDBOX": self.sandbox,
            "CORRIGO_MODEL_RETRIES": str(self.model_retries),
            "CORRIGO_MODEL_DEADLINE": repr(self.model_deadline),
            "CORRIGO_MODEL_BACKOFF": repr(self.model_backoff),
            "CORRIGO_MODEL_CONCURRENCY": str(self.model_concurrency),
            "CORRIGO_LOCAL_CACHE_MB": str(self.local_cache_mb),
        }
        optional = {
            "CORRIGO_STORE": self.store_url,
            "CORRIGO_MODEL": self.model,
            "OPENAI_BASE_URL": self.base_url,
            "OPENAI_API_KEY": self.api_key,
            "CORRIGO_REPLY_CACHE": str(self.reply_cache) if self.reply_cache else None,
            "CORRIGO_PRICES": str(self.prices) if self.prices else None,
        }
        env.update({k: v for k, v in optional.items() if v})
        return env

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with the given non-None fields replaced."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]

    @property
    def resolved_store_url(self) -> str:
        if self.store_url:
            return self.store_url
        return f"sqlite:///{self.home / 'corrigo.db'}"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def prices_file(self) -> Path:
        """The user's price table: ``CORRIGO_PRICES``, else ``prices.toml`` in the home."""
        return self.prices or self.home / "prices.toml"


def corrigo_version() -> str:
    """The installed corrigo's version, as specs, benches and the API record it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("corrigo")
    except PackageNotFoundError:
        return "0+unknown"
