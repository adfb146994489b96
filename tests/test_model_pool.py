"""One model on several OpenAI-compatible servers: ``openai:NAME(URL*N, URL*N)``, real HTTP."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from corrigo.config import Settings
from corrigo.errors import ConfigError
from corrigo.models import get_model
from corrigo.models.pool import ServerPool, priced_spec
from corrigo.records import Message
from tests.helpers import corrigo as corrigo_cli
from tests.model_server import ServerState, model_server

ASK = [Message(role="user", content="hi?")]


def _settings(tmp_path: Path) -> Settings:
    return Settings.from_env(
        {
            "CORRIGO_HOME": str(tmp_path / "home"),
            "OPENAI_API_KEY": "sk-pool-test",
            "CORRIGO_MODEL_RETRIES": "0",
            "CORRIGO_MODEL_BACKOFF": "0.01",
        }
    )


ARRIVED = threading.Semaphore(0)  # released once per request a held server takes


def _held(name: str) -> tuple[ServerState, threading.Event]:
    """A server whose replies (its own name) wait for ``release``."""
    release = threading.Event()

    def reply(_messages: list[dict[str, Any]]) -> str:
        ARRIVED.release()
        release.wait(600)
        return name

    return ServerState(reply_by=reply), release


async def test_calls_fill_each_server_to_its_slots(tmp_path: Path) -> None:
    (a, release_a), (b, release_b) = _held("a"), _held("b")
    with model_server(a) as url_a, model_server(b) as url_b:
        model = get_model(f"openai:fake({url_a}*1, {url_b}*3)", _settings(tmp_path))
        assert isinstance(model, ServerPool) and model.concurrency == 4
        calls = [
            asyncio.ensure_future(model.complete(ASK, role="solver", task_id=str(i)))
            for i in range(4)
        ]
        for _ in range(4):  # until all four are in a server
            assert await asyncio.to_thread(ARRIVED.acquire, True, 600), "a call never came"
        assert (a.in_flight, b.in_flight) == (1, 3)
        release_a.set()
        release_b.set()
        replies = sorted(r.text for r in await asyncio.gather(*calls))
        await model.aclose()
    assert replies == ["a", "b", "b", "b"]


async def test_a_failing_server_leaves_its_calls_to_the_others(tmp_path: Path) -> None:
    down = ServerState(fault="500")
    up = ServerState(replies=["from up"] * 3)
    with model_server(down) as url_down, model_server(up) as url_up:
        model = get_model(f"openai:fake({url_down}*8, {url_up}*1)", _settings(tmp_path))
        replies = [await model.complete(ASK, role="solver", task_id=str(i)) for i in range(3)]
        await model.aclose()
    assert [r.text for r in replies] == ["from up"] * 3
    assert len(down.requests) == 3 and len(up.requests) == 3  # each tried there first


def test_the_price_is_the_models_without_its_servers() -> None:
    assert priced_spec("openai:m(http://a:1/v1*2, http://b:1/v1)") == "openai:m"
    assert priced_spec("openai:m") == "openai:m"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("openai:m(ftp://a/v1)", "must be an http:// or https:// URL"),
        ("openai:m(http://a/v1*0)", "'*N' takes a whole number"),
        ("openai:m(http://a/v1, http://a/v1)", "lists a server twice"),
        ("openai:m()", "must be an http:// or https:// URL"),
    ],
)
def test_a_malformed_server_list_is_refused(tmp_path: Path, spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        get_model(spec, _settings(tmp_path))


def test_a_malformed_server_list_is_one_line_exit_2_on_the_command_line(tmp_path: Path) -> None:
    done = corrigo_cli(
        "run", "humaneval[:1]", "-s", "single", "-m", "openai:m(http://a/v1*x)",
        home=tmp_path / "home", env={"OPENAI_API_KEY": "sk-x"},
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: model server 'http://a/v1*x'")
    assert len(done.stderr.strip().splitlines()) == 1
