"""Settings: built once at the edge (CLI ``main`` or the API caller) and passed down.

Environment variables (all optional):

- ``CORRIGO_HOME``: data directory (default ``~/.local/share/corrigo``); holds the
  default SQLite store and pulled local models.
- ``CORRIGO_STORE``: a SQLAlchemy URL for the trajectory store.
- ``CORRIGO_MODEL``: the default model spec for every role.
- ``CORRIGO_SANDBOX``: the default sandbox backend (``process``).
- ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY``: for ``openai:`` models.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path


def _default_home(env: Mapping[str, str]) -> Path:
    if env.get("CORRIGO_HOME"):
        return Path(env["CORRIGO_HOME"]).expanduser()
    base = env.get("XDG_DATA_HOME") or str(Path("~/.local/share").expanduser())
    return Path(base) / "corrigo"


@dataclass(frozen=True)
class Settings:
    home: Path
    store_url: str | None = None
    model: str | None = None
    sandbox: str = "process"
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            home=_default_home(env),
            store_url=env.get("CORRIGO_STORE") or None,
            model=env.get("CORRIGO_MODEL") or None,
            sandbox=env.get("CORRIGO_SANDBOX") or "process",
            base_url=env.get("OPENAI_BASE_URL") or None,
            api_key=env.get("OPENAI_API_KEY") or None,
        )

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
