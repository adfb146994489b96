"""Crash and resume: a run SIGKILLed mid-way continues without repeating a finished step.

The model is a real OpenAI-compatible server on loopback (``tests/model_server.py``)
that answers by role and counts every request, so "no second model call for a recorded
step" is checked where the calls arrive. The run itself is a real ``corrigo run``
subprocess, killed with SIGKILL once its reviewer step is stored.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import corrigo
from corrigo.records import Step
from tests.helpers import corrigo as corrigo_cli
from tests.helpers import fenced
from tests.model_server import ServerState, model_server
from tests.stores import BACKENDS, fresh_store_url
from tests.test_story import BUGGY, CRITIQUE, FIXED

CANARY = "sk-canary-never-store-8c1f2e"
TASK = "humaneval:HumanEval/12"


def _role(messages: list[dict[str, Any]]) -> str:
    system = str(messages[0].get("content", "")) if messages else ""
    if "code reviewer" in system:
        return "reviewer"
    if "fixes code" in system:
        return "refiner"
    return "solver"


def _by_role(messages: list[dict[str, Any]]) -> str:
    return {"solver": fenced(BUGGY), "reviewer": CRITIQUE, "refiner": fenced(FIXED)}[
        _role(messages)
    ]


def _env(url: str) -> dict[str, str]:
    return {"OPENAI_BASE_URL": url, "OPENAI_API_KEY": CANARY}


def _args(store: str) -> list[str]:
    return [TASK, "--strategy", "refine", "--model", "openai:slow", "--store", store, "-j", "1"]


@pytest.fixture(params=BACKENDS)
def store_urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two fresh stores of one backend: the interrupted run's and the reference run's."""
    with (
        fresh_store_url(request.param, tmp_path / "a") as a,
        fresh_store_url(request.param, tmp_path / "b") as b,
    ):
        yield a, b


def _comparable(step: Step) -> tuple[Any, ...]:
    return (
        step.key,
        step.role,
        step.node,
        step.kind,
        step.round,
        step.output,
        step.candidate.code if step.candidate else None,
        (step.verdict.passed, step.verdict.score, step.verdict.feedback) if step.verdict else None,
        [m.model_dump() for m in step.messages],
    )


async def _steps(store_url: str) -> tuple[corrigo.RunRecord, list[Step]]:
    async with corrigo.open_store(store_url) as store:
        [record] = await store.list_runs(limit=5)
        return record, await store.get_steps(record.id)


def _wait_for_review(store_url: str, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            _, steps = asyncio.run(_steps(store_url))
        except (ValueError, corrigo.CorrigoError):
            steps = []  # no run yet
        if any(s.role == "reviewer" for s in steps):
            return
        time.sleep(0.05)
    raise AssertionError("the run never stored its review")


def test_sigkilled_run_resumes_without_repeating_a_step(
    tmp_path: Path, store_urls: tuple[str, str]
) -> None:
    crashed_url, reference_url = store_urls
    state = ServerState(latency=0.6, reply_by=_by_role)
    with model_server(state) as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CORRIGO_"))}
        env.update({"CORRIGO_HOME": str(tmp_path / "home"), **_env(url)})
        proc = subprocess.Popen(
            [sys.executable, "-m", "corrigo", "run", *_args(crashed_url)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _wait_for_review(crashed_url, proc)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
        before_record, before = asyncio.run(_steps(crashed_url))
        assert before_record.status == "running"  # as stored; shown as interrupted:
        shown = corrigo_cli("runs", "--json", "--store", crashed_url, home=tmp_path / "home")
        assert '"status": "interrupted"' in shown.stdout, shown.stdout + shown.stderr
        calls_before = [_role(r["messages"]) for r in state.requests]

        resumed = corrigo_cli(
            "resume",
            before_record.id,
            "--store",
            crashed_url,
            home=tmp_path / "home",
            env=_env(url),
        )
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        record, after = asyncio.run(_steps(crashed_url))
        calls = [_role(r["messages"]) for r in state.requests]

        # The reference: the same task, never interrupted.
        reference = corrigo_cli("run", *_args(reference_url), home=tmp_path / "home", env=_env(url))
        assert reference.returncode == 0, reference.stderr
        ref_record, ref_steps = asyncio.run(_steps(reference_url))

    assert record.status == "finished" and record.outcome is not None
    assert record.outcome.stop_reason == "verified" and record.outcome.hidden_passed is True
    # No finished step repeated: every step stored before the kill is still there, once.
    assert [s.seq for s in after] == list(range(1, len(after) + 1))
    assert len({s.key for s in after}) == len(after)
    assert [_comparable(s) for s in after[: len(before)]] == [_comparable(s) for s in before]
    # No second model call for a recorded step: the solver and the reviewer were asked
    # once in all; only the refiner call in flight at the kill may have been made twice.
    assert calls_before.count("solver") == calls.count("solver") == 1
    assert calls_before.count("reviewer") == calls.count("reviewer") == 1
    assert calls.count("refiner") - calls_before.count("refiner") == 1
    # The final trajectory equals the uninterrupted run's.
    assert [_comparable(s) for s in after] == [_comparable(s) for s in ref_steps]
    assert record.outcome.model_dump(include={"stop_reason", "rounds", "hidden_passed"}) == (
        ref_record.outcome.model_dump(include={"stop_reason", "rounds", "hidden_passed"})
        if ref_record.outcome
        else None
    )
    assert record.outcome.totals.model_calls == 3
    # The API key in the environment never reached a stored step.
    assert not any(CANARY in s.model_dump_json() for s in after)


def test_resume_refuses_finished_and_live_runs(tmp_path: Path) -> None:
    from corrigo.errors import UsageError
    from corrigo.liveness import current_owner
    from corrigo.testing.storage import _spec

    url = f"sqlite:///{tmp_path}/s.db"

    async def scenario() -> None:
        async with corrigo.open_store(url) as store:
            live = await store.create_run(_spec(), owner=current_owner())
            done = await store.create_run(_spec(), owner=current_owner())
            await store.finish_run(
                done.id, corrigo.Outcome(run_id=done.id, task_id="t/1", stop_reason="verified")
            )
            elsewhere = await store.create_run(_spec(), owner="another-host/1/1")
            for run_id, message in [
                (done.id, "already finished"),
                (live.id, "still running"),
                (elsewhere.id, "still running"),
            ]:
                with pytest.raises(UsageError, match=message):
                    await corrigo.resume([run_id], store=store)
            # Nothing to resume is not an error.
            assert await corrigo.resume(interrupted=True, store=store) == []

    asyncio.run(scenario())
    out = corrigo_cli("resume", "--store", url, home=tmp_path / "home")
    assert out.returncode == 2 and "name the runs to resume" in out.stderr
    assert "Traceback" not in out.stderr
