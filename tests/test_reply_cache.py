"""The reply cache: deterministic calls are answered once, over real HTTP, and a cached
reply keeps its token counts and says it was cached."""

from __future__ import annotations

from pathlib import Path

import pytest

import corrigo
from corrigo.errors import ConfigError
from corrigo.models.cache import ReplyCache, request_key
from corrigo.records import Message
from tests.helpers import fenced
from tests.model_server import ServerState, model_server
from tests.test_story import BUGGY, CRITIQUE, FIXED


def _settings(tmp_path: Path, url: str, cache: Path) -> corrigo.Settings:
    return corrigo.Settings.from_env(
        {
            "CORRIGO_HOME": str(tmp_path / "home"),
            "OPENAI_BASE_URL": url,
            "OPENAI_API_KEY": "sk-test",
            "CORRIGO_REPLY_CACHE": str(cache),
        }
    )


async def test_second_strategy_reuses_the_first_call_and_keeps_its_tokens(tmp_path: Path) -> None:
    cache = tmp_path / "cache.jsonl"
    state = ServerState(replies=[fenced(BUGGY), CRITIQUE, fenced(FIXED)])
    with model_server(state) as url:
        settings = _settings(tmp_path, url, cache)
        [single] = await corrigo.run(
            "humaneval:HumanEval/12", strategy="single", model="openai:m", settings=settings
        )
        assert len(state.requests) == 1
        [refine] = await corrigo.run(
            "humaneval:HumanEval/12", strategy="refine", model="openai:m", settings=settings
        )
    # refine's first call is single's: answered from the cache; the other two reach the server.
    assert len(state.requests) == 3
    assert refine.stop_reason == "verified" and refine.first_round_hidden_passed is False
    assert refine.totals.model_calls == 3
    stored = await corrigo.load_run(refine.run_id, settings=settings)
    first = stored.steps[0]
    assert first.flags == ["cached"] and first.usage.latency_ms == 0.0
    assert first.usage.tokens_in == 111 and first.usage.tokens_out == 22
    assert single.totals.tokens_in == 111
    assert all("cached" not in s.flags for s in stored.steps[1:])


async def test_sampled_calls_without_a_seed_are_not_cached(tmp_path: Path) -> None:
    messages = [Message(role="user", content="hi")]
    assert request_key("m", messages, None, None, None) is not None
    assert request_key("m", messages, 0.8, 3, None) is not None
    assert request_key("m", messages, 0.8, None, None) is None
    assert request_key("m", messages, 0.8, 3, None) != request_key("m", messages, 0.8, 4, None)


def test_a_tampered_cache_file_fails_loudly(tmp_path: Path) -> None:
    path = tmp_path / "cache.jsonl"
    path.write_text('{"key": "k", "text": "x"}\n')
    with pytest.raises(ConfigError, match=r"cache.jsonl:1 is not a cached reply"):
        ReplyCache(path).get("k")
