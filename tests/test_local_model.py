"""A task through a real GGUF model in process (llama-cpp-python), and `models pull`."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

import pytest

import corrigo
from corrigo.config import Settings
from corrigo.errors import ModelCallFailed
from corrigo.models.llama import load
from corrigo.models.local import CATALOGUE, LocalModel, pull
from corrigo.records import Message, Sampling
from tests.helpers import corrigo as corrigo_cli

pytestmark = pytest.mark.local_model


def test_pull_joins_chunks_and_checks_sha256(settings: Settings) -> None:
    path = pull("gemma3-270m", settings)
    assert path == settings.models_dir / "gemma-3-270m-q4_k_m.gguf"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == CATALOGUE["gemma3-270m"].sha256
    assert path.read_bytes()[:4] == b"GGUF"
    assert not list(settings.models_dir.glob("*.partial"))


#: What the run asks of the model: one solver call of at most this many tokens. The work
#: is bounded, not the time it takes: on a loaded machine the call is slower, never longer.
SOLVER_TOKENS = 48


async def test_one_task_through_the_local_model(settings: Settings) -> None:
    pull("gemma3-270m", settings)
    [outcome] = await corrigo.run(
        "humaneval:HumanEval/0",
        strategy="refine",
        model="local:gemma3-270m",
        sampling={"solver": Sampling(max_tokens=SOLVER_TOKENS)},
        settings=settings,
        max_rounds=1,
    )
    assert outcome.stop_reason in ("verified", "budget_exhausted")
    assert outcome.totals.model_calls == 1
    stored = await corrigo.load_run(outcome.run_id, settings=settings)
    assert stored.record.spec.sampling["solver"].max_tokens == SOLVER_TOKENS
    solver = stored.steps[0]
    assert solver.role == "solver" and solver.model == "local:gemma3-270m"
    assert solver.error is None
    assert solver.usage.tokens_in > 50 and 0 < solver.usage.tokens_out <= SOLVER_TOKENS
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


def _prompt_tokens_evaluated(llama: Any) -> int:
    import llama_cpp

    return int(llama_cpp.llama_perf_context(llama._ctx.ctx).n_p_eval)


def _ask(topic: str) -> list[Message]:
    return [
        Message(role="system", content=f"You answer questions about {topic} in one line."),
        Message(role="user", content=f"Say one true thing about {topic}."),
    ]


async def test_prompt_cache_restores_alternating_prompts_exactly(settings: Settings) -> None:
    pull("gemma3-270m", settings)
    cached = LocalModel("gemma3-270m", settings, max_tokens=12)
    uncached = LocalModel("gemma3-270m", settings.with_overrides(local_cache_mb=0), max_tokens=12)
    first = await cached.complete(_ask("rivers"), role="solver", task_id="t")
    other = await cached.complete(_ask("mountains"), role="reviewer", task_id="t")
    handle = load(str(cached.path), cached.n_ctx)
    evaluated = _prompt_tokens_evaluated(handle.llama)
    again = await cached.complete(_ask("rivers"), role="solver", task_id="t")
    assert _prompt_tokens_evaluated(handle.llama) - evaluated < 3  # restored, not evaluated
    plain = await uncached.complete(_ask("rivers"), role="solver", task_id="t")
    assert first.text.strip() and other.text != first.text
    assert again.text == first.text == plain.text  # greedy decoding survives a state restore
    assert again.usage.tokens_in == first.usage.tokens_in
    assert first.model == "local:gemma3-270m" and first.finish_reason in ("stop", "length")
    assert ("truncated" in first.flags) == (first.finish_reason == "length")
    assert handle.cache is not None and len(handle.cache.cache_state) >= 2


async def test_local_calls_are_one_at_a_time_and_bounded_by_the_deadline(
    settings: Settings,
) -> None:
    pull("gemma3-270m", settings)
    model = LocalModel("gemma3-270m", settings, max_tokens=4)
    replies = await asyncio.gather(
        *(model.complete(_ask(t), role="solver", task_id="t") for t in ("a", "b", "c"))
    )
    assert model.concurrency == 1 and all(r.usage.tokens_out > 0 for r in replies)
    hurried = LocalModel(
        "gemma3-270m", settings.with_overrides(model_deadline=0.001), max_tokens=400
    )
    with pytest.raises(ModelCallFailed, match="deadline"):
        await hurried.complete(_ask("lakes"), role="solver", task_id="t")
