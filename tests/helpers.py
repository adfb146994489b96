"""Helpers for tests: running the CLI in a subprocess, writing model scripts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml


def corrigo(
    *args: str, home: Path, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run the real ``corrigo`` command line in a subprocess."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CORRIGO_"))}
    full_env.update({"CORRIGO_HOME": str(home), "COLUMNS": "200"})
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "corrigo", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )


def write_script(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(
        yaml.safe_dump(data, sort_keys=False) if path.suffix != ".json" else json.dumps(data)
    )
    return path


def fenced(code: str) -> str:
    return f"```python\n{code.strip()}\n```"
