"""Local inference speed: prompt reuse across calls, with the prompt cache off and on.

Drives ``LocalModel.complete`` (the path a run takes) through three scenarios, first
with ``CORRIGO_LOCAL_CACHE_MB=0`` (what corrigo did before the cache), then with the
cache on, in one process and on one loaded model:

- cold: one prompt on an empty context;
- same prompt: the cold prompt sampled twice more at temperature 0.8 with new seeds,
  as best-of-n does;
- alternating: one refine task's calls, solver → reviewer → refiner → reviewer →
  refiner, where each role's prompts share its system prompt and the task, and the
  round-two prompts extend the round-one ones.

For each it prints prompt tokens, prompt tokens actually evaluated, prompt-eval and
generation tokens/s (llama.cpp's own counters), the seconds spent outside them
(tokenizing, sampling, saving and restoring cache states), seconds per call and in all;
the alternating scenario is one task, so its total is seconds per task. Each scenario
runs with the cache off and then on, back to back, since the CPU may be shared.

    .venv/bin/python benchmarks/local_model.py [--model qwen2.5-coder-1.5b] [--max-tokens 128]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass

from corrigo.config import Settings
from corrigo.models.local import LocalModel, model_path
from corrigo.records import Message
from corrigo.tasks import load_tasks

SYSTEM = {
    "solver": "You are an expert Python programmer. Write a correct, complete solution "
    "to the task in one ```python code block, with the function signature and imports.",
    "reviewer": "You review Python code that failed its tests. Name the bug precisely, "
    "quoting the failing test and the line at fault. Do not write the fixed code.",
    "refiner": "You fix Python code using a reviewer's critique and the failing tests. "
    "Reply with the whole corrected function in one ```python code block.",
}
DRAFT = "def longest(strings):\n    return max(strings, key=len)\n"
FAILURE = "assert longest([]) is None  # ValueError: max() arg is an empty sequence"
CRITIQUE = "max() fails on an empty list; return None first when `strings` is empty."


def prompts(task_prompt: str) -> dict[str, list[Message]]:
    def ask(role: str, *parts: str) -> list[Message]:
        body = "\n\n".join([f"Task:\n{task_prompt}", *parts])
        return [Message(role="system", content=SYSTEM[role]), Message(role="user", content=body)]

    return {
        "solver": ask("solver"),
        "reviewer-1": ask("reviewer", f"Code:\n{DRAFT}", f"Failed:\n{FAILURE}"),
        "refiner-1": ask("refiner", f"Code:\n{DRAFT}", f"Failed:\n{FAILURE}", CRITIQUE),
        "reviewer-2": ask(
            "reviewer", f"Code:\n{DRAFT}", f"Failed:\n{FAILURE}", "Round 2 code:\n" + DRAFT
        ),
        "refiner-2": ask(
            "refiner", f"Code:\n{DRAFT}", f"Failed:\n{FAILURE}", CRITIQUE, "Still failing."
        ),
    }


@dataclass
class Figures:
    calls: int = 0
    prompt_tokens: int = 0
    evaluated: int = 0
    p_eval_ms: float = 0.0
    generated: int = 0
    gen_ms: float = 0.0
    wall_s: float = 0.0

    def row(self, label: str) -> str:
        p_rate = self.evaluated / (self.p_eval_ms / 1000) if self.p_eval_ms else 0.0
        g_rate = self.generated / (self.gen_ms / 1000) if self.gen_ms else 0.0
        other = self.wall_s - (self.p_eval_ms + self.gen_ms) / 1000
        return (
            f"{label:<36} {self.calls:>5} {self.prompt_tokens:>7} {self.evaluated:>9}"
            f" {p_rate:>10.1f} {g_rate:>8.1f} {other:>8.2f}"
            f" {self.wall_s / max(1, self.calls):>7.2f} {self.wall_s:>8.1f}"
        )


def _perf(model: LocalModel) -> tuple[float, float, int, int]:
    import llama_cpp

    from corrigo.models.llama import load

    data = llama_cpp.llama_perf_context(load(str(model.path), model.n_ctx).llama._ctx.ctx)
    return data.t_p_eval_ms, data.t_eval_ms, data.n_p_eval, data.n_eval


async def _call(
    model: LocalModel,
    messages: list[Message],
    figures: Figures,
    temperature: float | None = None,
    seed: int | None = None,
) -> None:
    before = _perf(model)
    started = time.perf_counter()
    reply = await model.complete(
        messages, role="solver", task_id="bench", temperature=temperature, seed=seed
    )
    figures.wall_s += time.perf_counter() - started
    after = _perf(model)
    figures.calls += 1
    figures.prompt_tokens += reply.usage.tokens_in
    figures.p_eval_ms += after[0] - before[0]
    figures.gen_ms += after[1] - before[1]
    figures.evaluated += after[2] - before[2]
    figures.generated += after[3] - before[3]


def _fresh_context(model: LocalModel) -> None:
    from corrigo.models.llama import load

    handle = load(str(model.path), model.n_ctx)
    handle.llama.reset()  # forget the evaluated tokens: the next prompt starts cold
    handle.cache = None  # and an empty prompt cache


async def cold_then_samples(model: LocalModel, asks: dict[str, list[Message]]) -> list[Figures]:
    """A cold prompt, then two more samples of it at temperature 0.8 (best-of-n)."""
    _fresh_context(model)
    cold, same = Figures(), Figures()
    await _call(model, asks["solver"], cold)
    for seed in (1, 2):
        await _call(model, asks["solver"], same, temperature=0.8, seed=seed)
    return [cold, same]


async def one_task(model: LocalModel, asks: dict[str, list[Message]]) -> list[Figures]:
    """A refine task's calls: solver, reviewer, refiner, reviewer, refiner."""
    _fresh_context(model)
    figures = Figures()
    for key in ("solver", "reviewer-1", "refiner-1", "reviewer-2", "refiner-2"):
        await _call(model, asks[key], figures)
    return [figures]


SCENARIOS = [
    (cold_then_samples, ["cold prompt", "same prompt, 2 samples"]),
    (one_task, ["one task, 5 calls"]),
]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-1.5b")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--task", default="humaneval:HumanEval/12")
    args = parser.parse_args()

    base = Settings.from_env()
    if not model_path(args.model, base).exists():
        raise SystemExit(f"pull it first: corrigo models pull {args.model}")
    [task] = load_tasks(args.task)
    asks = prompts(task.prompt)
    off = LocalModel(args.model, base.with_overrides(local_cache_mb=0), args.max_tokens)
    on = LocalModel(args.model, base.with_overrides(local_cache_mb=512), args.max_tokens)
    await off.complete(asks["solver"][:1], role="solver", task_id="warm-up", max_tokens=1)

    print(f"model {args.model}, max_tokens {args.max_tokens}, task {task.id}")
    print(
        f"{'scenario':<36} {'calls':>5} {'prompt':>7} {'evaluated':>9} {'p-eval t/s':>10}"
        f" {'gen t/s':>8} {'other s':>8} {'s/call':>7} {'total s':>8}"
    )
    for scenario, names in SCENARIOS:
        for label, model in (("off", off), ("on", on)):  # back to back: the load is shared
            for name, figures in zip(names, await scenario(model, asks), strict=True):
                print(figures.row(f"{name}, cache {label}"), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
