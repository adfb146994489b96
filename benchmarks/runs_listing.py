"""``corrigo runs -n 50`` from a cold process, on a SQLite store of 100,000 steps.

The store: ``--runs`` (5,000) refine runs on HumanEval problems × ``--steps`` (20) steps,
written once through the public store API (``corrigo.open_store``: ``create_run``, one
``append_step`` per step, ``finish_run``) and kept in ``--cache`` (default
``$TMPDIR/corrigo-runs-listing``) for later runs of this script. A run's steps repeat
what a refine run stores: the solver's reply with its candidate, the visible tests'
verdict with per-test evidence, the reviewer's critique, the refiner's revision. One run
in a hundred is left ``running`` under an owner whose process is gone (shown as
``interrupted``), as after a crash.

Measured in turns, so that a change in the machine's load falls on all three alike,
``--calls`` (15) times each:

- ``python -c pass``: the interpreter alone, the floor;
- ``python -c "import corrigo.cli"``: the command line's imports;
- ``corrigo runs -n 50`` (the console script next to this Python) with ``CORRIGO_HOME``
  pointing at the cache: the whole command, output piped.

Each is timed as wall time and as CPU time (user + system, from the child's rusage): on
a loaded machine the wall time includes the wait for a CPU, the CPU time much less.

Printed: p50, p95 and min wall ms and p50 CPU ms of each, and the command's p50 above
the interpreter's; the command's phases in one process (imports, ``list_runs``,
rendering the table), p50 of 5; the largest imports of one ``corrigo runs`` under
``-X importtime``, self and cumulative; and SQLite's plan for the listing query, which
must walk the ``(created_at, id)`` index and never touch the steps table.

    .venv/bin/python benchmarks/runs_listing.py [--cache DIR] [--calls 15]
        [--runs 5000] [--steps 20] [--imports 15]

``--baseline DIR`` times the same three commands with another source tree of corrigo
first on ``PYTHONPATH`` (before a change: ``git archive HEAD | tar -x -C DIR``), in the
same turns, so that the two are compared under the same load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, str(ROOT))

TARGET_MS = 150.0
#: What SQLStore.list_runs asks for a listing without filters.
LISTING_SQL = "SELECT record, owner FROM corrigo_runs ORDER BY created_at DESC, id DESC LIMIT 50"

REVIEW = (
    "The loop compares each element with itself, so every list with one element is "
    "reported as having close elements. Compare distinct indices only."
)


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


# ------------------------------------------------------------------ the store


async def build(url: str, runs: int, per_run: int) -> None:
    """``runs`` refine runs of ``per_run`` steps each, eight written at a time."""
    import corrigo
    from corrigo.agents.solver import solver_messages
    from corrigo.records import (
        Candidate,
        ExecResult,
        Message,
        Outcome,
        RunSpec,
        Step,
        TestResult,
        Totals,
        Usage,
        Verdict,
    )
    from corrigo.tasks import load_tasks

    tasks = [t for t in load_tasks("humaneval") if t.visible_tests]
    models = ("openai:gpt-4o-mini", "local:qwen2.5-coder-1.5b", "ollama:llama3.1:8b")
    strategies = ("refine", "self_debug", "best_of_n")
    dead_owner = f"{socket.gethostname()}/999999/1"  # this host, a process that is gone
    next_index = 0

    def steps_of(run_id: str, index: int) -> list[Step]:
        task = tasks[index % len(tasks)]
        model = models[index % len(models)]
        code = f"{task.prompt}    return sorted(numbers) == numbers  # attempt {index}\n"
        asked = solver_messages(task)
        out: list[Step] = []
        for seq in range(per_run):
            rnd, phase = divmod(seq, 4)
            if phase in (0, 3):  # the solver's draft, then the refiner's revision
                role = "solver" if seq == 0 else "refiner"
                messages = asked if seq == 0 else [*asked, Message(role="user", content=REVIEW)]
                out.append(
                    Step(
                        run_id=run_id,
                        seq=seq,
                        round=rnd,
                        role=role,
                        node=role,
                        kind="model",
                        key=f"r{rnd}.{role}.{seq}",
                        messages=messages,
                        output=f"```python\n{code}```\n",
                        model=model,
                        usage=Usage(tokens_in=180 + 40 * seq, tokens_out=90, latency_ms=850.0),
                        candidate=Candidate(code=code, round=rnd, key=f"r{rnd}.{role}.{seq}"),
                    )
                )
            elif phase == 1:  # the visible tests
                results = [
                    TestResult(name=t.name, passed=i % 3 != 0, message="AssertionError")
                    for i, t in enumerate(task.visible_tests)
                ]
                evidence = ExecResult(status="failed", tests=results, wall_ms=41.0, cpu_ms=12.0)
                verdict = Verdict(
                    passed=False, score=0.6, feedback="2 of 3 tests failed", evidence=evidence
                )
                out.append(
                    Step(
                        run_id=run_id,
                        seq=seq,
                        round=rnd,
                        role="verifier",
                        node="verify",
                        kind="exec",
                        key=f"r{rnd}.verify.{seq}",
                        verdict=verdict,
                    )
                )
            else:  # the reviewer's critique
                out.append(
                    Step(
                        run_id=run_id,
                        seq=seq,
                        round=rnd,
                        role="reviewer",
                        node="review",
                        kind="model",
                        key=f"r{rnd}.review.{seq}",
                        messages=[*asked, Message(role="assistant", content=code)],
                        output=REVIEW,
                        model=model,
                        usage=Usage(tokens_in=400, tokens_out=60, latency_ms=600.0),
                    )
                )
        return out

    async with corrigo.open_store(url) as store:

        async def worker() -> None:
            nonlocal next_index
            while next_index < runs:
                index = next_index
                next_index += 1
                task = tasks[index % len(tasks)]
                spec = RunSpec(
                    task=task,
                    strategy=strategies[index % len(strategies)],
                    roles={r: models[index % len(models)] for r in ("solver", "reviewer")},
                    corrigo_version="bench",
                    batch_id=f"bench-listing-{index // 100}",
                )
                crashed = index % 100 == 50
                record = await store.create_run(spec, owner=dead_owner if crashed else None)
                for step in steps_of(record.id, index):
                    await store.append_step(step)
                if crashed:
                    continue
                outcome = Outcome(
                    run_id=record.id,
                    task_id=task.id,
                    stop_reason="verified" if index % 4 else "budget_exhausted",
                    rounds=per_run // 4,
                    visible_passed=bool(index % 4),
                    hidden_passed=bool(index % 4),
                    strategy=spec.strategy,
                    totals=Totals(model_calls=per_run // 2, tokens_in=6000, tokens_out=900),
                )
                await store.finish_run(record.id, outcome)
            return None

        await asyncio.gather(*(worker() for _ in range(8)))


def ensure_store(cache: Path, runs: int, per_run: int) -> Path:
    """The store's file, built first if the cache does not hold a complete one."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"listing-{runs}x{per_run}.db"
    manifest = cache / f"listing-{runs}x{per_run}.json"
    if path.exists() and manifest.exists():
        return path
    for stale in cache.glob(f"{path.name}*"):
        stale.unlink()
    print(f"building {path} ({runs} runs × {per_run} steps)…", flush=True)
    started = time.perf_counter()
    asyncio.run(build(f"sqlite:///{path}", runs, per_run))
    seconds = time.perf_counter() - started
    manifest.write_text(json.dumps({"runs": runs, "steps": runs * per_run, "seconds": seconds}))
    print(f"built in {seconds:.0f} s", flush=True)
    return path


# ------------------------------------------------------------------ measuring


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall ms and CPU ms (user + system) of one run of ``argv``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    spent = (time.perf_counter() - started) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr or done.stdout}")
    cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000
    return spent, cpu


PHASES = """
import time
t0 = time.perf_counter()
import asyncio, io
import corrigo, corrigo.cli
from corrigo.cli.app import settings_for
from corrigo.cli.render import runs_table
from rich.console import Console
from corrigo.records import RunQuery
t1 = time.perf_counter()
records = asyncio.run(corrigo.list_runs(query=RunQuery(limit=50), settings=settings_for()))
t2 = time.perf_counter()
Console(file=io.StringIO(), width=200).print(runs_table(records))
t3 = time.perf_counter()
print((t1 - t0) * 1000, (t2 - t1) * 1000, (t3 - t2) * 1000, len(records))
"""


def phases(env: dict[str, str], calls: int = 5) -> dict[str, float]:
    rows = []
    for _ in range(calls):
        done = subprocess.run(
            [sys.executable, "-c", PHASES], capture_output=True, text=True, env=env, check=False
        )
        if done.returncode != 0:
            return {"failed": 0.0}
        rows.append([float(x) for x in done.stdout.split()])
    names = ("imports", "list_runs (open + query + decode)", "render the table")
    return {name: percentile([r[i] for r in rows], 50) for i, name in enumerate(names)}


def import_profile(argv: list[str], env: dict[str, str]) -> list[tuple[int, int, str]]:
    """(self µs, cumulative µs, module) of every import of one run of ``argv``."""
    rest = argv[1:] if argv[0] == sys.executable else argv  # a console script is Python too
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *rest],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    out = []
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            own, cumulative, name = line[len("import time:") :].split("|")
            if own.strip().isdigit():
                out.append((int(own), int(cumulative), name.rstrip()))
    return out


def query_plan(path: Path) -> list[str]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return [row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN {LISTING_SQL}")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "corrigo-runs-listing"
    )
    parser.add_argument("--runs", type=int, default=5000)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--calls", type=int, default=15)
    parser.add_argument("--imports", type=int, default=15, help="largest imports shown")
    parser.add_argument("--baseline", type=Path, help="another source tree, timed alongside")
    args = parser.parse_args()

    path = ensure_store(args.cache.resolve(), args.runs, args.steps)
    home = path.parent / "home"
    home.mkdir(exist_ok=True)
    # ``python -c`` puts the working directory first on sys.path: a corrigo checkout there
    # would shadow the tree under test (or the --baseline one).
    os.chdir(home)
    env = {**os.environ, "CORRIGO_HOME": str(home), "CORRIGO_STORE": f"sqlite:///{path}"}
    script = Path(sys.executable).with_name("corrigo")
    cli = [str(script)] if script.exists() else [sys.executable, "-m", "corrigo"]
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "import corrigo.cli": [sys.executable, "-c", "import corrigo.cli"],
        "corrigo runs -n 50": [*cli, "runs", "-n", "50"],
    }
    cases = {name: (argv, env) for name, argv in commands.items()}
    if args.baseline is not None:
        base = {**env, "PYTHONPATH": str(args.baseline.resolve())}
        cases.update({f"{name} (baseline)": (argv, base) for name, argv in commands.items()})
    listed = subprocess.run([*cli, "runs", "-n", "50", "--json"], capture_output=True, env=env)
    count = len(json.loads(listed.stdout or b"[]"))
    print(f"store: {path} ({args.runs} runs × {args.steps} steps); the command lists {count}")
    for argv, case_env in cases.values():  # warm the page cache and the bytecode caches
        timed(argv, case_env)
    times: dict[str, list[float]] = {name: [] for name in cases}
    cpus: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.calls):
        for name, (argv, case_env) in cases.items():
            wall, cpu = timed(argv, case_env)
            times[name].append(wall)
            cpus[name].append(cpu)

    print(f"\ncold processes, ms over {args.calls} calls each (taken in turns):")
    print(f"{'':<34} {'wall p50':>9} {'p95':>8} {'min':>8} {'CPU p50':>8}")
    for name, values in times.items():
        p50, p95 = percentile(values, 50), percentile(values, 95)
        cpu = percentile(cpus[name], 50)
        print(f"{name:<34} {p50:9.1f} {p95:8.1f} {min(values):8.1f} {cpu:8.1f}")
    floor = percentile(times["python -c pass"], 50)
    command = percentile(times["corrigo runs -n 50"], 50)
    print(
        f"corrigo runs -n 50 p50: {command:.1f} ms, {command - floor:.1f} ms above the "
        f"interpreter; target ≤ {TARGET_MS:g} ms: {'MET' if command <= TARGET_MS else 'NOT MET'}"
    )

    print("\nthe command's phases in one process, p50 ms of 5:")
    for name, ms in phases(env).items():
        print(f"  {ms:8.1f}  {name}")

    imports = import_profile(commands["corrigo runs -n 50"], env)
    print(
        f"\n'corrigo runs -n 50' under -X importtime (one run, slowed by the flag): "
        f"{len(imports)} modules, {sum(i[0] for i in imports) / 1000:.0f} ms of imports"
    )
    print("  largest cumulative (top level of their package):")
    tops = [i for i in imports if not i[2].startswith("  ")]
    for _own, cumulative, name in sorted(tops, key=lambda i: -i[1])[: args.imports]:
        print(f"    {cumulative / 1000:8.1f} ms  {name.strip()}")
    print("  largest own time:")
    for own, _cumulative, name in sorted(imports, key=lambda i: -i[0])[: args.imports]:
        print(f"    {own / 1000:8.1f} ms  {name.strip()}")

    print(f"\nSQLite's plan for the listing query ({LISTING_SQL}):")
    for line in query_plan(path):
        print(f"  {line}")


if __name__ == "__main__":
    main()
