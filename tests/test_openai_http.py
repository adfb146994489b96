"""openai: models over real HTTP to an OpenAI-compatible server, including its faults."""

from __future__ import annotations

from pathlib import Path

import pytest

import corrigo
from corrigo.config import Settings
from tests.helpers import fenced, write_script
from tests.model_server import ServerState, model_server
from tests.test_story import BUGGY, CRITIQUE, FIXED

SECRET = "sk-test-do-not-store-4242"


def _settings(tmp_path: Path, url: str) -> Settings:
    return Settings.from_env(
        {
            "CORRIGO_HOME": str(tmp_path / "home"),
            "OPENAI_BASE_URL": url,
            "OPENAI_API_KEY": SECRET,
            "CORRIGO_MODEL_BACKOFF": "0.01",  # 500s are retried; keep the waits short
        }
    )


async def test_story_over_http_records_usage_and_keeps_the_key_out(tmp_path: Path) -> None:
    state = ServerState(replies=[fenced(BUGGY), CRITIQUE, fenced(FIXED)])
    with model_server(state) as url:
        settings = _settings(tmp_path, url)
        [outcome] = await corrigo.run(
            "humaneval:HumanEval/12",
            strategy="refine",
            model="openai:fake-coder",
            settings=settings,
        )
    assert outcome.stop_reason == "verified"
    assert outcome.first_round_passed is False and outcome.hidden_passed is True
    assert outcome.totals.model_calls == 3
    assert outcome.totals.tokens_in == 333 and outcome.totals.tokens_out == 66
    assert len(state.requests) == 3
    assert [m["role"] for m in state.requests[0]["messages"]] == ["system", "user"]
    assert state.requests[0]["model"] == "fake-coder"
    assert state.requests[0]["temperature"] == 0.0
    headers = {k.lower(): v for k, v in state.headers[0].items()}
    assert headers["authorization"] == f"Bearer {SECRET}"
    stored = await corrigo.load_run(outcome.run_id, settings=settings)
    assert stored.steps[0].usage.tokens_in == 111
    assert stored.steps[0].usage.latency_ms > 0
    database = (tmp_path / "home" / "corrigo.db").read_bytes()
    assert SECRET.encode() not in database


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("http500", "answered HTTP 500"),
        ("garbage", "bad response from model server"),
        ("empty_choices", "bad response from model server"),
    ],
)
async def test_model_faults_stop_the_run_with_error(
    tmp_path: Path, fault: str, message: str
) -> None:
    state = ServerState(fault=fault)
    with model_server(state) as url:
        settings = _settings(tmp_path, url)
        [outcome] = await corrigo.run(
            "humaneval:HumanEval/12", strategy="refine", model="openai:fake", settings=settings
        )
    assert outcome.stop_reason == "error"
    assert outcome.error is not None and message in outcome.error
    assert "\n" not in outcome.error
    stored = await corrigo.load_run(outcome.run_id, settings=settings)
    assert stored.record.status == "finished"
    assert stored.steps[0].error is not None and message in stored.steps[0].error


async def test_reviewer_override_uses_another_model(tmp_path: Path) -> None:
    state = ServerState(replies=[CRITIQUE])
    script = write_script(
        tmp_path / "s.yaml", {"replies": {"solver": [fenced(BUGGY)], "refiner": [fenced(FIXED)]}}
    )
    with model_server(state) as url:
        settings = _settings(tmp_path, url)
        [outcome] = await corrigo.run(
            "humaneval:HumanEval/12",
            strategy="refine",
            model=f"scripted:{script}",
            roles={"reviewer": "openai:critic"},
            settings=settings,
        )
    assert outcome.stop_reason == "verified"
    assert len(state.requests) == 1 and state.requests[0]["model"] == "critic"
    stored = await corrigo.load_run(outcome.run_id, settings=settings)
    assert stored.record.spec.roles["reviewer"] == "openai:critic"
    assert [s.model for s in stored.steps if s.role == "reviewer"] == ["openai:critic"]
