"""Throughput against a model server with a fixed latency: how close corrigo gets to C/(k·L).

A fault-injecting OpenAI-compatible server (``tests/model_server.py``, in a process of its
own so it never competes for this process's GIL) answers every call after ``L`` seconds
with a scripted reply. With ``C`` tasks in flight and ``k`` model calls per task, a run
with no overhead finishes C/(k·L) tasks per second; everything else a task does (LangGraph,
pydantic records, the store, the sandbox, the OpenAI client) shows up as lost efficiency.

Two cases, on HumanEval problems repeated under distinct ids until a run lasts about
``--seconds`` at the ideal rate:

- k = 1: ``single``; the solver replies with the canonical solution, which passes.
- k = 3: ``refine``; the solver replies with a broken solution (every return value
  corrupted), the reviewer names the fault, the refiner replies with the canonical one.
  Only problems with visible tests are used, since a broken solution passes none of them.

Prints per case: C, k, L, tasks, seconds (from the first task's start to the last one's
end; ``setup`` is the rest of the ``run`` call), tasks/s, the ideal, efficiency, the
server's peak of requests in flight, and CPU per task: this process's event-loop thread,
its other threads (the store's worker threads, the HTTP client), the sandbox worker and
its forks, and the model server.

``--profile`` adds, per case, where a task's time goes (wall time per task of the
sandbox calls, the store calls, the model calls above the server's latency, and the rest),
the CPU cost of building and compiling the strategy's graph, and a cProfile of the
event-loop thread: own time by package and the top functions.

The server process raises the stdlib's listen backlog from 5 (a burst of 32 new
connections overflows it and the client resends its SYNs after 1 s) and speaks HTTP/1.1
keep-alive, as real model servers do; ``--no-keep-alive`` keeps HTTP/1.0, one connection
per call.

    .venv/bin/python benchmarks/concurrency.py [--concurrency 32] [--latency 0.25]
        [--seconds 10] [--cases 1,3] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import re
import resource
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CRITIQUE = "The wrapper after the function corrupts every return value; remove it."

# ------------------------------------------------------------ the model server process


def _system_prompt(name: str) -> str:
    text = (ROOT / "corrigo" / "agents" / "prompts" / f"{name}.txt").read_text()
    return text.split("=== user ===", 1)[0].strip()


class Script:
    """Replies by role (told apart by the system prompt) and problem (found in the prompt)."""

    def __init__(self) -> None:
        from corrigo.tasks import load_tasks
        from corrigo.tasks.humaneval import broken_solution, problem

        self.broken_first = False
        self.roles = {_system_prompt(r): r for r in ("solver", "reviewer", "refiner")}
        self.by_entry: dict[str, list[dict[str, str]]] = {}
        self.broken: dict[str, str] = {}
        for task in load_tasks("humaneval"):
            self.by_entry.setdefault(task.entry_point, []).append(problem(task.id))
            self.broken[task.id] = broken_solution(task.id)

    def problem(self, text: str) -> dict[str, str]:
        for name in dict.fromkeys(re.findall(r"def (\w+)\(", text)):
            for p in self.by_entry.get(name, []):
                if p["prompt"].strip() in text:
                    return p
        raise ValueError("no HumanEval prompt in the request")

    def reply(self, messages: list[dict[str, Any]]) -> str:
        system = next((m["content"] for m in messages if m["role"] == "system"), "")
        user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        role = self.roles.get(system.strip())
        if role == "reviewer":
            return CRITIQUE
        p = self.problem(user)
        body = self.broken[p["task_id"]] if role == "solver" and self.broken_first else None
        return f"```python\n{p['prompt']}{body or p['canonical_solution']}```\n"


def serve(conn: Any, latency: float, keep_alive: bool) -> None:
    """The server process: serves until told ``stop``; answers ``mode``/``reset``/``stats``."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from tests.model_server import ServerState, model_server

    # This process serves nothing else. The stdlib's listen backlog of 5 drops the SYNs of
    # a burst of new connections (the client resends them after 1 s): a real server's is
    # in the thousands. HTTP/1.0 (the stdlib's default) closes every connection after one
    # answer; real servers keep them open.
    ThreadingHTTPServer.request_queue_size = 1024
    if keep_alive:
        BaseHTTPRequestHandler.protocol_version = "HTTP/1.1"
    report_error = ThreadingHTTPServer.handle_error

    def handle_error(self: Any, request: Any, address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client closing an idle one
            report_error(self, request, address)

    ThreadingHTTPServer.handle_error = handle_error  # type: ignore[method-assign,assignment]

    script = Script()
    state = ServerState(latency=latency, reply_by=script.reply)
    with model_server(state) as url:
        conn.send(url)
        while True:
            op, arg = conn.recv()
            if op == "mode":
                script.broken_first = bool(arg)
            elif op == "reset":
                with state.lock:
                    state.peak_in_flight = 0
                    state.requests.clear()
                    state.headers.clear()
                    state.arrivals.clear()
            elif op == "stats":
                cpu = resource.getrusage(resource.RUSAGE_SELF)
                conn.send((state.peak_in_flight, len(state.arrivals), cpu.ru_utime + cpu.ru_stime))
            else:
                break


# ------------------------------------------------------------ instrumentation (--profile)


class Timings:
    """Wall time spent inside patched coroutine methods, summed by label."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._undo: list[Callable[[], None]] = []

    def wrap(self, owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)

        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - started
                self.calls[label] = self.calls.get(label, 0) + 1

        setattr(owner, name, timed)
        self._undo.append(lambda: setattr(owner, name, original))

    def undo(self) -> None:
        for step in reversed(self._undo):
            step()
        self._undo.clear()


def instrument(timings: Timings) -> None:
    import corrigo.lifecycle.execute
    from corrigo.models.chat import LangChainModel
    from corrigo.sandbox.process import WorkerSandbox
    from corrigo.storage.sql import SQLStore

    timings.wrap(corrigo.lifecycle.execute, "execute", "task")
    timings.wrap(WorkerSandbox, "run_tests", "sandbox")
    timings.wrap(LangChainModel, "complete", "model")
    for name in ("create_run", "append_step", "finish_run"):
        timings.wrap(SQLStore, name, f"store.{name}")


GROUPS = (
    ("langgraph", "langgraph"),
    ("langchain", "langchain_core"),
    ("langchain", "langchain_openai"),
    ("openai client", "/openai/"),
    ("httpx", "httpx"),
    ("pydantic", "pydantic"),
    ("sqlalchemy", "sqlalchemy"),
    ("corrigo.sandbox", "corrigo/sandbox"),
    ("corrigo.storage", "corrigo/storage"),
    ("corrigo (other)", "corrigo/"),
    ("asyncio", "asyncio"),
    ("json", "/json/"),
)


def grouped(stats: Any) -> dict[str, float]:
    """Own (exclusive) CPU seconds per package, from pstats' raw table."""
    out: dict[str, float] = {}
    for (filename, _, _), (_, _, own, _, _) in stats.stats.items():
        group = next((g for g, needle in GROUPS if needle in filename), None)
        if group is None:
            group = "builtins/C" if filename == "~" else "other"
        out[group] = out.get(group, 0.0) + own
    return out


# ------------------------------------------------------------ one case


async def one_case(
    url: str, k: int, concurrency: int, latency: float, n: int, profile: bool
) -> dict[str, Any]:
    import corrigo
    from corrigo.tasks import load_tasks

    pool = load_tasks("humaneval")
    if k == 3:
        pool = [t for t in pool if t.visible_tests]
    tasks = [
        pool[i % len(pool)].model_copy(update={"id": f"{pool[i % len(pool)].id}#{i}"})
        for i in range(n)
    ]
    first: list[float] = []
    last: list[float] = []

    def on_event(task_id: str, event: dict[str, Any]) -> None:
        if not first:
            first.append(time.perf_counter())

    def on_outcome(outcome: Any) -> None:
        last[:] = [time.perf_counter()]

    timings = Timings()
    profiler = None
    with tempfile.TemporaryDirectory() as home:
        settings = corrigo.Settings.from_env(
            {
                "OPENAI_BASE_URL": url,
                "OPENAI_API_KEY": "x",
                "CORRIGO_HOME": home,
                "CORRIGO_MODEL_CONCURRENCY": "64",
            }
        )
        if profile:
            import cProfile

            instrument(timings)
            profiler = cProfile.Profile()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        thread0, process0 = time.thread_time(), time.process_time()
        if profiler is not None:
            profiler.enable()
        try:
            outcomes = await corrigo.run(
                tasks,
                strategy="single" if k == 1 else "refine",
                model="openai:fake",
                settings=settings,
                concurrency=concurrency,
                max_rounds=1 if k == 1 else 3,
                on_event=on_event,
                on_outcome=on_outcome,
            )
        finally:
            if profiler is not None:
                profiler.disable()
            timings.undo()
        wall = time.perf_counter() - started
        loop_cpu = time.thread_time() - thread0
        other_cpu = time.process_time() - process0 - loop_cpu
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the sandbox worker, now reaped
    sandbox_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    calls = [o.totals.model_calls for o in outcomes]
    good = sum(1 for o, c in zip(outcomes, calls, strict=True) if c == k and o.hidden_passed)
    odd = Counter(
        f"{o.task_id.split('#')[0]} {o.stop_reason} calls={c} hidden={o.hidden_passed} "
        f"error={o.error}"
        for o, c in zip(outcomes, calls, strict=True)
        if c != k or not o.hidden_passed
    )
    return {
        "k": k,
        "tasks": n,
        "steady": last[0] - first[0],
        "wall": wall,
        "good": good,
        "odd": odd,
        "calls": sum(calls),
        "loop_cpu": loop_cpu,
        "other_cpu": other_cpu,
        "sandbox_cpu": sandbox_cpu,
        "timings": timings,
        "profiler": profiler,
    }


# ------------------------------------------------------------ report


def report(case: dict[str, Any], c: int, latency: float, server: tuple[int, int, float]) -> None:
    k, n = case["k"], case["tasks"]
    ideal = c / (k * latency)
    rate = n / case["steady"]
    peak, requests, server_cpu = server
    print(
        f"C={c}  k={k}  L={latency * 1000:.0f} ms  tasks={n}  "
        f"seconds={case['steady']:.2f} (setup {case['wall'] - case['steady']:.2f})  "
        f"tasks/s={rate:.1f}  ideal={ideal:.1f}  efficiency={100 * rate / ideal:.1f} %  "
        f"peak in flight={peak}"
    )
    ms = 1000 / n
    print(
        f"    checks: {case['good']}/{n} tasks passed with exactly k calls; "
        f"{case['calls']} model calls, {requests} requests served"
    )
    for text, count in case["odd"].most_common(5):
        print(f"    {count}× {text}")
    print(
        f"    CPU ms/task: event loop {case['loop_cpu'] * ms:.2f}, other threads "
        f"{case['other_cpu'] * ms:.2f}, sandbox {case['sandbox_cpu'] * ms:.2f}, "
        f"model server {server_cpu * ms:.2f}; event loop busy "
        f"{100 * case['loop_cpu'] / case['wall']:.0f} % of the wall time"
    )
    timings: Timings = case["timings"]
    if not timings.seconds:
        return
    task = timings.seconds["task"] * ms
    model = timings.seconds.get("model", 0.0) * ms
    sandbox = timings.seconds.get("sandbox", 0.0) * ms
    store = sum(v for key, v in timings.seconds.items() if key.startswith("store.")) * ms
    rest = task - model - sandbox - store
    print(
        f"    wall ms/task: whole task {task:.1f} = model calls {model:.1f} "
        f"(server latency {k * latency * 1000:.0f}, above it {model - k * latency * 1000:.1f}) "
        f"+ sandbox {sandbox:.1f} + store {store:.1f} + the rest (graph, records) {rest:.1f}"
    )
    detail = ", ".join(
        f"{key} {timings.calls[key] / n:.1f}× {1000 * v / timings.calls[key]:.1f} ms"
        for key, v in sorted(timings.seconds.items())
        if key != "task"
    )
    print(f"    per call: {detail}")
    import pstats

    from corrigo.graphs.registry import get_strategy

    strategy = get_strategy("single" if k == 1 else "refine")
    started = time.thread_time()
    for _ in range(20):
        strategy.build().compile()
    print(
        f"    graph build + compile, done by runner.execute for every task (timed apart, "
        f"no profiler): {(time.thread_time() - started) / 20 * 1000:.2f} ms CPU"
    )
    stats = pstats.Stats(case["profiler"])
    table = stats.stats  # type: ignore[attr-defined]
    groups = grouped(stats)
    print(
        "    event-loop thread under cProfile (which inflates pure-Python code), own time "
        "by package, ms/task: "
        + ", ".join(
            f"{g} {v * ms:.2f}"
            for g, v in sorted(groups.items(), key=lambda kv: -kv[1])
            if v * ms >= 0.1
        )
    )
    print("    top functions by own time:")
    stats.sort_stats("tottime")
    shown = 0
    for func in stats.fcn_list:  # type: ignore[attr-defined]
        _, calls, own, cum, _ = table[func]
        path, line, name = func
        if name == "poll" or "select.epoll" in name:
            continue  # waiting for I/O, not work
        short = re.sub(r"^.*site-packages/", "", path).replace(str(ROOT) + "/", "")
        print(
            f"      {own * ms:6.2f} own {cum * ms:7.2f} cum  {calls / n:6.1f}×/task  {short}:{line}({name})"
        )
        shown += 1
        if shown == 15:
            break


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.25)
    parser.add_argument("--seconds", type=float, default=10.0, help="run length at the ideal rate")
    parser.add_argument("--cases", default="1,3", help="model calls per task: 1 and/or 3")
    parser.add_argument("--tasks", type=int, default=0, help="tasks per case (default: --seconds)")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--no-keep-alive", action="store_true", help="the server closes each connection (HTTP/1.0)"
    )
    args = parser.parse_args()

    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    server = context.Process(
        target=serve, args=(theirs, args.latency, not args.no_keep_alive), daemon=True
    )
    server.start()
    url = ours.recv()
    try:
        for k in (int(x) for x in args.cases.split(",")):
            ideal = args.concurrency / (k * args.latency)
            n = args.tasks or math.ceil(args.seconds * ideal / args.concurrency) * args.concurrency
            ours.send(("mode", k == 3))
            ours.send(("reset", None))
            ours.send(("stats", None))
            cpu0 = ours.recv()[2]
            case = asyncio.run(one_case(url, k, args.concurrency, args.latency, n, args.profile))
            ours.send(("stats", None))
            peak, requests, cpu1 = ours.recv()
            report(case, args.concurrency, args.latency, (peak, requests, cpu1 - cpu0))
    finally:
        ours.send(("stop", None))
        server.join(10)


if __name__ == "__main__":
    main()
