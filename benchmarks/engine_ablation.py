"""Where the engine's CPU goes: ``concurrency.py``'s case with components removed.

Each variant patches this process only (nothing in the tree changes) and prints one JSON
line: the engine's CPU per task (event loop, other threads), the sandbox's, and the
efficiency against C/(k·L). Variants, joined with ``+``: ``base`` (nothing removed),
``nockpt`` (no LangGraph checkpointer), ``nostore`` (``append_step`` does nothing),
``nostream`` (no "updates" stream mode), ``rawhttp`` (a bare httpx call instead of
ChatOpenAI and the openai SDK); ``cprof`` adds a cProfile of the loop thread.

    for r in 1 2 3; do for v in base nockpt rawhttp nostore nockpt+nostore+nostream+rawhttp; do
        .venv/bin/python benchmarks/engine_ablation.py $v 1 256; done; done

Run the variants in turns (as above) and compare medians: a loaded machine moves every
figure, the turns keep the variants comparable.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import concurrency as bench  # noqa: E402


def patch(variant: str) -> None:
    parts = set(variant.split("+"))
    if "nockpt" in parts:
        import corrigo.storage.checkpoint as ck

        @asynccontextmanager
        async def none(store: Any):  # type: ignore[no-untyped-def]
            yield None

        ck.open_checkpointer = none  # type: ignore[assignment]
    if "nostore" in parts:
        from corrigo.storage.sql import SQLStore

        async def append_step(self: Any, step: Any) -> None:
            return None

        SQLStore.append_step = append_step  # type: ignore[method-assign]
    if "nostream" in parts:
        from langgraph.pregel import Pregel

        original = Pregel.astream

        def astream(self: Any, *args: Any, **kwargs: Any) -> Any:
            if isinstance(kwargs.get("stream_mode"), list):
                kwargs["stream_mode"] = ["values", "custom"]
            return original(self, *args, **kwargs)

        Pregel.astream = astream  # type: ignore[method-assign]
    if "rawhttp" in parts:
        import httpx
        from langchain_core.messages import AIMessage

        from corrigo.models.openai import OpenAIModel

        clients: dict[int, httpx.AsyncClient] = {}
        roles = {"human": "user", "ai": "assistant", "system": "system"}

        async def invoke(self: Any, messages: Any, config: Any, params: dict[str, Any]) -> Any:
            client = clients.get(id(self))
            if client is None:
                client = clients[id(self)] = httpx.AsyncClient(timeout=60)
            body = {
                "model": self.name,
                "messages": [
                    {"role": roles.get(m.type, "user"), "content": m.text} for m in messages
                ],
                **params,
            }
            response = await client.post(
                f"{self.base_url.rstrip('/')}/chat/completions",
                json=body,
                headers={"Authorization": "Bearer x"},
            )
            data = response.json()
            choice = data["choices"][0]
            usage = data.get("usage") or {}
            return AIMessage(
                content=choice["message"]["content"],
                response_metadata={"finish_reason": choice.get("finish_reason")},
                usage_metadata={
                    "input_tokens": usage.get("prompt_tokens", 0),
                    "output_tokens": usage.get("completion_tokens", 0),
                    "total_tokens": usage.get("total_tokens", 0),
                },
            )

        OpenAIModel.invoke = invoke  # type: ignore[method-assign]


def main() -> None:
    variant, k, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    latency = 0.25
    concurrency = 32
    patch(variant)
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    server = context.Process(target=bench.serve, args=(theirs, latency, True), daemon=True)
    server.start()
    url = ours.recv()
    try:
        ours.send(("mode", k == 3))
        # a warm-up batch: imports, first connections, graph compile
        asyncio.run(bench.one_case(url, k, concurrency, latency, concurrency, False))
        if "cprof" in variant:
            import cProfile
            import time

            profiler = cProfile.Profile(time.thread_time_ns, 1e-9)

            async def profiled() -> Any:
                profiler.enable()
                try:
                    return await bench.one_case(url, k, concurrency, latency, n, False)
                finally:
                    profiler.disable()
                    profiler.dump_stats(f"{variant}-k{k}.pstats")

            case = asyncio.run(profiled())
        else:
            case = asyncio.run(bench.one_case(url, k, concurrency, latency, n, False))
    finally:
        ours.send(("stop", None))
        server.join(10)
    ms = 1000 / n
    print(
        json.dumps(
            {
                "variant": variant,
                "k": k,
                "tasks": n,
                "good": case["good"],
                "loop": case["loop_cpu"] * ms,
                "other": case["other_cpu"] * ms,
                "sandbox": case["sandbox_cpu"] * ms,
                "efficiency": 100 * (n / case["steady"]) / (concurrency / (k * latency)),
            }
        )
    )


if __name__ == "__main__":
    main()
