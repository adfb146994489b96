"""A real local Ray cluster for tests: a head and worker nodes, all on loopback.

Ray advertises a node's outward address unless told otherwise, and it turns
``127.0.0.1`` into that address; ``127.0.0.2`` (loopback too) is kept as given, so every
byte between the nodes, the driver and the actors stays on ``lo``. Each node is started
with ``ray start`` (one CPU) and stopped by killing exactly the processes it started, so
a cluster of the user's on this host is never touched (``ray stop`` would stop it too).

Clusters run as one should: with Ray's token authentication. Ray reads the mode and the
token once per process, so the token is this process's, put in its environment by
:func:`use_token` before Ray is imported (``tests/conftest.py`` does it for the suite);
the nodes and every driver started from here inherit it.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

NODE_IP = "127.0.0.2"
RAY = str(Path(sys.executable).with_name("ray"))


def use_token() -> str:
    """This process's Ray cluster token (``RAY_AUTH_TOKEN``, made unless there already),
    with ``RAY_AUTH_MODE=token``, in the environment: call it before Ray is imported."""
    os.environ["RAY_AUTH_MODE"] = "token"  # whatever this shell had: test clusters use tokens
    return os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((NODE_IP, 0))
        return int(sock.getsockname()[1])


def _pids() -> set[int]:
    return {int(p) for p in os.listdir("/proc") if p.isdigit()}


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def descendants(root: int) -> set[int]:
    """``root``'s processes below it (children, their children, ...)."""
    found: set[int] = set()
    frontier = {root}
    while frontier:
        children = {p for p in _pids() if _parent(p) in frontier} - found
        found |= children
        frontier = children
    return found


@dataclass
class Node:
    """One ``ray start``: the processes it left running, and its raylet."""

    processes: set[int]
    raylet: int

    def kill(self) -> None:
        """SIGKILL the node and everything under its raylet (actors included): a node lost."""
        below = descendants(self.raylet) if self.raylet > 0 else set()
        for pid in {self.raylet, *below, *self.processes} - {-1}:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@dataclass
class Cluster:
    address: str
    temp: Path
    nodes: list[Node] = field(default_factory=list)

    def add_node(self) -> Node:
        return self._start(["--address", self.address])

    def _start(self, args: list[str]) -> Node:
        before = _pids()
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
        done = subprocess.run(
            [RAY, "start", *args, "--node-ip-address", NODE_IP, "--num-cpus", "1",
             "--disable-usage-stats"],
            capture_output=True, text=True, env=env, check=False, timeout=600,
        )  # fmt: skip
        # Only this cluster's processes: their command lines name its folder or address
        # (another cluster may be starting on this host meanwhile).
        mine = (str(self.temp), self.address)
        started = {p for p in _pids() - before if any(m in _cmdline(p) for m in mine)}
        if done.returncode != 0:
            self.nodes.append(Node(started, -1))  # stopped with the rest
            raise RuntimeError(f"ray start failed: {done.stderr[-2000:]}")
        known = {n.raylet for n in self.nodes}
        raylets = [p for p in started if "raylet" in _cmdline(p).split(" ", 1)[0]]
        raylets = [p for p in raylets if p not in known]
        if len(raylets) != 1:
            self.nodes.append(Node(started, -1))  # stopped with the rest
            raise RuntimeError(f"expected one new raylet, found {raylets}")
        node = Node(started, raylets[0])
        self.nodes.append(node)
        return node

    def stop(self) -> None:
        for node in reversed(self.nodes):
            node.kill()
        self.nodes.clear()


@contextmanager
def ray_cluster(temp: Path, workers: int = 1) -> Iterator[Cluster]:
    """A head and ``workers`` more nodes on this host, stopped afterwards."""
    use_token()  # the nodes' token: too late for this process if Ray was imported first
    temp.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    cluster = Cluster(f"{NODE_IP}:{port}", temp)
    try:
        cluster._start(
            ["--head", "--port", str(port), "--temp-dir", str(temp), "--include-dashboard", "false"]
        )
        for _ in range(workers):
            cluster.add_node()
        yield cluster
    finally:
        cluster.stop()
