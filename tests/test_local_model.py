"""A task through a real GGUF model in process (llama-cpp-python), and `models pull`."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import corrigo
from corrigo.config import Settings
from corrigo.local_models import CATALOGUE, pull
from tests.helpers import corrigo as corrigo_cli

pytestmark = pytest.mark.local_model


def test_pull_joins_chunks_and_checks_sha256(settings: Settings) -> None:
    path = pull("gemma3-270m", settings)
    assert path == settings.models_dir / "gemma-3-270m-q4_k_m.gguf"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == CATALOGUE["gemma3-270m"].sha256
    assert path.read_bytes()[:4] == b"GGUF"
    assert not list(settings.models_dir.glob("*.partial"))


async def test_one_task_through_the_local_model(settings: Settings) -> None:
    pull("gemma3-270m", settings)
    [outcome] = await corrigo.run(
        "humaneval:HumanEval/0", model="local:gemma3-270m", settings=settings, max_rounds=1
    )
    assert outcome.stop_reason in ("verified", "budget_exhausted")
    assert outcome.totals.model_calls == 1
    stored = await corrigo.load_run(outcome.run_id, settings=settings)
    solver = stored.steps[0]
    assert solver.role == "solver" and solver.model == "local:gemma3-270m"
    assert solver.error is None
    assert solver.usage.tokens_in > 50 and solver.usage.tokens_out > 0
    assert solver.output is not None and solver.output.strip()
    assert stored.steps[1].role == "verifier"


def test_models_list_and_missing_model(tmp_path: Path) -> None:
    home = tmp_path / "home"
    listed = corrigo_cli("models", "list", home=home)
    assert listed.returncode == 0
    assert "qwen2.5-coder-1.5b (default)" in listed.stdout and "gemma3-270m" in listed.stdout
    missing = corrigo_cli("run", "humaneval[:1]", "--model", "local:qwen2.5-coder-1.5b", home=home)
    assert missing.returncode == 2
    assert "corrigo models pull qwen2.5-coder-1.5b" in missing.stderr
