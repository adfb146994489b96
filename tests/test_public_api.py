"""The public API: explicit, lazy, and free of import-time work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import corrigo
from tests.helpers import write_script


def test_all_names_resolve() -> None:
    for name in corrigo.__all__:
        assert getattr(corrigo, name) is not None, name
    assert sorted(corrigo.__all__) == corrigo.__all__
    assert set(dir(corrigo)) == set(corrigo.__all__)


def test_import_is_light_and_side_effect_free(tmp_path: Path) -> None:
    home = tmp_path / "never-created"
    code = (
        "import sys, corrigo\n"
        "heavy = [m for m in ('langgraph', 'langchain_core', 'sqlalchemy', 'llama_cpp', 'httpx')"
        " if m in sys.modules]\n"
        "print(heavy)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"CORRIGO_HOME": str(home), "PATH": "/usr/bin:/bin"},
    )
    assert done.stdout.strip() == "[]"
    assert not home.exists()


def test_run_sync_returns_outcomes(tmp_path: Path) -> None:
    # A body-only completion, as HumanEval's canonical answers are written.
    script = write_script(
        tmp_path / "s.yaml", {"replies": {"solver": ["```python\n    return len(string)\n```"]}}
    )
    settings = corrigo.Settings.from_env({"CORRIGO_HOME": str(tmp_path / "home")})
    [outcome] = corrigo.run_sync(
        "humaneval:HumanEval/23", strategy="refine", model=f"scripted:{script}", settings=settings
    )
    assert isinstance(outcome, corrigo.Outcome)
    assert outcome.hidden_passed is True
