"""A real ``corrigo serve`` for tests: uvicorn in a subprocess on 127.0.0.1, a free port.

    from tests.serve_helpers import TOKEN, demo_files, serve

    def test_something(tmp_path: Path) -> None:
        files = demo_files(tmp_path)
        with serve(tmp_path, files) as server:        # SQLite store under tmp_path
            with server.client() as http:              # httpx.Client, token in the header
                submitted = http.post("/v1/runs", json={"tasks": "demo:add"}).json()
                outcome = server.wait(submitted["run_ids"][0])   # the finished RunRecord JSON

What the server is configured with (all server-side, as a deployment would):

- a suite ``demo`` (a JSONL file, :data:`DEMO_TASKS`): ``add`` (right at once),
  ``fix`` (a bug, a critique, a fix: the refine story, 7 steps), ``slow`` (its visible
  test sleeps past the sandbox's wall limit, so the run stays busy for ~10 s: something
  to cancel, or to interrupt);
- a scripted model ``script`` (:data:`SCRIPT`) answering those tasks;
- tokens :data:`TOKEN` and :data:`OTHER_TOKEN`, and a canary ``OPENAI_API_KEY``
  (:data:`CANARY`) that must never appear in a response.

``serve(..., store_url=...)`` takes any store URL (see ``tests/stores.py``), ``env=``
more settings (``CORRIGO_SERVE_*``), ``workers=``. ``server.stop()`` stops it gracefully
(SIGTERM), ``server.kill()`` hard; ``serve`` again on the same store to restart it.
To put stored runs in place for a page, submit them and ``server.wait`` for each.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.helpers import fenced, write_script

TOKEN = "test-token-0123456789abcdef"
OTHER_TOKEN = "other-token-0123456789abcdef"
CANARY = "sk-canary-4c1d2f0e9b8a7c6d5e4f"

ADD = "def add(a: int, b: int) -> int:\n    return a + b\n"
BUGGY = "def double(x: int) -> int:\n    return x + 2\n"
FIXED = "def double(x: int) -> int:\n    return x * 2\n"
SLOW = "def slow() -> int:\n    return 1\n"

DEMO_TASKS: list[dict[str, Any]] = [
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
    {
        "id": "slow",
        "prompt": 'def slow() -> int:\n    """One, eventually."""\n',
        "entry_point": "slow",
        "visible_tests": ["import time\ntime.sleep(60)\nassert slow() == 1"],
        "hidden_tests": ["assert slow() == 1"],
    },
]

SCRIPT: dict[str, Any] = {
    "model": "serve-test-script",
    "tasks": {
        "add": {"solver": [fenced(ADD)]},
        "fix": {
            "solver": [fenced(BUGGY)],
            "reviewer": ["It adds 2 instead of multiplying by 2: double(5) returns 7."],
            "refiner": [fenced(FIXED)],
        },
        "slow": {"solver": [fenced(SLOW)]},
    },
}


@dataclass(frozen=True)
class DemoFiles:
    suite: Path
    script: Path


def demo_files(directory: Path) -> DemoFiles:
    """The demo suite and model script, written under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    suite = directory / "demo.jsonl"
    suite.write_text("".join(json.dumps(t) + "\n" for t in DEMO_TASKS))
    return DemoFiles(suite=suite, script=write_script(directory / "script.yaml", SCRIPT))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    store_url: str
    process: subprocess.Popen[bytes]
    log: Path
    bodies: list[str] = field(default_factory=list)

    def client(self, token: str | None = TOKEN, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        headers.update(kwargs.pop("headers", {}))
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kwargs)

    def wait(self, run_id: str, timeout: float = 120) -> dict[str, Any]:
        """The run once it is finished (polling GET /v1/runs/{id})."""
        deadline = time.monotonic() + timeout
        with self.client() as http:
            while True:
                record = http.get(f"/v1/runs/{run_id}").json()
                if record.get("status") == "finished":
                    return dict(record)
                if time.monotonic() > deadline:
                    raise AssertionError(f"run {run_id} did not finish: {record}\n{self.logs()}")
                time.sleep(0.1)

    def logs(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@contextmanager
def serve(
    tmp_path: Path,
    files: DemoFiles,
    *,
    store_url: str | None = None,
    workers: int = 2,
    env: dict[str, str] | None = None,
    tokens: str = f"{TOKEN},{OTHER_TOKEN}",
) -> Iterator[Server]:
    """``corrigo serve`` on a free loopback port, until the block ends."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    port = free_port()
    store_url = store_url or f"sqlite:///{tmp_path}/serve.db"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CORRIGO_"))}
    full_env.update(
        {
            "CORRIGO_HOME": str(tmp_path / "home"),
            "CORRIGO_API_TOKENS": tokens,
            "CORRIGO_SERVE_SUITES": f"demo=jsonl:{files.suite}",
            "CORRIGO_SERVE_MODELS": f"script=scripted:{files.script}",
            "OPENAI_API_KEY": CANARY,
        }
    )
    full_env.update(env or {})
    log = tmp_path / f"serve-{port}.log"
    command = [sys.executable, "-m", "corrigo", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--store", store_url, "--workers", str(workers)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(url=f"http://127.0.0.1:{port}", store_url=store_url, process=process, log=log)
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise AssertionError(
                    f"corrigo serve exited ({process.returncode}):\n{server.logs()}"
                )
            try:
                if httpx.get(f"{server.url}/v1/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"corrigo serve did not become healthy:\n{server.logs()}")
            time.sleep(0.1)
        yield server
    finally:
        server.stop()


def read_events(response: httpx.Response, stop_after: int | None = None) -> list[dict[str, Any]]:
    """Server-sent events from a streaming response: ``[{"id", "event", "data"}]``, until
    the stream ends (or ``stop_after`` step events)."""
    found: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    steps = 0
    for line in response.iter_lines():
        if line == "":
            if "event" in current:
                found.append(current)
                if current["event"] == "step":
                    steps += 1
                    if stop_after is not None and steps >= stop_after:
                        return found
            current = {}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            current["data"] = json.loads(value)
        elif name in ("id", "event"):
            current[name] = value
    return found
