"""The Ray executor at scale: its dispatch overhead per run, runs/s by actors and nodes,
the store's write rate, and the capacity model they give.

A fault-free OpenAI-compatible server (``serve`` of ``benchmarks/concurrency.py``: a
process of its own on 127.0.0.1, every reply after ``--latency`` seconds, the canonical
solution of the HumanEval problem asked) answers every model call; every run is
``single`` (k = 1 model call), on HumanEval problems repeated under distinct ids. A local
Ray cluster (``tests/ray_cluster.py``: nodes on 127.0.0.2 with one CPU each, stopped by
killing exactly the processes it started) runs the actors, and the runs are stored in a
fresh store (``--store redis``, the default, or ``postgres``: a new key prefix or schema,
removed at the end).

1. Dispatch overhead. Two sessions open on the same store: the local executor (this
   process's event loop, ``--concurrency`` C runs at once) and the Ray executor with one
   actor running C at once. Each gets a warm-up call first (so Ray's connection, the
   actor's start, its session and the model check are not measured), then ``--runs`` N
   runs per call, the two taking turns (``--turns``) so a change in the machine's load
   falls on both. Overhead per run = (ray wall − local wall) / N, from the median walls.
   CPU per run is printed for the driver (this process, every thread), the driver's
   children (the local sandbox worker), the cluster (every process the cluster's nodes
   started: raylets, GCS, the actors and their sandbox workers) and the model server.
2. runs/s by actors: one node, 1, 2 and 4 actors of ``--per-actor`` runs at once each;
   then a second node (``cluster.add_node()``, the same host) and 2 and 4 actors spread
   over both (the executor pins actors round robin over the nodes). Each configuration
   is a session of its own with a warm-up call, its calls taking turns with the local
   executor at the same total concurrency (actors × per-actor), the reference the ratio
   is against. On one host every actor shares the same two cores, so more actors or
   nodes show Ray's cost, not a cluster's gain.
3. The store's write rate: ``append_step`` on PostgreSQL and on Redis (fresh, opened
   with ``open_store``), ``--writers`` W concurrent writers each appending to a run of
   its own (as runs in flight do) until ``--steps`` steps are written; the steps are
   copies of a stored step of a ``single`` run. The backends take turns. One client
   process, so the figure is one driver's ceiling as much as the server's: its CPU per
   step is printed beside it.
4. The capacity model: runs/s per actor (the one-actor figure of part 2) × actors per
   node (``--actors-per-node``) × nodes, capped by the store's steps/s ÷ steps per run
   (counted in the store). The store calls a run makes (counted on the local session's
   store and checkpointer during its warm-up) are printed too, since steps are not the
   only writes: a tighter bound counts every write (checkpoints, the run record, the
   ray actor's ``claim_run``) as costing one step's.

The cluster's CPU is every process its nodes started, idle ones included (the raylets'
and GCS's background work shows up under the local executor's calls too); a process that
ended during a call is left out of it. Ray starts its workers (the actors, and so their
sandbox workers) at niceness 15 (``RAY_worker_niceness``), the driver and its local
executor at 0: on a busy host the actors get the CPU last. The actors' niceness is
printed; ``--worker-niceness 0`` starts the cluster with the same priority as the driver.
``--parts 1,2`` (or any subset of 1,2,3) runs only those parts. The helper's
cluster counts the processes new since ``ray start`` began as the node's: a cluster
started at the same moment by another program (the test suite) confuses it, so a failed
start is retried, only processes naming this benchmark's temp dir (or their node's id)
are kept as the node's, and those left at the end are killed.

Figures are medians over the turns (the faster middle one of an even count); times are
``time.perf_counter`` around a whole ``run`` call (the ray executor's ``create_run`` of
every queued run included). Nothing is asserted; a case that fails is printed as
``blocked:`` with its reason.

    .venv/bin/python benchmarks/ray_scale.py [--runs 256] [--concurrency 32]
        [--per-actor 16] [--latency 0.25] [--store redis|postgres] [--turns 3]
        [--writers 32] [--steps 2000] [--actors-per-node 2] [--worker-niceness N]
        [--parts 1,2,3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import multiprocessing
import os
import signal
import statistics
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

TICK = os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------ CPU of other processes


def _stat(pid: int) -> list[str]:
    """``/proc/PID/stat``'s fields from the state on (field n at n − 3); [] when gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def tree_cpu(roots: Collection[int], without: Collection[int] = ()) -> dict[int, float]:
    """CPU seconds by process of ``roots`` and everything below them, except
    ``without``'s trees; a process's own and its reaped children's."""
    from tests.ray_cluster import descendants

    skip = set(without)
    for pid in without:
        skip |= descendants(pid)
    pids: set[int] = set()
    for root in roots:
        pids |= {root, *descendants(root)}
    found = {p: _stat(p) for p in pids - skip}
    # utime stime cutime cstime
    return {p: sum(int(x) for x in f[11:15]) / TICK for p, f in found.items() if f}


def grown(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two :func:`tree_cpu` readings by the processes alive at
    the second (one that ended between them is left out: an undercount, never below 0)."""
    return sum(max(0.0, cpu - before.get(pid, 0.0)) for pid, cpu in after.items())


def niceness(pids: Collection[int]) -> list[int]:
    return sorted({int(f[16]) for f in map(_stat, pids) if f})


# ------------------------------------------------------------ the cluster


def ours(temp: Path) -> set[int]:
    """Every process of the clusters whose files are under ``temp``: those naming it on
    their command line, those naming one of their nodes' ids (the client server), and
    everything below them (agents, actors, sandbox workers)."""
    import re

    from tests.ray_cluster import _cmdline, _pids, descendants

    lines = {p: _cmdline(p) for p in _pids()}
    roots = {p for p, line in lines.items() if str(temp) in line}
    ids = {m for p in roots for m in re.findall(r"--node[-_]id=([0-9a-f]{16,})", lines[p])}
    roots |= {p for p, line in lines.items() if any(i in line for i in ids)}
    found = set(roots)
    for root in roots:
        found |= descendants(root)
    return found - {os.getpid()}


def known(cluster: Any) -> set[int]:
    from tests.ray_cluster import descendants

    pids: set[int] = set()
    for node in cluster.nodes:
        pids |= {node.raylet, *node.processes, *descendants(node.raylet)}
    return pids


def kill(pids: set[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def keep_ours(cluster: Any, temp: Path) -> None:
    """The helper takes every process new since ``ray start`` began as the node's: with
    another cluster starting on this host at the same time (the test suite), some are
    not. Only ours stay the node's, so stopping it never kills another's."""
    mine = ours(temp)
    for node in cluster.nodes:
        node.processes &= mine


@contextlib.contextmanager
def head_node(temp: Path) -> Iterator[Any]:
    """``tests/ray_cluster.py``'s cluster of one node, started again (up to 3 times) when
    another cluster starting at the same moment made the helper count two new raylets
    (it then raises, leaving the started node running: killed here, found by ``temp``).
    Whatever is left under ``temp`` at the end is killed too."""
    from tests.ray_cluster import ray_cluster

    with contextlib.ExitStack() as stack:
        stack.callback(lambda: kill(ours(temp)))
        for attempt in range(3):
            try:
                cluster = stack.enter_context(ray_cluster(temp / f"ray{attempt}", workers=0))
                break
            except RuntimeError as exc:
                if "expected one new raylet" not in str(exc) or attempt == 2:
                    raise
                print(f"  (head start retried: {exc})", file=sys.stderr)
                kill(ours(temp))
        keep_ours(cluster, temp)
        yield cluster


def add_node(cluster: Any, temp: Path) -> None:
    """``cluster.add_node()``, retried like :func:`head_node`'s start."""
    for attempt in range(3):
        try:
            cluster.add_node()
            break
        except RuntimeError as exc:
            if "expected one new raylet" not in str(exc) or attempt == 2:
                raise
            print(f"  (node start retried: {exc})", file=sys.stderr)
            kill(ours(temp) - known(cluster))
    keep_ours(cluster, temp)


class Server:
    """The model server process of ``benchmarks/concurrency.py``."""

    def __init__(self, latency: float) -> None:
        import concurrency

        context = multiprocessing.get_context("spawn")
        self.conn, theirs = context.Pipe()
        self.process = context.Process(
            target=concurrency.serve, args=(theirs, latency, True), daemon=True
        )
        self.process.start()
        self.url: str = self.conn.recv()

    def reset(self) -> None:
        self.conn.send(("reset", None))

    def stats(self) -> tuple[int, int, float]:
        """Peak requests in flight since the reset, requests served, its CPU seconds."""
        self.conn.send(("stats", None))
        peak, requests, cpu = self.conn.recv()
        return int(peak), int(requests), float(cpu)

    def stop(self) -> None:
        self.conn.send(("stop", None))
        self.process.join(10)


# ------------------------------------------------------------ one call


@dataclass
class Call:
    label: str
    runs: int
    concurrency: int
    wall: float
    driver_cpu: float
    children_cpu: float
    cluster_cpu: float
    server_cpu: float
    peak: int
    good: int
    run_ids: list[str]


class Bench:
    def __init__(self, args: argparse.Namespace, server: Server, home: Path) -> None:
        import corrigo

        self.args = args
        self.server = server
        self.cluster: Any = None
        self.temp = home.parent / "ray"
        self.batch = 0
        self.settings = corrigo.Settings.from_env(
            {
                "OPENAI_BASE_URL": server.url,
                "OPENAI_API_KEY": "bench",
                "CORRIGO_HOME": str(home),
                "CORRIGO_MODEL_CONCURRENCY": str(max(64, args.concurrency, args.per_actor)),
            }
        )

    def tasks(self, n: int) -> list[Any]:
        """HumanEval problems repeated under ids no other call used."""
        from corrigo.tasks import load_tasks

        pool = load_tasks("humaneval")
        self.batch += 1
        return [
            pool[i % len(pool)].model_copy(
                update={"id": f"{pool[i % len(pool)].id}#{self.batch}.{i}"}
            )
            for i in range(n)
        ]

    def cluster_cpu(self) -> dict[int, float]:
        if self.cluster is None:
            return {}
        roots: set[int] = set()
        for node in self.cluster.nodes:
            roots |= {node.raylet, *node.processes}
        return tree_cpu(roots)

    def actor_niceness(self) -> list[int]:
        """The niceness of the RunWorker actors (Ray lowers its workers' priority)."""
        from tests.ray_cluster import _cmdline

        pids = {p for p in self.cluster_cpu() if _cmdline(p).startswith("ray::RunWorker")}
        return niceness(pids)

    def children_cpu(self) -> dict[int, float]:
        """This process's children but the model server (the local sandbox worker)."""
        from tests.ray_cluster import descendants

        server = self.server.process.pid or 0
        return tree_cpu(descendants(os.getpid()) - {server}, {server})

    async def call(self, label: str, session: Any, n: int, concurrency: int) -> Call:
        from corrigo.lifecycle.api import run

        tasks = self.tasks(n)
        self.server.reset()
        server0 = self.server.stats()[2]
        cluster0 = self.cluster_cpu()
        children0 = self.children_cpu()
        cpu0 = time.process_time()
        started = time.perf_counter()
        outcomes = await run(
            tasks,
            strategy="single",
            model="openai:fake",
            max_rounds=1,
            session=session,
            concurrency=concurrency,
        )
        wall = time.perf_counter() - started
        driver = time.process_time() - cpu0
        children = grown(children0, self.children_cpu())
        cluster = grown(cluster0, self.cluster_cpu())
        peak, _, server1 = self.server.stats()
        good = sum(1 for o in outcomes if o.hidden_passed and o.totals.model_calls == 1)
        return Call(
            label,
            n,
            concurrency,
            wall,
            driver,
            children,
            cluster,
            server1 - server0,
            peak,
            good,
            [o.run_id for o in outcomes],
        )


def median_call(calls: list[Call]) -> Call:
    """The call of median wall time (the lower one of an even count)."""
    ordered = sorted(calls, key=lambda c: c.wall)
    return ordered[(len(ordered) - 1) // 2]


def show(call: Call, latency: float, reference: Call | None = None) -> None:
    ms = 1000 / call.runs
    rate = call.runs / call.wall
    ideal = call.concurrency / latency
    ratio = f"  ×local {rate / (reference.runs / reference.wall):.2f}" if reference else ""
    print(
        f"  {call.label:<22} C={call.concurrency:<3} runs={call.runs}  wall={call.wall:6.2f} s  "
        f"runs/s={rate:6.1f}  ideal={ideal:6.1f}  eff={100 * rate / ideal:5.1f} %{ratio}  "
        f"peak in flight={call.peak}  ok={call.good}/{call.runs}"
    )
    print(
        f"  {'':<22} CPU ms/run: driver {call.driver_cpu * ms:5.2f}, driver's children "
        f"{call.children_cpu * ms:5.2f}, cluster {call.cluster_cpu * ms:5.2f}, model server "
        f"{call.server_cpu * ms:5.2f}; total "
        f"{(call.driver_cpu + call.children_cpu + call.cluster_cpu + call.server_cpu) * ms:5.2f}"
    )


# ------------------------------------------------------------ counting store calls


def count_calls(obj: Any, counts: Counter[str], prefix: str) -> Callable[[], None]:
    """Count the calls of ``obj``'s public coroutine methods; returns the undo."""
    names = [
        n
        for n in dir(type(obj))
        if not n.startswith("_") and inspect.iscoroutinefunction(getattr(type(obj), n, None))
    ]
    for name in names:
        original = getattr(obj, name)

        async def counted(*a: Any, _f: Any = original, _n: str = name, **k: Any) -> Any:
            counts[prefix + _n] += 1
            return await _f(*a, **k)

        setattr(obj, name, counted)

    def undo() -> None:
        for name in names:
            delattr(obj, name)

    return undo


# ------------------------------------------------------------ parts 1 and 2


async def part1(bench: Bench, store_url: str, found: dict[str, Any]) -> None:
    from corrigo.lifecycle.executor import get_executor
    from corrigo.lifecycle.session import Session

    args = bench.args
    c, n = args.concurrency, args.runs
    print(
        f"\n1. dispatch overhead: N={n} runs, C={c} at once, L={args.latency * 1000:.0f} ms, "
        f"ideal C/(k·L) = {c / args.latency:.1f} runs/s (k=1); {args.turns} turns"
    )
    ray_executor = get_executor("ray", bench.cluster.address, actors=1, per_actor=c)
    async with (
        Session(bench.settings, store_url) as local,
        Session(bench.settings, store_url, ray_executor) as ray,
    ):
        counts: Counter[str] = Counter()
        undo = [count_calls(local.store, counts, "store.")]
        if local.checkpointer is not None:
            undo.append(count_calls(local.checkpointer, counts, "checkpointer."))
        try:
            warm = await bench.call("local warm-up", local, c, c)
        finally:
            for step in undo:
                step()
        found["calls_per_run"] = {k: v / warm.runs for k, v in counts.items()}
        await bench.call("ray warm-up", ray, c, c)
        calls: dict[str, list[Call]] = {"local": [], "ray 1×C": []}
        for turn in range(args.turns):
            order = [("local", local), ("ray 1×C", ray)]
            for label, session in order if turn % 2 == 0 else order[::-1]:
                calls[label].append(await bench.call(label, session, n, c))
        local_call, ray_call = median_call(calls["local"]), median_call(calls["ray 1×C"])
        steps = [len(await ray.store.get_steps(r)) for r in ray_call.run_ids]
        found["steps_per_run"] = statistics.mean(steps)
        nice = bench.actor_niceness()
    print(
        f"  niceness: driver {os.nice(0)}, ray actor {nice} "
        f"(Ray's worker_niceness; --worker-niceness sets it)"
    )
    for label in calls:
        walls = ", ".join(f"{x.wall:.2f}" for x in calls[label])
        print(f"  {label} walls by turn: {walls} s")
    show(local_call, args.latency)
    show(ray_call, args.latency, local_call)
    overhead = (ray_call.wall - local_call.wall) / n
    print(
        f"  ray overhead per run: ({ray_call.wall:.2f} − {local_call.wall:.2f}) s / {n} = "
        f"{overhead * 1000:.2f} ms wall; driver CPU/run {local_call.driver_cpu / n * 1000:.2f} "
        f"ms local vs {ray_call.driver_cpu / n * 1000:.2f} ms ray (+ cluster "
        f"{ray_call.cluster_cpu / n * 1000:.2f} ms)"
    )


def actors_per_node() -> list[int]:
    """Live RunWorker actors by node, most first (read from the GCS)."""
    from ray._private import state

    found = Counter(
        a["Address"]["NodeID"]
        for a in state.actors().values()
        if a.get("State") == "ALIVE" and "RunWorker" in str(a.get("ActorClassName"))
    )
    return sorted(found.values(), reverse=True)


async def one_config(
    bench: Bench,
    store_url: str,
    local: Any,
    label: str,
    actors: int,
    nodes: int,
    found: dict[str, Any],
) -> Call | None:
    from corrigo.lifecycle.executor import get_executor
    from corrigo.lifecycle.session import Session

    args = bench.args
    total = actors * args.per_actor
    executor = get_executor("ray", bench.cluster.address, actors=actors, per_actor=args.per_actor)
    try:
        async with Session(bench.settings, store_url, executor) as session:
            started = time.perf_counter()
            await bench.call("warm-up", session, total, total)
            warm = time.perf_counter() - started
            placed = actors_per_node()
            nice = bench.actor_niceness()
            ray_calls: list[Call] = []
            local_calls: list[Call] = []
            for turn in range(args.turns):
                pair = [
                    (ray_calls, label, session),
                    (local_calls, f"local C={total}", local),
                ]
                for into, name, where in pair if turn % 2 == 0 else pair[::-1]:
                    into.append(await bench.call(name, where, args.runs, total))
            if "steps_per_run" not in found:
                run_ids = median_call(ray_calls).run_ids
                steps = [len(await session.store.get_steps(r)) for r in run_ids]
                found["steps_per_run"] = statistics.mean(steps)
    except Exception as exc:  # printed; the other cases still run
        print(f"  {label}: blocked: {type(exc).__name__}: {exc}")
        traceback.print_exc(file=sys.stderr)
        return None
    ray_call, local_call = median_call(ray_calls), median_call(local_calls)
    print(
        f"  {label}: {actors} actor(s) on {nodes} node(s), actors per node "
        f"{placed}, niceness {nice}; warm-up (connect, start, check) {warm:.1f} s"
    )
    show(ray_call, args.latency, local_call)
    show(local_call, args.latency)
    return ray_call


async def part2(bench: Bench, store_url: str, found: dict[str, Any]) -> None:
    from corrigo.lifecycle.session import Session

    args = bench.args
    print(
        f"\n2. runs/s by actors ({args.per_actor} runs at once each), N={args.runs} per call, "
        f"against the local executor at the same total C; {args.turns} turns"
    )
    rates: dict[tuple[int, int], float] = {}
    async with Session(bench.settings, store_url) as local:
        await bench.call("local warm-up", local, args.per_actor, args.per_actor)
        for nodes, counts in ((1, (1, 2, 4)), (2, (2, 4))):
            if nodes == 2:
                started = time.perf_counter()
                add_node(bench.cluster, bench.temp)
                print(f"  (second node started in {time.perf_counter() - started:.1f} s)")
            for actors in counts:
                call = await one_config(
                    bench, store_url, local, f"ray {actors}×{args.per_actor}", actors, nodes, found
                )
                if call is not None:
                    rates[(nodes, actors)] = call.runs / call.wall
    print("  runs/s:  nodes  actors  runs/s  per actor")
    for (nodes, actors), rate in rates.items():
        print(f"          {nodes:5}  {actors:6}  {rate:6.1f}  {rate / actors:9.1f}")
    found["rates"] = rates


# ------------------------------------------------------------ part 3: the store


async def write_rate(url: str, template: Any, writers: int, steps: int) -> tuple[float, float]:
    """Steps/s of ``append_step`` with ``writers`` at once, and CPU seconds per step."""
    from corrigo.records import RunSpec, Task
    from corrigo.storage.factory import open_store

    spec = RunSpec(
        task=Task(id="bench/1", prompt="Write f.", entry_point="f"),
        strategy="single",
        roles={"solver": "openai:fake"},
    )
    per = max(1, steps // writers)
    async with open_store(url) as store:
        runs = [await store.create_run(spec) for _ in range(writers)]
        for run in runs:  # one each first: connections opened, scripts loaded
            await store.append_step(template.model_copy(update={"run_id": run.id, "seq": 1}))

        async def writer(run_id: str) -> None:
            for seq in range(2, per + 2):
                await store.append_step(template.model_copy(update={"run_id": run_id, "seq": seq}))

        cpu0 = time.process_time()
        started = time.perf_counter()
        await asyncio.gather(*(writer(r.id) for r in runs))
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu0
    return per * writers / wall, cpu / (per * writers)


async def part3(bench: Bench, store_url: str, found: dict[str, Any], temp: Path) -> None:
    from corrigo.storage.factory import open_store
    from tests.stores import fresh_store_url

    args = bench.args
    print(
        f"\n3. store write rate: append_step, {args.writers} writers at once (a run each), "
        f"{args.steps} steps per measurement, {args.turns} turns"
    )
    try:
        async with open_store(store_url) as store:
            runs = await store.list_runs(limit=1)
            stored = await store.get_steps(runs[0].id)
        template = max(stored, key=lambda s: len(s.model_dump_json()))
        what = f"a copy of a stored '{template.kind}' step of a single run"
    except Exception as exc:  # no run stored (parts 1 and 2 blocked): a made-up step
        from corrigo.records import Step, Usage

        template = Step(
            run_id="",
            seq=1,
            round=1,
            role="solver",
            node="solve",
            kind="model",
            output="x" * 2000,
            usage=Usage(tokens_in=300, tokens_out=500, latency_ms=250.0),
        )
        what = f"a made-up model step (no stored one: {type(exc).__name__})"
    print(f"  step written: {what}, {len(template.model_dump_json())} bytes of JSON")
    results: dict[str, list[tuple[float, float]]] = {"postgres": [], "redis": []}
    for turn in range(args.turns):
        order = ["postgres", "redis"] if turn % 2 == 0 else ["redis", "postgres"]
        for kind in order:
            try:
                with fresh_store_url(kind, temp) as url:
                    results[kind].append(await write_rate(url, template, args.writers, args.steps))
            except Exception as exc:  # printed; the other backend still runs
                print(f"  {kind}: blocked: {type(exc).__name__}: {exc}")
    found["store_rate"] = {}
    for kind, got in results.items():
        if not got:
            continue
        rate = statistics.median(r for r, _ in got)
        cpu = statistics.median(c for _, c in got)
        found["store_rate"][kind] = rate
        by_turn = ", ".join(f"{r:.0f}" for r, _ in got)
        print(
            f"  {kind:<8} steps/s {rate:7.0f} (by turn: {by_turn}); client CPU "
            f"{cpu * 1000:.2f} ms/step (one process)"
        )


# ------------------------------------------------------------ part 4: the model


READS = ("get", "list", "search", "count", "aget", "alist", "asearch")


def capacity(args: argparse.Namespace, found: dict[str, Any]) -> None:
    print("\n4. capacity model: runs/s = min(R_actor × actors/node × nodes, S_store / steps_run)")
    per_run = found.get("steps_per_run")
    calls: dict[str, float] = found.get("calls_per_run") or {}
    writes = sum(v for k, v in calls.items() if not k.split(".", 1)[1].startswith(READS))
    if calls:
        shown = ", ".join(f"{k} {v:g}" for k, v in sorted(calls.items()))
        print(f"  store calls per single run (local executor): {shown}; writes {writes:g}")
    rates = found.get("rates") or {}
    store = found.get("store_rate") or {}
    if (1, 1) not in rates or not per_run or not store:
        print("  blocked: a figure it needs is missing (see above)")
        return
    r_actor = rates[(1, 1)]
    a = args.actors_per_node
    caps = {kind: rate / per_run for kind, rate in store.items()}
    print(
        f"  R_actor = {r_actor:.1f} runs/s (1 actor × {args.per_actor}, L="
        f"{args.latency * 1000:.0f} ms, this host), actors/node = {a}, steps_run = "
        f"{per_run:g} (counted in the store)"
    )
    for kind, cap in caps.items():
        print(
            f"  {kind} cap = {store[kind]:.0f} steps/s / {per_run:g} = {cap:.0f} runs/s, reached "
            f"at {cap / r_actor:.0f} actors ({cap / (r_actor * a):.1f} nodes); if every write "
            f"of a run cost a step's ({writes:g} + 1 claim_run on ray): "
            f"{store[kind] / (writes + 1):.0f} runs/s"
        )
    for nodes in (1, 2, 4, 8, 16, 32, 64):
        raw = r_actor * a * nodes
        capped = ", ".join(f"{k} {min(raw, cap):.0f}" for k, cap in caps.items())
        print(
            f"    nodes={nodes:<3} actors={a * nodes:<4} uncapped {raw:7.0f} runs/s; "
            f"capped by steps: {capped}"
        )


# ------------------------------------------------------------ main


async def main_async(args: argparse.Namespace, server: Server, temp: Path) -> None:
    from tests.stores import fresh_store_url

    bench = Bench(args, server, temp / "home")
    found: dict[str, Any] = {}
    parts = {int(x) for x in args.parts.split(",") if x.strip()}
    if args.worker_niceness is not None:  # read by the raylets ``ray start`` starts
        from ray._private.ray_constants import RAY_WORKER_NICENESS

        os.environ[RAY_WORKER_NICENESS] = str(args.worker_niceness)
    with fresh_store_url(args.store, temp) as store_url:
        if parts & {1, 2}:
            started = time.perf_counter()
            with head_node(temp / "ray") as cluster:
                bench.cluster = cluster
                print(
                    f"cluster: head at {cluster.address} started in "
                    f"{time.perf_counter() - started:.1f} s; store {args.store}; model server "
                    f"{server.url}, L={args.latency * 1000:.0f} ms; {os.cpu_count()} CPUs, "
                    f"load {os.getloadavg()[0]:.2f}"
                )
                if 1 in parts:
                    try:
                        await part1(bench, store_url, found)
                    except Exception as exc:  # printed; the other parts still run
                        print(f"  blocked: {type(exc).__name__}: {exc}")
                        traceback.print_exc(file=sys.stderr)
                if 2 in parts:
                    await part2(bench, store_url, found)
                bench.cluster = None
        if 3 in parts:
            await part3(bench, store_url, found, temp)
    capacity(args, found)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=256, help="runs per measured call (N)")
    parser.add_argument("--concurrency", type=int, default=32, help="part 1's C")
    parser.add_argument("--per-actor", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.25)
    parser.add_argument("--store", choices=["redis", "postgres"], default="redis")
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--writers", type=int, default=32)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--actors-per-node", type=int, default=2)
    parser.add_argument(
        "--worker-niceness",
        type=int,
        default=None,
        help="RAY_worker_niceness for the cluster (default: Ray's, 15)",
    )
    parser.add_argument("--parts", default="1,2,3", help="which of parts 1-3 to run")
    args = parser.parse_args()
    from tests.ray_cluster import use_token

    use_token()  # the cluster's token, in this process's environment before Ray is imported
    started = time.perf_counter()
    server = Server(args.latency)
    try:
        with tempfile.TemporaryDirectory(prefix="ray-scale-") as temp:
            asyncio.run(main_async(args, server, Path(temp)))
    finally:
        server.stop()
    print(f"\n(whole benchmark: {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
