"""Model calls against a faulty OpenAI-compatible server on loopback: retries, deadlines,
what a reply can be, and the concurrency bound — driven through real HTTP."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from typing import Any

import pytest

import corrigo
from corrigo.config import Settings
from corrigo.errors import ModelCallFailed
from corrigo.models import close_models, get_model, resolve_specs
from corrigo.models.base import looks_like_refusal
from corrigo.models.openai import OpenAIModel
from corrigo.records import Message
from tests.helpers import fenced, write_script
from tests.model_server import ServerState, model_server
from tests.test_story import BUGGY, CRITIQUE, FIXED

SECRET = "sk-test-faults-9876"
ASK = [Message(role="system", content="You write Python."), Message(role="user", content="f?")]


def _settings(tmp_path: Path, url: str, **env: str) -> Settings:
    return Settings.from_env(
        {
            "CORRIGO_HOME": str(tmp_path / "home"),
            "OPENAI_BASE_URL": url,
            "OPENAI_API_KEY": SECRET,
            "CORRIGO_MODEL_BACKOFF": "0.01",
            **env,
        }
    )


def _model(tmp_path: Path, url: str, **env: str) -> OpenAIModel:
    model = get_model("openai:fake", _settings(tmp_path, url, **env))
    assert isinstance(model, OpenAIModel)
    return model


async def _ask(model: OpenAIModel, **kwargs: Any) -> Any:
    return await model.complete(ASK, role="solver", task_id="t", **kwargs)


async def test_two_429s_with_retry_after_then_success(tmp_path: Path) -> None:
    state = ServerState(script=["429:1", "429:1", "ok"], replies=["done"])
    with model_server(state) as url:
        reply = await _ask(_model(tmp_path, url))
    assert reply.text == "done" and reply.flags == () and reply.finish_reason == "stop"
    assert len(state.requests) == 3
    # Retry-After: 1 is honoured, not replaced by the (0.01 s) backoff.
    gaps = [b - a for a, b in zip(state.arrivals, state.arrivals[1:], strict=False)]
    assert all(gap >= 0.95 for gap in gaps), gaps


async def test_three_500s_then_success(tmp_path: Path) -> None:
    state = ServerState(script=["500", "502", "503"], replies=["done"])
    with model_server(state) as url:
        reply = await _ask(_model(tmp_path, url))
    assert reply.text == "done"
    assert reply.usage.tokens_in == 111 and reply.usage.tokens_out == 22
    assert len(state.requests) == 4


@pytest.mark.parametrize("code", ["400", "401", "404", "422"])
async def test_other_4xx_fail_at_once(tmp_path: Path, code: str) -> None:
    state = ServerState(script=[code])
    with model_server(state) as url, pytest.raises(ModelCallFailed) as caught:
        await _ask(_model(tmp_path, url))
    assert len(state.requests) == 1
    message = str(caught.value)
    assert f"answered HTTP {code}" in message
    assert "\n" not in message and SECRET not in message


async def test_retries_run_out(tmp_path: Path) -> None:
    state = ServerState(fault="500")
    with model_server(state) as url, pytest.raises(ModelCallFailed) as caught:
        await _ask(_model(tmp_path, url, CORRIGO_MODEL_RETRIES="2"))
    assert len(state.requests) == 3
    assert "answered HTTP 500 (3 attempts)" in str(caught.value)


async def test_a_dripping_server_cannot_outlast_the_deadline(tmp_path: Path) -> None:
    state = ServerState(fault="drip", drip_interval=0.2)
    with model_server(state) as url:
        model = _model(tmp_path, url, CORRIGO_MODEL_DEADLINE="1.5")
        started = time.monotonic()
        with pytest.raises(ModelCallFailed) as caught:
            await _ask(model)
        elapsed = time.monotonic() - started
    assert "no reply within the 1.5 s deadline" in str(caught.value)
    assert elapsed < 10  # a bound on hanging, not a speed check: the drip lasts 24 s
    assert len(state.requests) == 1


async def test_retry_after_past_the_deadline_gives_up_without_waiting(tmp_path: Path) -> None:
    state = ServerState(script=["429:60"])
    with model_server(state) as url, pytest.raises(ModelCallFailed) as caught:
        await _ask(_model(tmp_path, url, CORRIGO_MODEL_DEADLINE="5"))
    message = str(caught.value)
    assert "5 s deadline" in message and "HTTP 429" in message
    assert len(state.requests) == 1


async def test_unreachable_server_is_retried_then_named_without_credentials(
    tmp_path: Path,
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://user:hunter2@127.0.0.1:{port}/v1"
    with pytest.raises(ModelCallFailed) as caught:
        await _ask(_model(tmp_path, url, CORRIGO_MODEL_RETRIES="1"))
    message = str(caught.value)
    assert message.startswith(f"cannot reach model server at http://127.0.0.1:{port}/v1")
    assert "(2 attempts)" in message
    assert "hunter2" not in message and SECRET not in message


@pytest.mark.parametrize(
    ("behaviour", "text", "flags", "finish"),
    [
        ("length", "def f(x):\n    return", ("truncated",), "length"),
        ("empty", "", ("empty",), "stop"),
        ("refusal", "", ("empty", "refusal"), "stop"),
        ("ok", "I'm sorry, but I can't help with that.", ("refusal",), "stop"),
        ("ok", "```python\ndef f(x):\n    return x\n```", (), "stop"),
    ],
)
async def test_replies_are_classified_never_raised(
    tmp_path: Path, behaviour: str, text: str, flags: tuple[str, ...], finish: str
) -> None:
    state = ServerState(script=[behaviour], replies=[text])
    with model_server(state) as url:
        reply = await _ask(_model(tmp_path, url))
    assert reply.text == text
    assert reply.flags == flags
    assert reply.finish_reason == finish


async def test_sampling_parameters_reach_the_request_and_close_is_reversible(
    tmp_path: Path,
) -> None:
    state = ServerState(replies=["a", "b", "c"])
    with model_server(state) as url:
        model = _model(tmp_path, url)
        await _ask(model)
        await _ask(model, temperature=0.8, seed=7, max_tokens=64)
        await close_models({"solver": model, "reviewer": model})
        await _ask(model)  # a closed model opens a new connection pool on its next call
    default, sampled, _ = state.requests
    assert default["temperature"] == 0.0 and default["seed"] == 0
    assert default["max_completion_tokens"] == 1024
    assert sampled["temperature"] == 0.8 and sampled["seed"] == 7
    assert sampled["max_completion_tokens"] == 64
    assert {k.lower(): v for k, v in state.headers[0].items()}["authorization"] == (
        f"Bearer {SECRET}"
    )


async def test_calls_in_flight_are_bounded_per_model(tmp_path: Path) -> None:
    state = ServerState(latency=0.2, reply_by=lambda messages: messages[-1]["content"])
    with model_server(state) as url:
        model = _model(tmp_path, url, CORRIGO_MODEL_CONCURRENCY="2")
        asks = [
            model.complete([Message(role="user", content=f"q{i}")], role="solver", task_id="t")
            for i in range(6)
        ]
        replies = await asyncio.gather(*asks)
    assert [r.text for r in replies] == [f"q{i}" for i in range(6)]
    assert state.peak_in_flight == 2


def test_settings_reject_bad_numbers(tmp_path: Path) -> None:
    with pytest.raises(corrigo.CorrigoError, match="CORRIGO_MODEL_RETRIES"):
        Settings.from_env({"CORRIGO_MODEL_RETRIES": "many"})
    with pytest.raises(corrigo.CorrigoError, match="CORRIGO_MODEL_CONCURRENCY"):
        Settings.from_env({"CORRIGO_MODEL_CONCURRENCY": "0"})


async def test_story_through_retries_reaches_a_verified_outcome(tmp_path: Path) -> None:
    state = ServerState(
        script=["429:1", "ok", "500", "503", "ok", "ok"],
        replies=[fenced(BUGGY), CRITIQUE, fenced(FIXED)],
    )
    with model_server(state) as url:
        settings = _settings(tmp_path, url)
        [outcome] = await corrigo.run(
            "humaneval:HumanEval/12",
            strategy="refine",
            model="openai:fake-coder",
            settings=settings,
        )
    assert outcome.stop_reason == "verified", outcome.error
    assert outcome.first_round_passed is False and outcome.hidden_passed is True
    assert outcome.totals.model_calls == 3
    assert len(state.requests) == 6
    stored = await corrigo.load_run(outcome.run_id, settings=settings)
    assert [s.error for s in stored.steps if s.role in ("solver", "reviewer", "refiner")] == [
        None,
        None,
        None,
    ]


async def test_usage_reaches_langchain_callbacks_of_the_caller(tmp_path: Path) -> None:
    """Token budgets can lean on LangChain: a caller's usage callback sees every call made
    inside its runnable (as a LangGraph node's calls are), retries included only once."""
    from langchain_core.callbacks import UsageMetadataCallbackHandler
    from langchain_core.runnables import RunnableLambda

    state = ServerState(script=["500", "ok", "ok"], replies=["a", "b"])
    with model_server(state) as url:
        model = _model(tmp_path, url)

        async def node(_: object) -> list[str]:
            return [(await _ask(model)).text, (await _ask(model)).text]

        handler = UsageMetadataCallbackHandler()
        texts = await RunnableLambda(node).ainvoke(None, config={"callbacks": [handler]})
    assert texts == ["a", "b"]
    [usage] = handler.usage_metadata.values()
    assert usage["input_tokens"] == 222 and usage["output_tokens"] == 44


@pytest.mark.parametrize(
    ("text", "refusal"),
    [
        ("I'm sorry, but I can't help with that.", True),
        ("I’m sorry, I cannot assist with this request.", True),
        ("I cannot help with creating malware.", True),
        ("I apologize, but I'm unable to assist with that.", True),
        ("I'm sorry for the confusion. Here is the fix:\n```python\ndef f(): ...\n```", False),
        ("Sorry, the previous code had a bug; I can't see why it passed. Fixed:", False),
        ('```python\ndef cannot():\n    return "I can\'t"\n```', False),
    ],
)
def test_refusal_heuristic_flags_only_obvious_refusals(text: str, refusal: bool) -> None:
    assert looks_like_refusal(text) is refusal


async def test_scripted_replies_are_each_served_once_under_concurrency(tmp_path: Path) -> None:
    """Strategies fan samples out and draw from one per-role list, from tasks and threads."""
    script = write_script(
        tmp_path / "s.yaml",
        {"replies": {"solver": [f"r{i}" for i in range(12)], "unused_role": ["x"]}},
    )
    model = get_model(f"scripted:{script}", _settings(tmp_path, "http://127.0.0.1:9/v1"))

    async def ask() -> str:
        reply = await model.complete(ASK, role="solver", task_id="t", temperature=0.8, seed=3)
        return reply.text

    in_tasks = await asyncio.gather(*(ask() for _ in range(6)))
    in_threads = await asyncio.gather(*(asyncio.to_thread(asyncio.run, ask()) for _ in range(6)))
    assert sorted([*in_tasks, *in_threads]) == sorted(f"r{i}" for i in range(12))
    with pytest.raises(corrigo.CorrigoError, match="no reply #13 for role 'solver'"):
        await ask()


def test_every_role_can_be_set_on_its_own(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "http://127.0.0.1:9/v1")
    specs = resolve_specs(
        "openai:main", {"test_designer": "openai:tests", "reflector": "ollama:r"}, settings
    )
    assert specs == {
        "solver": "openai:main",
        "reviewer": "openai:main",
        "refiner": "openai:main",
        "test_designer": "openai:tests",
        "reflector": "ollama:r",
        "checker": "openai:main",  # writes a math task's check programs
    }
    with pytest.raises(corrigo.CorrigoError, match="unknown role"):
        resolve_specs("openai:main", {"critic": "openai:x"}, settings)
