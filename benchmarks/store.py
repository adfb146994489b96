"""Per-step cost of the engine plus a durable write on each store backend, next to plain
LangGraph; and how fast ``corrigo runs`` lists runs from a store of 100,000 steps.

Targets (from the issue): at most 2 ms per step with durable writes on SQLite, and
``corrigo runs`` listing 50 runs from a store of 100,000 steps in under 100 ms.

Part 1, per step. Every case runs the same graph: one node looping on itself through a
conditional edge, ``--steps`` times (100) per run, ``--runs`` runs (20) after
``--warmup`` runs (2) that are not counted, all in this one process and event loop, each
streamed as ``corrigo.lifecycle.execute.execute`` streams a run (``stream_mode=["values",
"updates", "custom"]``). The cases take turns (one run of each, in a rotating order), so
a change in the machine's load falls on every case alike:

- ``A  langgraph, no checkpointer``: the node only counts; the engine's cost alone.
- ``B  langgraph + AsyncSqliteSaver, sync``: the same graph compiled with
  langgraph-checkpoint-sqlite's ``AsyncSqliteSaver.from_conn_string`` on a file in a
  temp dir (LangGraph's defaults: rollback journal, full fsync), streamed with
  ``durability="sync"``: a checkpoint is written before every next step.
- ``corrigo <backend>, <durability>``: each iteration is a real corrigo step:
  ``ask(ctx, role="solver", key=f"s{i}", messages=..., round=i)`` with a zero-latency
  in-process model (a ChatModel whose ``complete`` returns a fixed reply at once), the
  step stored through ``StepLog`` into the store opened with ``corrigo.open_store(url)``
  (``append_step`` returns only once the step is committed), the graph compiled with the
  backend's checkpointer from ``open_checkpointer(store)``. A run is what
  ``execute`` does around the graph: ``create_run``, the steps, ``finish_run``, and
  deleting the run's checkpoints. Durability ``sync`` is what corrigo runs use (each
  checkpoint is written before the next step); SQLite is also run with ``async`` (the
  checkpoint written beside the next step), which measured slower on two cores.
  Backends: SQLite (a file in a temp dir), PostgreSQL (a fresh schema, dropped after),
  Redis (a fresh key prefix, deleted after).

Figures, in ms per step: ``p50``/``p95``/``mean`` of the step intervals (from one node
start to the next inside a run: the node's work, the engine's bookkeeping and any
checkpoint write between them), and ``wall/step``: each run's whole wall time
(``create_run`` .. ``finish_run`` included) over its steps, the headline figure; the
ratios against A and B are of ``wall/step``. Times are ``time.perf_counter``.
``cpu/step`` is this process's CPU time (every thread: the SQL store and the checkpointer work
in threads of their own) over the same runs: on a loaded machine wall times grow with
the wait for a CPU, CPU times much less, so compare the two before reading a ratio.

Part 2, listing. A store of ``--list-runs`` (2,000) finished runs × ``--list-steps``
(50) steps = 100,000 steps is built through the store API (``create_run``, one
``append_step`` per step, ``finish_run``; eight runs written at a time), on SQLite,
PostgreSQL and Redis; a backend whose build would take longer than ``--build-budget``
seconds (120) stops there and the smaller size is printed. Then:

- ``list_runs(limit=50)`` in process: p50/p95 over ``--list-calls`` (30) calls;
- ``corrigo runs -n 50 --store URL`` as a subprocess: p50 wall time of ``--cli-calls``
  (5), which includes starting Python; ``python -c "import corrigo.cli"`` and
  ``python -c pass`` are timed the same way for comparison.

The listing stores live in a temp dir (and a temp schema/prefix) and are removed at the
end, unless ``--keep DIR``: then the SQLite file is kept in DIR, the PostgreSQL schema and
the Redis prefix are kept too (named in ``DIR/manifest.json``), and a later run with the
same ``--keep DIR`` and sizes reuses them instead of building again.

A case that cannot run (a backend not reachable, not implemented yet) is printed as
``blocked:`` with the reason; the other figures are still measured. ``--profile`` adds,
for every corrigo case, the wall time per step inside the store's calls and inside the
checkpointer's writes (5 extra runs); a cProfile of the SQLite sync case (5 extra runs,
event-loop thread only: the SQL store and the checkpointer work in threads of their own), top
entries by cumulative and by own time; and the top-level imports of one
``corrigo runs`` on SQLite under ``python -X importtime``.

    .venv/bin/python benchmarks/store.py [--quick] [--json PATH] [--keep DIR] [--profile]
        [--backends sqlite,postgres,redis] [--runs 20] [--steps 100]
        [--postgres URL] [--redis URL]

``--quick`` is a smoke run of about 20 seconds (most of it starting ``corrigo runs``):
3 runs × 20 steps, a listing store of 100 runs × 10 steps, one ``corrigo runs`` each.
``--skip steps`` or ``--skip listing`` leaves out a part.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypedDict

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from langgraph.graph import END, StateGraph  # noqa: E402
from langgraph.runtime import Runtime  # noqa: E402

from corrigo.graphs.context import RunContext  # noqa: E402
from corrigo.models.base import ChatModel, Reply  # noqa: E402
from corrigo.records import Message, Outcome, RunSpec, Step, Task, Totals, Usage  # noqa: E402

POSTGRES = "postgresql://corrigo:corrigo@127.0.0.1:5432/corrigo"
REDIS = "redis://127.0.0.1:6379/0"
RECURSION_LIMIT = 100_000
STREAM_MODE = ["values", "updates", "custom"]  # what corrigo.lifecycle.execute.execute streams
TARGET_STEP_MS = 2.0
TARGET_LIST_MS = 100.0

# ------------------------------------------------------------------ the workload


def bench_task() -> Task:
    """A real HumanEval task (its prompt is what a solver is sent), else a stand-in."""
    try:
        from corrigo.tasks import load_tasks

        return load_tasks("humaneval[:1]")[0]
    except Exception:
        prompt = 'def add(a: int, b: int) -> int:\n    """Add two numbers."""\n'
        return Task(id="bench/add", prompt=prompt, entry_point="add")


REPLY_TEXT = (
    "Here is the function:\n\n```python\n"
    "def has_close_elements(numbers, threshold):\n"
    "    for i, a in enumerate(numbers):\n"
    "        for b in numbers[i + 1:]:\n"
    "            if abs(a - b) < threshold:\n"
    "                return True\n"
    "    return False\n```\n"
)


class ZeroLatencyModel(ChatModel):
    """Answers every call at once with the same reply: the model costs nothing."""

    spec = "bench:zero-latency"

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        role: str,
        task_id: str,
        temperature: float | None = None,
        seed: int | None = None,
        max_tokens: int | None = None,
    ) -> Reply:
        return Reply(
            text=REPLY_TEXT,
            usage=Usage(tokens_in=120, tokens_out=60),
            model=self.spec,
            finish_reason="stop",
        )


class LoopState(TypedDict):
    i: int
    n: int


def loop_graph(node: Any, context_schema: Any = None) -> StateGraph[Any, Any, Any, Any]:
    """One node, ``step``, looping back to itself until ``i == n``."""

    def again(state: LoopState) -> str:
        return "step" if state["i"] < state["n"] else END

    graph: StateGraph[Any, Any, Any, Any] = StateGraph(LoopState, context_schema=context_schema)
    graph.add_node("step", node)
    graph.set_entry_point("step")
    graph.add_conditional_edges("step", again, ["step", END])
    return graph


def counting_node(marks: list[float]) -> Any:
    async def step(state: LoopState) -> dict[str, int]:
        marks.append(time.perf_counter())
        return {"i": state["i"] + 1}

    return step


def asking_node(marks: list[float], messages: list[Message]) -> Any:
    from corrigo.graphs.calls import ask

    async def step(state: LoopState, runtime: Runtime[RunContext]) -> dict[str, int]:
        marks.append(time.perf_counter())
        i = state["i"]
        await ask(runtime.context, role="solver", key=f"s{i}", messages=messages, round=i)
        return {"i": i + 1}

    return step


async def drain(stream: AsyncIterator[Any]) -> None:
    async for _ in stream:
        pass


# ------------------------------------------------------------------ figures


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass
class StepCase:
    """The printed figures of one case (ms per step)."""

    name: str
    runs: int = 0
    steps: int = 0
    p50: float | None = None
    p95: float | None = None
    mean: float | None = None
    wall_per_step: float | None = None
    cpu_per_step: float | None = None
    blocked: str | None = None
    check: str = ""
    breakdown: dict[str, float] = field(default_factory=dict)


@dataclass
class Case:
    """A case ready to run: ``one_run`` does one whole run; its node appends to ``marks``."""

    figures: StepCase
    one_run: Callable[[], Awaitable[None]]
    marks: list[float]
    check: Callable[[], Awaitable[str]] | None = None
    store: Any = None
    checkpointer: Any = None
    intervals: list[float] = field(default_factory=list)
    wall: float = 0.0
    cpu: float = 0.0

    async def timed(self, counted: bool) -> None:
        self.marks.clear()
        started, cpu = time.perf_counter(), time.process_time()
        await self.one_run()
        if counted:
            self.wall += time.perf_counter() - started
            self.cpu += time.process_time() - cpu
            self.figures.runs += 1
            self.figures.steps += len(self.marks)
            self.intervals += [(b - a) * 1000 for a, b in itertools.pairwise(self.marks)]

    def finish(self) -> None:
        f = self.figures
        if self.intervals and f.steps:
            f.p50, f.p95 = percentile(self.intervals, 50), percentile(self.intervals, 95)
            f.mean = statistics.fmean(self.intervals)
            f.wall_per_step = self.wall * 1000 / f.steps
            f.cpu_per_step = self.cpu * 1000 / f.steps


def run_config(thread_id: str | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {"recursion_limit": RECURSION_LIMIT}
    if thread_id is not None:
        config["configurable"] = {"thread_id": thread_id}
    return config


# ------------------------------------------------------------------ the cases


@contextlib.asynccontextmanager
async def plain_langgraph(steps: int) -> AsyncIterator[Case]:
    marks: list[float] = []
    compiled: Any = loop_graph(counting_node(marks)).compile()

    async def one_run() -> None:
        start = {"i": 0, "n": steps}
        await drain(compiled.astream(start, config=run_config(), stream_mode=STREAM_MODE))

    yield Case(StepCase("A  langgraph, no checkpointer"), one_run, marks)


@contextlib.asynccontextmanager
async def langgraph_sqlite_saver(steps: int, folder: Path) -> AsyncIterator[Case]:
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    marks: list[float] = []
    last: list[dict[str, Any]] = []
    async with AsyncSqliteSaver.from_conn_string(str(folder / "langgraph.db")) as saver:
        compiled: Any = loop_graph(counting_node(marks)).compile(checkpointer=saver)

        async def one_run() -> None:
            last[:] = [run_config(uuid.uuid4().hex)]
            start = {"i": 0, "n": steps}
            stream = compiled.astream(
                start, config=last[0], stream_mode=STREAM_MODE, durability="sync"
            )
            await drain(stream)

        async def check() -> str:
            saved = (await compiled.aget_state(last[0])).values.get("i")
            return "" if saved == steps else f"last checkpoint holds i={saved}, not {steps}"

        name = "B  langgraph + AsyncSqliteSaver, sync"
        yield Case(StepCase(name), one_run, marks, check)


@contextlib.asynccontextmanager
async def corrigo_on(url: str, durability: str, steps: int, name: str) -> AsyncIterator[Case]:
    """The loop as corrigo runs it: a stored step per iteration, on the store at ``url``."""
    import corrigo
    from corrigo.agents.solver import solver_messages
    from corrigo.graphs.context import StepLog
    from corrigo.sandbox.base import get_sandbox
    from corrigo.storage.checkpoint import open_checkpointer

    task = bench_task()
    messages = solver_messages(task)
    model = ZeroLatencyModel()
    sandbox = get_sandbox("process")  # never started: ask() does not use it
    spec = RunSpec(
        task=task,
        strategy="bench_loop",
        roles={"solver": model.spec},
        store=name,
        corrigo_version="bench",
    )
    marks: list[float] = []
    last: list[str] = []
    async with corrigo.open_store(url) as store, open_checkpointer(store) as checkpointer:
        compiled: Any = loop_graph(asking_node(marks, messages), RunContext).compile(
            checkpointer=checkpointer
        )

        async def one_run() -> None:
            record = await store.create_run(spec)
            ctx = RunContext(
                run_id=record.id,
                task=task,
                roles={"solver": model},
                sandbox=sandbox,
                log=StepLog(store, record.id),
                started=time.time(),
            )
            await drain(
                compiled.astream(
                    {"i": 0, "n": steps},
                    context=ctx,
                    config=run_config(record.id),
                    stream_mode=STREAM_MODE,
                    durability=durability,
                )
            )
            outcome = Outcome(
                run_id=record.id,
                task_id=task.id,
                stop_reason="verified",
                strategy=spec.strategy,
                rounds=steps,
                totals=Totals(model_calls=steps, tokens_in=120 * steps, tokens_out=60 * steps),
            )
            await store.finish_run(record.id, outcome)
            if checkpointer is not None:  # as execute() does once a run is finished
                await checkpointer.adelete_thread(record.id)
            last[:] = [record.id]

        async def check() -> str:
            stored = len(await store.get_steps(last[0]))
            status = (await store.get_run(last[0])).status
            problems = [] if checkpointer is not None else ["no checkpointer for this store"]
            if stored != steps or status != "finished":
                problems.append(f"last run: {stored} of {steps} steps stored, status {status}")
            return "; ".join(problems)

        yield Case(StepCase(name), one_run, marks, check, store, checkpointer)


class Timer:
    """Wall time inside coroutine methods of one object, summed by label."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.patched: list[tuple[Any, str]] = []

    def wrap(self, owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)

        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                spent = time.perf_counter() - started
                self.seconds[label] = self.seconds.get(label, 0.0) + spent

        setattr(owner, name, timed)  # an instance attribute: only this object is timed
        self.patched.append((owner, name))

    def undo(self) -> None:
        for owner, name in self.patched:
            delattr(owner, name)
        self.patched.clear()


async def breakdown(case: Case, runs: int = 5) -> dict[str, float]:
    """Wall ms per step inside the store's and the checkpointer's calls (extra runs)."""
    timer = Timer()
    for name in ("create_run", "append_step", "finish_run"):
        timer.wrap(case.store, name, f"store.{name}")
    if case.checkpointer is not None:
        for name in ("aput", "aput_writes", "adelete_thread"):
            timer.wrap(case.checkpointer, name, f"checkpoint.{name}")
    steps = 0
    started = time.perf_counter()
    try:
        for _ in range(runs):
            case.marks.clear()
            await case.one_run()
            steps += len(case.marks)
    finally:
        timer.undo()
    out = {label: s * 1000 / steps for label, s in sorted(timer.seconds.items())}
    out["whole run"] = (time.perf_counter() - started) * 1000 / steps
    return out


# (case name, steps profiled, cProfile.Profile) of the profiled cases, printed after the table
_PROFILES: list[tuple[str, int, Any]] = []


async def cprofile_runs(case: Case, runs: int = 5) -> None:
    """A cProfile of ``runs`` extra runs (the event-loop thread only)."""
    import cProfile

    profiler = cProfile.Profile()
    steps = 0
    profiler.enable()
    try:
        for _ in range(runs):
            case.marks.clear()
            await case.one_run()
            steps += len(case.marks)
    finally:
        profiler.disable()
    _PROFILES.append((case.figures.name, steps, profiler))


# ------------------------------------------------------------------ backends


@dataclass
class Backend:
    """A store URL plus how to remove what it holds."""

    name: str
    url: str
    drop: Callable[[], None]
    label: str = ""


def sqlite_backend(folder: Path, stem: str) -> Backend:
    path = folder / f"{stem}.db"

    def drop() -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)

    return Backend("sqlite", f"sqlite:///{path}", drop, str(path))


def postgres_backend(base: str, schema: str | None = None) -> Backend:
    """A fresh (or the named) schema in ``base``'s database; drop() removes it."""
    import psycopg

    schema = schema or f"corrigo_bench_{uuid.uuid4().hex[:10]}"
    conninfo = base.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    driver = conninfo.replace("postgresql://", "postgresql+psycopg://", 1)
    joiner = "&" if "?" in driver else "?"

    def drop() -> None:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    return Backend("postgres", f"{driver}{joiner}options=-csearch_path%3D{schema}", drop, schema)


def redis_backend(base: str, prefix: str | None = None) -> Backend:
    """A fresh (or the named) key prefix; drop() deletes every key under it."""
    import redis

    prefix = prefix or f"corrigo-bench-{uuid.uuid4().hex[:10]}"
    client = redis.Redis.from_url(base, socket_connect_timeout=5)
    client.ping()
    joiner = "&" if "?" in base else "?"

    def drop() -> None:
        doomed = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        for start in range(0, len(doomed), 1000):
            client.delete(*doomed[start : start + 1000])

    return Backend("redis", f"{base}{joiner}prefix={prefix}", drop, prefix)


def make_backend(kind: str, folder: Path, stem: str, args: argparse.Namespace) -> Backend:
    if kind == "sqlite":
        return sqlite_backend(folder, stem)
    if kind == "postgres":
        return postgres_backend(args.postgres)
    return redis_backend(args.redis)


@contextlib.contextmanager
def cleanup(backends: list[Backend]) -> Iterator[None]:
    try:
        yield
    finally:
        for backend in backends:
            try:
                backend.drop()
            except Exception as exc:
                print(f"  (could not clean up {backend.name} {backend.label}: {reason(exc)})")


# ------------------------------------------------------------------ part 1


async def step_cases(args: argparse.Namespace, folder: Path) -> list[StepCase]:
    """Every case set up, then run in turns (one run of each, in a rotating order), so a
    change in the machine's load touches every case alike."""
    steps = args.steps
    openers: list[tuple[str, Callable[[], contextlib.AbstractAsyncContextManager[Case]]]] = [
        ("A  langgraph, no checkpointer", lambda: plain_langgraph(steps)),
        ("B  langgraph + AsyncSqliteSaver, sync", lambda: langgraph_sqlite_saver(steps, folder)),
    ]
    made: list[Backend] = []

    def corrigo_opener(kind: str, durability: str, name: str) -> Any:
        @contextlib.asynccontextmanager
        async def opener() -> AsyncIterator[Case]:
            backend = make_backend(kind, folder, f"steps-{durability}", args)
            made.append(backend)
            async with corrigo_on(backend.url, durability, steps, name) as case:
                yield case

        return opener

    for kind in args.backends:
        for durability in ["sync", "async"] if kind == "sqlite" else ["sync"]:
            name = f"corrigo {kind}, {durability}"
            openers.append((name, corrigo_opener(kind, durability, name)))
    results: list[StepCase] = []
    live: list[Case] = []
    with cleanup(made):
        async with contextlib.AsyncExitStack() as stack:
            for name, opener in openers:
                try:
                    case = await stack.enter_async_context(opener())
                except Exception as exc:
                    results.append(StepCase(name, blocked=reason(exc)))
                    continue
                results.append(case.figures)
                live.append(case)
            for turn in range(args.warmup + args.runs):
                shift = turn % max(1, len(live))
                for case in live[shift:] + live[:shift]:
                    if case.figures.blocked is None:
                        try:
                            await case.timed(counted=turn >= args.warmup)
                        except Exception as exc:
                            case.figures.blocked = reason(exc)
            for case in live:
                if case.figures.blocked is not None:
                    continue
                case.finish()
                try:
                    if case.check is not None:
                        case.figures.check = await case.check()
                    if args.profile and case.store is not None:
                        case.figures.breakdown = await breakdown(case)
                    if args.profile and case.figures.name == "corrigo sqlite, sync":
                        await cprofile_runs(case)
                except Exception as exc:
                    case.figures.check += f" (checks failed: {reason(exc)})"
    return results


def print_step_table(cases: list[StepCase], args: argparse.Namespace) -> None:
    print(
        f"Per step: {args.runs} runs × {args.steps} steps per case after {args.warmup} warm-up "
        "runs, the cases taking turns; ms per step"
    )
    ref_a = next((c.wall_per_step for c in cases if c.name.startswith("A ")), None)
    ref_b = next((c.wall_per_step for c in cases if c.name.startswith("B ")), None)
    print(
        f"{'case':<38} {'p50':>7} {'p95':>7} {'mean':>7} {'wall/step':>10} {'cpu/step':>9} "
        f"{'× A':>6} {'× B':>6}"
    )
    for c in cases:
        if c.blocked is not None or c.wall_per_step is None:
            print(f"{c.name:<38} blocked: {c.blocked}")
            continue
        assert c.p50 is not None and c.p95 is not None and c.mean is not None
        assert c.cpu_per_step is not None
        xa = f"{c.wall_per_step / ref_a:6.1f}" if ref_a else f"{'-':>6}"
        xb = f"{c.wall_per_step / ref_b:6.2f}" if ref_b else f"{'-':>6}"
        print(
            f"{c.name:<38} {c.p50:7.3f} {c.p95:7.3f} {c.mean:7.3f} {c.wall_per_step:10.3f} "
            f"{c.cpu_per_step:9.3f} {xa} {xb}"
        )
        if c.check:
            print(f"    check: {c.check}")
    print()
    for c in cases:
        if c.name.startswith("corrigo sqlite"):
            if c.wall_per_step is None:
                print(f"SQLite target (≤ {TARGET_STEP_MS:g} ms/step): {c.name}: not measured")
                continue
            met = "MET" if c.wall_per_step <= TARGET_STEP_MS else "NOT MET"
            typical = "within" if c.p50 is not None and c.p50 <= TARGET_STEP_MS else "over"
            print(
                f"SQLite target (≤ {TARGET_STEP_MS:g} ms/step, durable step writes): "
                f"{c.name}: {c.wall_per_step:.3f} ms/step wall → {met} "
                f"(p50 step {c.p50:.3f} ms: {typical} it)"
            )
    shown = [c for c in cases if c.breakdown]
    if shown:
        print("\nWhere a step's wall time goes (5 extra runs, ms per step; async checkpoint")
        print("writes overlap the next step, so they need not add up):")
        for c in shown:
            parts = ", ".join(f"{k} {v:.3f}" for k, v in c.breakdown.items())
            print(f"  {c.name}: {parts}")


# Event-loop machinery and this script's own frames: every await passes through them.
_PLUMBING = ("asyncio/", "selectors.py", "benchmarks/store.py", "contextvars", "epoll")


def short_path(path: str) -> str:
    path = path.split("site-packages/", 1)[-1]
    return path.replace(str(ROOT) + "/", "")


def print_profiles() -> None:
    import pstats

    for name, steps, profiler in _PROFILES:
        stats = pstats.Stats(profiler)
        table = stats.stats  # type: ignore[attr-defined]
        per_step = 1000 / steps
        rows: list[tuple[float, float, int, str]] = [
            (cum, own, calls, f"{short_path(path)}:{line}({func})")
            for (path, line, func), (_, calls, own, cum, _) in table.items()
            if not any(p in path or p in func for p in _PLUMBING)
        ]
        print(
            f"\ncProfile, {name}: 5 runs, {steps} steps, event-loop thread only "
            "(event-loop plumbing left out), ms per step"
        )
        by_cum = sorted(rows, key=lambda r: r[0], reverse=True)
        by_own = sorted(rows, key=lambda r: r[1], reverse=True)
        for title, ranked in (("top 10 cumulative", by_cum), ("top 10 own time", by_own)):
            print(f"  {title}:")
            print(f"    {'cum':>7} {'own':>7} {'calls/step':>10}  function")
            for row in ranked[:10]:
                cum, own, calls, where = row
                print(
                    f"    {cum * per_step:7.3f} {own * per_step:7.3f} "
                    f"{calls * per_step / 1000:10.1f}  {where}"
                )


# ------------------------------------------------------------------ part 2


@dataclass
class Listing:
    backend: str
    runs: int = 0
    steps: int = 0
    build_seconds: float | None = None
    reused: bool = False
    note: str = ""
    list_p50: float | None = None
    list_p95: float | None = None
    cli_p50: float | None = None
    cli_min: float | None = None
    blocked: str | None = None


async def build_listing(url: str, runs: int, per_run: int, budget: float) -> tuple[int, float]:
    """``runs`` finished runs of ``per_run`` steps each, eight written at a time, through
    the store API; stops starting new runs once ``budget`` seconds have passed."""
    import corrigo
    from corrigo.agents.solver import solver_messages
    from corrigo.tasks import load_tasks

    try:
        tasks = load_tasks("humaneval[:50]")
    except Exception:
        tasks = [bench_task()]
    started = time.perf_counter()
    done = 0
    next_index = 0
    async with corrigo.open_store(url) as store:

        async def worker() -> None:
            nonlocal done, next_index
            while next_index < runs and time.perf_counter() - started < budget:
                index = next_index
                next_index += 1
                task = tasks[index % len(tasks)]
                spec = RunSpec(
                    task=task,
                    strategy="refine",
                    roles={"solver": ZeroLatencyModel.spec},
                    corrigo_version="bench",
                    batch_id=f"bench-listing-{index // 100}",
                )
                record = await store.create_run(spec)
                template = Step(
                    run_id=record.id,
                    seq=0,
                    round=0,
                    role="solver",
                    node="solve",
                    kind="model",
                    messages=solver_messages(task),
                    output=REPLY_TEXT,
                    model=ZeroLatencyModel.spec,
                    usage=Usage(tokens_in=120, tokens_out=60),
                )
                for seq in range(1, per_run + 1):
                    step = template.model_copy(update={"seq": seq, "round": (seq - 1) // 4})
                    await store.append_step(step)
                outcome = Outcome(
                    run_id=record.id,
                    task_id=task.id,
                    stop_reason="verified",
                    strategy=spec.strategy,
                    totals=Totals(model_calls=per_run),
                )
                await store.finish_run(record.id, outcome)
                done += 1

        await asyncio.gather(*(worker() for _ in range(8)))
    return done, time.perf_counter() - started


async def time_list_runs(url: str, calls: int) -> tuple[list[float], list[str]]:
    """``calls`` timings of ``list_runs(limit=50)``, and the ids it lists."""
    import corrigo

    times: list[float] = []
    async with corrigo.open_store(url) as store:
        ids = [r.id for r in await store.list_runs(limit=50)]  # warm: connection, caches
        for _ in range(calls):
            started = time.perf_counter()
            await store.list_runs(limit=50)
            times.append((time.perf_counter() - started) * 1000)
    return times, ids


def time_command(argv: list[str], calls: int, env: dict[str, str]) -> tuple[list[float], str]:
    """Wall ms of ``argv`` run ``calls`` times; the error's last line if it ever fails."""
    times: list[float] = []
    for _ in range(calls):
        started = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        times.append((time.perf_counter() - started) * 1000)
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines()
            return times, f"exit {done.returncode}: {lines[-1] if lines else ''}"
    return times, ""


def cli_lists(cli: list[str], ids: list[str], env: dict[str, str]) -> str:
    """A note unless ``cli`` with ``--json`` lists exactly the runs ``ids`` (not timed)."""
    done = subprocess.run([*cli, "--json"], capture_output=True, text=True, env=env, check=False)
    try:
        listed = [r["id"] for r in json.loads(done.stdout)]
    except (ValueError, TypeError, KeyError):
        lines = (done.stderr or done.stdout).strip().splitlines()
        return f" corrigo runs --json gave no run list: {lines[-1] if lines else ''}"
    return "" if listed == ids else f" corrigo runs listed {len(listed)} other runs"


def load_manifest(keep: Path | None) -> dict[str, Any]:
    if keep is None or not (keep / "manifest.json").exists():
        return {}
    try:
        data = json.loads((keep / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_manifest(keep: Path | None, manifest: dict[str, Any]) -> None:
    if keep is not None:
        (keep / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def listing_backend(kind: str, folder: Path, args: argparse.Namespace) -> Backend:
    """The listing store of this size: fixed names with ``--keep`` (to be found again),
    fresh random ones otherwise."""
    size = f"{args.list_runs}x{args.list_steps}"
    if kind == "sqlite":
        return sqlite_backend(folder, f"listing-{size}")
    if kind == "postgres":
        schema = f"corrigo_bench_list_{size}" if args.keep else None
        return postgres_backend(args.postgres, schema=schema)
    if kind == "redis":
        prefix = f"corrigo-bench-list-{size}" if args.keep else None
        return redis_backend(args.redis, prefix=prefix)
    raise SystemExit(f"unknown backend {kind!r}: sqlite, postgres or redis")


async def listing_cases(args: argparse.Namespace, folder: Path) -> list[Listing]:
    keep: Path | None = args.keep
    manifest = load_manifest(keep)
    size = f"{args.list_runs}x{args.list_steps}"
    env = {**os.environ, "CORRIGO_HOME": str(folder / "home"), "COLUMNS": "160"}
    out: list[Listing] = []
    temporary: list[Backend] = []
    with cleanup(temporary):
        for kind in args.backends:
            row = Listing(kind)
            out.append(row)
            kept = manifest.get(f"{kind}:{size}")
            try:
                backend = listing_backend(kind, keep or folder, args)
            except Exception as exc:
                row.blocked = f"{kind} unavailable: {reason(exc)}"
                continue
            if keep is None:
                temporary.append(backend)
            try:
                if isinstance(kept, dict) and await _still_there(backend.url):
                    row.runs, row.steps = kept["runs"], kept["steps"]
                    row.build_seconds, row.reused = kept.get("build_seconds"), True
                else:
                    if keep is not None:  # a kept store that is gone or was left half-built
                        backend.drop()
                        backend = listing_backend(kind, keep, args)
                    print(
                        f"  building the {kind} listing store ({args.list_runs} runs × "
                        f"{args.list_steps} steps)…",
                        flush=True,
                    )
                    row.runs, row.build_seconds = await build_listing(
                        backend.url, args.list_runs, args.list_steps, args.build_budget
                    )
                    row.steps = row.runs * args.list_steps
                    if keep is not None:
                        manifest[f"{kind}:{size}"] = {
                            "label": backend.label,
                            "runs": row.runs,
                            "steps": row.steps,
                            "build_seconds": row.build_seconds,
                        }
                        save_manifest(keep, manifest)
                if row.runs < args.list_runs:
                    row.note = (
                        f"smaller than asked: building stopped at the {args.build_budget:g} s "
                        f"budget ({row.runs} of {args.list_runs} runs)"
                    )
                times, ids = await time_list_runs(backend.url, args.list_calls)
                row.list_p50, row.list_p95 = percentile(times, 50), percentile(times, 95)
                if len(ids) != min(50, row.runs):
                    row.note += f" list_runs returned {len(ids)} runs"
                cli = [sys.executable, "-m", "corrigo", "runs", "-n", "50", "--store", backend.url]
                row.note += cli_lists(cli, ids, env)
                cli_times, error = time_command(cli, args.cli_calls, env)
                if error:
                    row.note += f" corrigo runs failed: {error}"
                else:
                    row.cli_p50, row.cli_min = percentile(cli_times, 50), min(cli_times)
                if args.profile and kind == "sqlite":
                    _IMPORTS.append((kind, import_profile(cli, env)))
            except Exception as exc:
                row.blocked = reason(exc)
    return out


async def _still_there(url: str) -> bool:
    import corrigo

    try:
        async with corrigo.open_store(url) as store:
            return bool(await store.list_runs(limit=1))
    except Exception:
        return False


def import_profile(argv: list[str], env: dict[str, str]) -> list[tuple[float, str]]:
    """The top-level imports of one run of ``argv`` (a Python command) under
    ``-X importtime``, by cumulative ms, largest first."""
    done = subprocess.run(
        [argv[0], "-X", "importtime", *argv[1:]],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    out = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|")
        if name.startswith("  ") or not cumulative.strip().isdigit():
            continue  # a nested import: counted in its top-level one
        out.append((int(cumulative) / 1000, name.strip()))
    return sorted(out, reverse=True)


# (backend, [(ms, top-level module)]) of `corrigo runs` under -X importtime (--profile)
_IMPORTS: list[tuple[str, list[tuple[float, str]]]] = []


def startup_times(calls: int, folder: Path) -> dict[str, float]:
    env = {**os.environ, "CORRIGO_HOME": str(folder / "home")}
    out: dict[str, float] = {}
    for label, code in (("python -c pass", "pass"), ("import corrigo.cli", "import corrigo.cli")):
        times, _ = time_command([sys.executable, "-c", code], calls, env)
        out[label] = percentile(times, 50)
    return out


def print_listing(rows: list[Listing], startup: dict[str, float], args: argparse.Namespace) -> None:
    print(
        f"\nListing 50 runs: list_runs p50/p95 over {args.list_calls} calls; "
        f"'corrigo runs -n 50 --store URL' p50 (min) over {args.cli_calls} subprocesses"
    )
    print(
        f"{'backend':<10} {'runs':>6} {'steps':>8} {'built in':>12} "
        f"{'list p50':>9} {'list p95':>9} {'cli p50':>9} {'cli min':>9}"
    )
    for r in rows:
        if r.blocked is not None:
            print(f"{r.backend:<10} blocked: {r.blocked}")
            continue
        built = "reused" if r.reused else (f"{r.build_seconds:.1f} s" if r.build_seconds else "-")

        def ms(value: float | None) -> str:
            return f"{value:9.1f}" if value is not None else f"{'-':>9}"

        print(
            f"{r.backend:<10} {r.runs:>6} {r.steps:>8} {built:>12} "
            f"{ms(r.list_p50)} {ms(r.list_p95)} {ms(r.cli_p50)} {ms(r.cli_min)}"
        )
        if r.note:
            print(f"    note: {r.note.strip()}")
    print(
        "Python start-up for comparison (p50): "
        + ", ".join(f"{k} {v:.1f} ms" for k, v in startup.items())
    )
    for backend, imports in _IMPORTS:
        total = sum(spent for spent, _ in imports)
        print(
            f"'corrigo runs' on {backend} under -X importtime (one run, which the flag slows): "
            f"{total:.0f} ms of imports; the largest top-level ones:"
        )
        for spent, module in imports[:8]:
            print(f"    {spent:8.1f} ms  {module}")
    for r in rows:
        if r.list_p50 is None:
            continue
        parts = [f"list_runs p50 {r.list_p50:.1f} ms"]
        if r.cli_p50 is not None:
            parts.append(f"corrigo runs p50 {r.cli_p50:.1f} ms")
        met = r.cli_p50 is not None and r.cli_p50 < TARGET_LIST_MS
        print(
            f"Listing target (< {TARGET_LIST_MS:g} ms, {r.steps} steps) on {r.backend}: "
            + ", ".join(parts)
            + f" → corrigo runs {'MET' if met else 'NOT MET'}"
            + (
                f"; in process {'MET' if r.list_p50 < TARGET_LIST_MS else 'NOT MET'}"
                if r.list_p50 is not None
                else ""
            )
        )


# ------------------------------------------------------------------ main


def environment() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    versions: dict[str, str | None] = {}
    for name in ("langgraph", "langgraph-checkpoint-sqlite", "sqlalchemy", "redis", "psycopg"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "commit": commit,
        "packages": versions,
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument("--runs", type=int, help="timed runs per case (20)")
    parser.add_argument("--steps", type=int, help="steps per run (100)")
    parser.add_argument("--warmup", type=int, help="uncounted runs per case (2)")
    parser.add_argument("--backends", default="sqlite,postgres,redis")
    parser.add_argument("--postgres", default=POSTGRES, help=f"server URL ({POSTGRES})")
    parser.add_argument("--redis", default=REDIS, help=f"server URL ({REDIS})")
    parser.add_argument("--list-runs", type=int, help="runs in the listing store (2000)")
    parser.add_argument("--list-steps", type=int, help="steps per listing run (50)")
    parser.add_argument("--list-calls", type=int, help="list_runs calls timed (30)")
    parser.add_argument("--cli-calls", type=int, help="'corrigo runs' subprocesses timed (5)")
    parser.add_argument(
        "--build-budget", type=float, default=120.0, help="seconds per listing store build"
    )
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: steps,listing")
    parser.add_argument("--keep", type=Path, help="keep (and reuse) the listing stores here")
    parser.add_argument("--profile", action="store_true", help="per-call breakdown + cProfile")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    quick = {"runs": 3, "steps": 20, "warmup": 1, "list_runs": 100, "list_steps": 10}
    full = {"runs": 20, "steps": 100, "warmup": 2, "list_runs": 2000, "list_steps": 50}
    quick |= {"list_calls": 5, "cli_calls": 1}
    full |= {"list_calls": 30, "cli_calls": 5}
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(args.backends) - {"sqlite", "postgres", "redis"}
    if unknown:
        parser.error(f"unknown backend(s) {', '.join(sorted(unknown))}: sqlite, postgres, redis")
    args.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if args.keep is not None:
        args.keep = args.keep.expanduser().resolve()
        args.keep.mkdir(parents=True, exist_ok=True)
    return args


def main() -> None:
    args = parse_args()
    info = environment()
    print(
        f"corrigo store benchmark: commit {info['commit']}, Python {info['python']}, "
        f"{info['cpus']} CPUs (load average {info['load_average'][0]:.2f}), "
        f"langgraph {info['packages']['langgraph']}" + (" (--quick)" if args.quick else "")
    )
    result: dict[str, Any] = {"environment": info, "args": {}}
    result["args"] = {
        k: (str(v) if isinstance(v, Path) else sorted(v) if isinstance(v, set) else v)
        for k, v in vars(args).items()
    }
    with tempfile.TemporaryDirectory(prefix="corrigo-bench-store-") as tmp:
        folder = Path(tmp)
        if "steps" not in args.skip:
            cases = asyncio.run(step_cases(args, folder))
            print()
            print_step_table(cases, args)
            print_profiles()
            result["steps"] = [asdict(c) for c in cases]
        if "listing" not in args.skip:
            print()
            rows = asyncio.run(listing_cases(args, folder))
            startup = startup_times(args.cli_calls, folder)
            print_listing(rows, startup, args)
            result["listing"] = [asdict(r) for r in rows]
            result["startup_ms"] = startup
    load = [round(x, 2) for x in os.getloadavg()]
    result["load_average_after"] = load
    print(f"\nload average at the end: {load[0]:.2f} (1 min), {load[1]:.2f} (5 min)")
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nfigures written to {args.json}")


if __name__ == "__main__":
    main()
