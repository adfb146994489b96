"""``corrigo serve`` under load: POST latency, step-stored → event-delivered latency, and
events lost or duplicated, with a scripted model, all on loopback.

Targets (from the issue): with 100 concurrent event-stream clients and 20 submissions a
second for a minute, p50 / p99 of ``POST /v1/runs`` and of step stored → event
delivered, and events lost or duplicated: 0.

The server is the real one, ``python -m corrigo serve --host 127.0.0.1 --port <free>``
in a subprocess, configured as a deployment would be, through its environment: one token
(``CORRIGO_API_TOKENS``), a suite ``bench`` (a JSONL file in a temp dir,
``CORRIGO_SERVE_SUITES``), a scripted model ``script`` (a JSON file whose replies come at
once, ``CORRIGO_SERVE_MODELS``), a fresh SQLite store in the temp dir, the ``process``
sandbox, and ``--workers`` (2, the server's default: runs executing at once; the
machine has 2 cores and a run is mostly CPU, in the server and in the sandbox worker).
The per-token limit of queued-or-running runs and the queue bound are the server's
defaults (200 and 1000) unless ``--max-runs-per-token`` / ``--queue-bound`` are given.

Each run is the refine story (``--task fix``): the solver writes a bug, the verifier
runs the visible tests in the sandbox and they fail, the reviewer names the fault, the
refiner fixes it, the verifier passes, the hidden tests are scored: 7 stored steps and
two sandbox calls per run. ``--task add`` is the one-round case (3 steps, one call).

The load, from this process with ``httpx.AsyncClient`` (on the same 2 cores as the
server: its CPU is printed too):

- a submitter posts ``{"tasks": "bench:fix", "strategy": "refine", "model": "script"}``
  at ``--rate`` (20) per second for ``--seconds`` (60), open loop: each POST is sent at
  its scheduled time whether or not the earlier ones have been answered;
- ``--clients`` (100) followers share the accepted runs in submission order: each takes
  the next run, follows ``GET /v1/runs/{id}/events`` to its ``outcome`` event, then takes
  the next. While the queue is longer than the number of followers, every run is
  followed from before it starts; a dropped stream is resumed with ``Last-Event-ID``.
  (The other reading of the issue, one follower per submitted run until 100 are open,
  gives the same picture: under a backlog, most of the 100 streams wait on queued runs.
  Twice a second the script counts the streams open and those still waiting for a
  first step.)

For every event a follower records its seq and the time it arrived. After the window
the queue drains (followers keep following; at most ``--drain-timeout`` seconds), then
every followed run's stored steps are read with ``GET /v1/runs/{id}/steps``:

- lost: a stored step its follower never received; duplicated: a seq received twice by
  one follower (reconnects included); out of order: a seq not above the one before it;
- stored → delivered: receive time minus the step's ``created_at`` (UTC, the same clock),
  set when the step record is built, just before ``append_step`` commits it, so the
  figure includes the commit. Only *live* events count: steps created after the
  follower's stream opened; steps stored before (a stream opened late) are catch-up.

The API's own latency (POST, event delivery) is kept apart from queueing: a run's queue
wait is its first step's ``created_at`` minus the run's ``created_at`` (its submission);
its execution, ``finished_at`` minus that first step. If runs finish more slowly than
they are submitted, the machine cannot keep up and the queue grows for the whole window.

Server CPU is read from ``/proc``: the server process itself (HTTP, event streams, the
queue and the runs' graphs and store calls) and its descendants (the sandbox worker and
the forks that run the tests), over the window and over the drain.

    .venv/bin/python benchmarks/service.py [--quick] [--seconds 60] [--rate 20]
        [--clients 100] [--workers 2] [--task fix|add] [--max-runs-per-token N]
        [--queue-bound N] [--drain-timeout 900]

``--quick`` is a smoke run: 5 s, 4 runs/s, 10 clients.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-token-0123456789abcdef"
TICK = os.sysconf("SC_CLK_TCK")

ADD = "def add(a: int, b: int) -> int:\n    return a + b\n"
BUGGY = "def double(x: int) -> int:\n    return x + 2\n"
FIXED = "def double(x: int) -> int:\n    return x * 2\n"

TASKS: list[dict[str, Any]] = [
    {
        "id": "add",
        "prompt": 'def add(a: int, b: int) -> int:\n    """Sum of a and b."""\n',
        "entry_point": "add",
        "visible_tests": ["assert add(1, 2) == 3"],
        "hidden_tests": ["assert add(-1, 1) == 0"],
    },
    {
        "id": "fix",
        "prompt": 'def double(x: int) -> int:\n    """Twice x."""\n',
        "entry_point": "double",
        "visible_tests": ["assert double(2) == 4", "assert double(5) == 10"],
        "hidden_tests": ["assert double(0) == 0"],
    },
]


def fenced(code: str) -> str:
    return f"```python\n{code.strip()}\n```"


SCRIPT: dict[str, Any] = {
    "model": "bench-script",
    "tasks": {
        "add": {"solver": [fenced(ADD)]},
        "fix": {
            "solver": [fenced(BUGGY)],
            "reviewer": ["It adds 2 instead of multiplying by 2: double(5) returns 7."],
            "refiner": [fenced(FIXED)],
        },
    },
}

# ------------------------------------------------------------------ the server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stat(pid: int) -> tuple[int, float, float] | None:
    """(parent pid, own CPU s, reaped children's CPU s) of ``pid``; None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()  # after the name, which may hold spaces
    own = (int(fields[11]) + int(fields[12])) / TICK
    reaped = (int(fields[13]) + int(fields[14])) / TICK
    return int(fields[1]), own, reaped


def tree_cpu(root: int) -> tuple[float, float]:
    """CPU seconds of ``root`` itself, and of all its descendants (live or reaped)."""
    parents: dict[int, int] = {}
    cpu: dict[int, tuple[float, float]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (found := _stat(int(entry.name))) is not None:
            parents[int(entry.name)], cpu[int(entry.name)] = found[0], found[1:]
    if root not in cpu:
        return 0.0, 0.0
    descendants, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier}
        descendants |= frontier
    others = cpu[root][1] + sum(sum(cpu[pid]) for pid in descendants)
    return cpu[root][0], others


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def logs(self, last: int = 30) -> str:
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return "\n".join(lines[-last:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(folder: Path, args: argparse.Namespace) -> Server:
    suite, script = folder / "bench.jsonl", folder / "script.json"
    suite.write_text("".join(json.dumps(t) + "\n" for t in TASKS))
    script.write_text(json.dumps(SCRIPT))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CORRIGO_"))}
    env |= {
        "CORRIGO_HOME": str(folder / "home"),
        "CORRIGO_API_TOKENS": TOKEN,
        "CORRIGO_SERVE_SUITES": f"bench=jsonl:{suite}",
        "CORRIGO_SERVE_MODELS": f"script=scripted:{script}",
    }
    if args.max_runs_per_token:
        env["CORRIGO_SERVE_MAX_RUNS_PER_TOKEN"] = str(args.max_runs_per_token)
    if args.queue_bound:
        env["CORRIGO_SERVE_QUEUE"] = str(args.queue_bound)
    port = free_port()
    command = [sys.executable, "-m", "corrigo", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--store", f"sqlite:///{folder}/serve.db"]
    command += ["--workers", str(args.workers), "--log-level", "warning"]
    log = folder / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + 90
    while True:
        if process.poll() is not None:
            raise SystemExit(f"corrigo serve exited ({process.returncode}):\n{server.logs()}")
        try:
            if httpx.get(f"{server.url}/v1/health", timeout=5).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise SystemExit(f"corrigo serve did not become healthy:\n{server.logs()}")
        time.sleep(0.2)


# ------------------------------------------------------------------ the load


@dataclass
class Post:
    scheduled: float  # seconds after the window opened
    lag: float  # how late this process sent it (its own event loop's delay)
    seconds: float  # from sending to the answer
    status: int | str
    run_id: str | None = None
    in_flight: int = 0  # the most POSTs awaiting an answer at once, up to this one's answer


@dataclass
class Followed:
    run_id: str
    opened: float = 0.0  # wall time the stream first answered
    events: list[tuple[int, float, float]] = field(default_factory=list)  # seq, received, created
    outcomes: int = 0
    outcome_at: float = 0.0  # wall time the outcome event arrived
    reconnects: int = 0
    error: str = ""


def created(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


async def follow(client: httpx.AsyncClient, seen: Followed) -> Followed:
    """The run's events until its outcome; a dropped stream resumes after the last seq."""
    run_id = seen.run_id
    last: str | None = None
    while seen.outcomes == 0:
        headers = {"Last-Event-ID": last} if last is not None else {}
        try:
            async with client.stream("GET", f"/v1/runs/{run_id}/events", headers=headers) as r:
                if r.status_code != 200:
                    seen.error = f"HTTP {r.status_code}"
                    return seen
                seen.opened = seen.opened or time.time()
                event: dict[str, str] = {}
                async for line in r.aiter_lines():
                    if line:
                        name, _, value = line.partition(":")
                        event[name] = value[1:] if value.startswith(" ") else value
                        continue
                    received = time.time()
                    if event.get("event") == "step":
                        data = json.loads(event["data"])
                        seen.events.append((data["seq"], received, created(data["created_at"])))
                        last = event.get("id")
                    elif event.get("event") == "outcome":
                        seen.outcomes += 1
                        seen.outcome_at = received
                    event = {}
        except httpx.TransportError as exc:
            seen.reconnects += 1
            if seen.reconnects > 5:
                seen.error = f"{type(exc).__name__} (gave up after 5 reconnects)"
                return seen
            continue
        if seen.outcomes == 0:
            seen.reconnects += 1  # the stream ended without its outcome
    return seen


async def follower(
    client: httpx.AsyncClient,
    inbox: asyncio.Queue[str | None],
    out: list[Followed],
    active: dict[str, Followed],
) -> None:
    while (run_id := await inbox.get()) is not None:
        active[run_id] = seen = Followed(run_id)
        out.append(await follow(client, seen))
        del active[run_id]


async def sample_streams(active: dict[str, Followed], into: list[tuple[int, int]]) -> None:
    """Twice a second: (streams open, of which on a run that has stored no step yet)."""
    while True:
        opened = [f for f in active.values() if f.opened]
        into.append((len(opened), sum(1 for f in opened if not f.events)))
        await asyncio.sleep(0.5)


async def post_one(
    client: httpx.AsyncClient, body: dict[str, Any], start: float, at: float
) -> Post:
    lag = time.perf_counter() - start - at
    began = time.perf_counter()
    try:
        response = await client.post("/v1/runs", json=body)
    except httpx.HTTPError as exc:
        return Post(at, lag, time.perf_counter() - began, type(exc).__name__)
    took = time.perf_counter() - began
    run_id = response.json()["run_ids"][0] if response.status_code == 202 else None
    return Post(at, lag, took, response.status_code, run_id)


async def submitter(
    client: httpx.AsyncClient,
    body: dict[str, Any],
    rate: float,
    seconds: float,
    inbox: asyncio.Queue[str | None],
) -> list[Post]:
    """Open loop: POST number i at i/rate seconds; accepted runs go to the followers."""

    async def one(at: float) -> Post:
        outstanding[0] += 1
        peak[0] = max(peak[0], outstanding[0])
        try:
            post = await post_one(client, body, start, at)
        finally:
            outstanding[0] -= 1
        post.in_flight = peak[0]
        if post.run_id is not None:
            await inbox.put(post.run_id)
        return post

    outstanding, peak = [0], [0]
    start = time.perf_counter()
    pending: list[asyncio.Task[Post]] = []
    for i in range(round(rate * seconds)):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        pending.append(asyncio.create_task(one(i / rate)))
    return list(await asyncio.gather(*pending))


@dataclass
class Result:
    posts: list[Post]
    followed: list[Followed]
    unfollowed: int  # accepted runs never followed to their outcome (drain timeout)
    window: float  # wall seconds from the first POST to the last one's answer
    window_end: float  # wall time it ended
    streams: list[tuple[int, int]]  # samples over the window: (open, waiting for a first step)
    drain: float | None  # seconds from the window's end to the last outcome; None: timed out
    cpu: dict[str, tuple[float, float]]  # phase -> (server process, its descendants)
    client_cpu: dict[str, float]
    runs: dict[str, dict[str, Any]]  # run id -> its record, as stored at the end
    steps: dict[str, list[int]]  # run id -> stored seqs


async def warm_up(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    """Three runs, not counted: the first request loads the API's and the run's code."""
    for _ in range(3):
        response = await client.post("/v1/runs", json=body)
        response.raise_for_status()
        seen = await follow(client, Followed(response.json()["run_ids"][0]))
        if seen.error or not seen.events:
            raise SystemExit(f"warm-up run failed: {seen.error or 'no events'}")


async def load(server: Server, args: argparse.Namespace) -> Result:
    body = {"tasks": f"bench:{args.task}", "strategy": "refine", "model": "script"}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    timeout = httpx.Timeout(60.0, read=120.0)  # keep-alive comments come every 15 s
    unlimited = httpx.Limits(max_connections=None, max_keepalive_connections=50)
    wide = httpx.Limits(max_connections=args.clients + 10, max_keepalive_connections=args.clients)
    async with (
        # No connection limit for the submitter: a POST waiting for a free connection in
        # httpx's pool would count the client's queue as the server's latency.
        httpx.AsyncClient(
            base_url=server.url, headers=headers, timeout=timeout, limits=unlimited
        ) as posting,
        httpx.AsyncClient(
            base_url=server.url, headers=headers, timeout=timeout, limits=wide
        ) as following,
    ):
        await warm_up(posting, body)
        pid = server.process.pid
        inbox: asyncio.Queue[str | None] = asyncio.Queue()
        followed: list[Followed] = []
        active: dict[str, Followed] = {}
        workers = [
            asyncio.create_task(follower(following, inbox, followed, active))
            for _ in range(args.clients)
        ]
        streams: list[tuple[int, int]] = []
        sampler = asyncio.create_task(sample_streams(active, streams))
        cpu0, client0 = tree_cpu(pid), time.process_time()
        began = time.perf_counter()
        posts = await submitter(posting, body, args.rate, args.seconds, inbox)
        window, window_end = time.perf_counter() - began, time.time()
        sampler.cancel()
        cpu1, client1 = tree_cpu(pid), time.process_time()
        for _ in workers:
            await inbox.put(None)
        _, waiting = await asyncio.wait(workers, timeout=args.drain_timeout)
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
        cpu2, client2 = tree_cpu(pid), time.process_time()
        outcome_times = [f.outcome_at for f in followed if f.outcomes]
        drain = None if waiting else max([window_end, *outcome_times]) - window_end
        accepted = [p.run_id for p in posts if p.run_id is not None]
        runs, steps = await read_back(posting, [f.run_id for f in followed])
    return Result(
        posts=posts,
        followed=followed,
        unfollowed=len(accepted) - sum(1 for f in followed if f.outcomes),
        window=window,
        window_end=window_end,
        streams=streams,
        drain=drain,
        cpu={
            "window": (cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]),
            "drain": (cpu2[0] - cpu1[0], cpu2[1] - cpu1[1]),
        },
        client_cpu={"window": client1 - client0, "drain": client2 - client1},
        runs=runs,
        steps=steps,
    )


async def read_back(
    client: httpx.AsyncClient, run_ids: Sequence[str]
) -> tuple[dict[str, dict[str, Any]], dict[str, list[int]]]:
    """Each run's record and stored step seqs (after the load: not timed)."""
    runs: dict[str, dict[str, Any]] = {}
    steps: dict[str, list[int]] = {}
    gate = asyncio.Semaphore(8)

    async def one(run_id: str) -> None:
        async with gate:
            runs[run_id] = (await client.get(f"/v1/runs/{run_id}")).json()
            stored = (await client.get(f"/v1/runs/{run_id}/steps")).json()["steps"]
            steps[run_id] = [s["seq"] for s in stored]
            runs[run_id]["first_step_at"] = created(stored[0]["created_at"]) if stored else None

    await asyncio.gather(*(one(r) for r in run_ids))
    return runs, steps


# ------------------------------------------------------------------ report


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def spread(seconds: Sequence[float]) -> str:
    """p50, p99 and max of durations given in seconds: in ms, or in s once past 10 s."""
    if not seconds:
        return "-"
    scale, unit = (1.0, "s") if max(seconds) >= 10 else (1000.0, "ms")
    figures = (percentile(seconds, 50), percentile(seconds, 99), max(seconds))
    return ", ".join(
        f"{k} {v * scale:.1f} {unit}" for k, v in zip(("p50", "p99", "max"), figures, strict=True)
    )


def report(result: Result, args: argparse.Namespace) -> None:
    posts = result.posts
    statuses = Counter(str(p.status) for p in posts)
    accepted = [p for p in posts if p.status == 202]
    refused = {s: n for s, n in statuses.items() if s != "202"}
    print(
        f"\nsubmissions: {len(posts)} sent over {args.seconds:g} s (the last answered "
        f"{result.window:.1f} s after the first was sent), {len(accepted)} accepted (202), "
        "refused: " + (", ".join(f"{n}× {s}" for s, n in sorted(refused.items())) or "none")
    )
    print(f"  POST /v1/runs, all:          {spread([p.seconds for p in posts])}")
    if refused:
        print(f"    accepted:                  {spread([p.seconds for p in accepted])}")
        print(
            f"    refused:                   {spread([p.seconds for p in posts if p.status != 202])}"
        )
    for label, first in (("first", True), ("second", False)):
        half = [p.seconds for p in posts if (p.scheduled < args.seconds / 2) == first]
        print(f"    sent in the {label + ' half:':<14} {spread(half)}")
    print(
        f"  sent late by this process: {spread([p.lag for p in posts])} (the load "
        "generator's own delay, not in the figures above); at most "
        f"{max((p.in_flight for p in posts), default=0)} POSTs awaited an answer at once"
    )

    live: list[float] = []
    catch_up = lost = duplicated = disorder = stored_total = 0
    finished = [f for f in result.followed if f.outcomes]
    for f in finished:
        seqs = [seq for seq, _, _ in f.events]
        counts = Counter(seqs)
        duplicated += sum(n - 1 for n in counts.values())
        disorder += sum(1 for a, b in itertools.pairwise(seqs) if b <= a)
        stored = result.steps.get(f.run_id, [])
        stored_total += len(stored)
        lost += len(set(stored) - set(counts))
        for _, received, made in f.events:
            if made >= f.opened:
                live.append(received - made)
            else:
                catch_up += 1
    errors = Counter(f.error for f in result.followed if f.error)
    print(
        f"\nevents: {len(finished)} runs followed to their outcome by {args.clients} clients, "
        f"{stored_total} steps stored, {sum(len(f.events) for f in finished)} step events "
        f"received ({len(live)} live, {catch_up} catch-up)"
    )
    print(
        f"  lost {lost}, duplicated {duplicated}, out of order {disorder}, outcome events "
        f"{sum(f.outcomes for f in finished)} for {len(finished)} runs, reconnects "
        f"{sum(f.reconnects for f in result.followed)}"
        + (f"; not followed to the end: {result.unfollowed}" if result.unfollowed else "")
        + "".join(f"; {n}× {e}" for e, n in errors.items())
    )
    print(f"  step stored → event delivered (live events): {spread(live)}")
    if result.streams:
        opened = sum(o for o, _ in result.streams) / len(result.streams)
        idle = sum(w for _, w in result.streams) / len(result.streams)
        print(
            f"  streams open during the window: {opened:.1f} on average, {idle:.1f} of them on "
            "a run that had stored no step yet (queued)"
        )

    runs = [r for r in result.runs.values() if r.get("status") == "finished"]
    ends = {r["id"]: created(r["finished_at"]) for r in runs if r.get("finished_at")}
    started = [r for r in runs if r.get("first_step_at") and r["id"] in ends]
    waits = [r["first_step_at"] - created(r["created_at"]) for r in started]
    execs = [ends[r["id"]] - r["first_step_at"] for r in started]
    stops = Counter(str((r.get("outcome") or {}).get("stop_reason")) for r in runs)
    in_window = sum(1 for t in ends.values() if t <= result.window_end)
    backlog = len(accepted) - in_window
    print(
        f"\nruns (queueing, not the API): {in_window} of {len(accepted)} accepted finished "
        f"within the window ({in_window / result.window:.1f} runs/s; accepted "
        f"{len(accepted) / result.window:.1f}/s), {backlog} queued or running at its end; "
        "stop reasons " + ", ".join(f"{n}× {s}" for s, n in stops.most_common())
    )
    print(f"  queue wait (submitted → first step stored): {spread(waits)}")
    print(f"  execution (first step → finished):          {spread(execs)}")
    if result.drain is None:
        print(f"  the queue did not drain within --drain-timeout {args.drain_timeout:g} s")
    else:
        print(f"  the queue drained {result.drain:.1f} s after the window closed")

    cores = os.cpu_count() or 1
    for phase, seconds in (("window", result.window), ("drain", result.drain or 0.0)):
        own, below = result.cpu[phase]
        if seconds < 1:
            continue
        print(
            f"CPU over the {phase} ({seconds:.1f} s, {cores} cores): server process "
            f"{own:.1f} s ({100 * own / seconds:.0f} % of a core), sandbox worker and its "
            f"forks {below:.1f} s ({100 * below / seconds:.0f} %), this load generator "
            f"{result.client_cpu[phase]:.1f} s ({100 * result.client_cpu[phase] / seconds:.0f} %)"
        )
    print()
    # Keeping up: at the window's end no more runs are left than a few seconds' worth
    # of submissions (those just submitted, and the ones executing).
    if result.drain is None or result.drain > max(2.0, 0.05 * result.window):
        rate = in_window / result.window
        print(
            f"verdict: this machine cannot keep up with {args.rate:g} runs/s: it finished "
            f"{rate:.1f} runs/s and the queue grew through the window (the queue wait above "
            "is capacity, not the API's latency)"
            + (f"; {sum(refused.values())} submissions were refused" if refused else "")
        )
        own, below = (seconds / result.window for seconds in result.cpu["window"])
        busy = own + below + result.client_cpu["window"] / result.window
        print(
            f"  CPU: the server process {100 * own:.0f} % of a core (one event loop for HTTP, "
            f"event streams and the runs' graphs and store calls), the sandbox {100 * below:.0f} "
            f"%; with this load generator {busy:.1f} of {os.cpu_count()} cores were busy "
            f"(load average now {os.getloadavg()[0]:.2f}: other work on the machine counts too)"
        )
    else:
        print(f"verdict: this machine kept up with {args.rate:g} runs/s (the queue stayed short)")
    met = lost == duplicated == 0 and not result.unfollowed and not errors
    print(
        f"target: events lost {lost}, duplicated {duplicated} → {'MET' if met else 'NOT MET'}; "
        f"POST p50 {percentile([p.seconds for p in posts], 50) * 1000:.1f} ms / p99 "
        f"{percentile([p.seconds for p in posts], 99) * 1000:.1f} ms; stored → delivered p50 "
        f"{percentile(live or [0], 50) * 1000:.1f} ms / p99 {percentile(live or [0], 99) * 1000:.1f} ms"
    )


# ------------------------------------------------------------------ main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 s, 4 runs/s, 10 clients")
    parser.add_argument("--seconds", type=float, help="length of the submission window (60)")
    parser.add_argument("--rate", type=float, help="submissions per second (20)")
    parser.add_argument("--clients", type=int, help="event-stream clients (100)")
    parser.add_argument("--workers", type=int, default=2, help="the server's --workers (2)")
    parser.add_argument("--task", choices=("fix", "add"), default="fix")
    parser.add_argument("--max-runs-per-token", type=int, help="server default: 200")
    parser.add_argument("--queue-bound", type=int, help="server default: 1000")
    parser.add_argument("--drain-timeout", type=float, default=900.0)
    parser.add_argument("--keep", type=Path, help="keep the server's folder (store, log) here")
    args = parser.parse_args()
    preset = {"seconds": 5.0, "rate": 4.0, "clients": 10} if args.quick else {}
    preset = {"seconds": 60.0, "rate": 20.0, "clients": 100} | preset
    for key, value in preset.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def main() -> None:
    args = parse_args()
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    print(
        f"corrigo service benchmark: commit {commit} (plus the working tree), Python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs (load average "
        f"{os.getloadavg()[0]:.2f})" + (" (--quick)" if args.quick else "")
    )
    print(
        f"load: {args.rate:g} POST /v1/runs a second for {args.seconds:g} s, task "
        f"{args.task!r} (refine, scripted model), {args.clients} event-stream clients; server: "
        f"--workers {args.workers}, SQLite, process sandbox, per-token limit "
        f"{args.max_runs_per_token or '200 (default)'}, queue bound "
        f"{args.queue_bound or '1000 (default)'}"
    )
    with tempfile.TemporaryDirectory(prefix="corrigo-bench-service-") as tmp:
        folder = args.keep.resolve() if args.keep else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        server = start_server(folder, args)
        try:
            result = asyncio.run(load(server, args))
        finally:
            server.stop()
        report(result, args)
        problems = [
            line
            for line in server.logs(2000).splitlines()
            if "Traceback" in line or "ERROR" in line
        ]
        if problems:
            print(f"\nserver log: {len(problems)} error lines, the last: {problems[-1]}")
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (1 min)")


if __name__ == "__main__":
    main()
