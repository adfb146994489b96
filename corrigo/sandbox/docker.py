"""The ``docker`` sandbox: the same warm worker, inside hardened containers.

``start()`` launches a small pool of long-lived containers, each running
:mod:`corrigo.sandbox.worker` attached over stdin/stdout (``docker run -i``), so a job
costs a message and a fork inside the container — never a ``docker exec``. Containers
get no network, all capabilities dropped except the few the worker needs to give each
job's candidate processes their own unprivileged uid, ``no-new-privileges``, a read-only
root with size-capped tmpfs, pids/memory/CPU limits, and no socket mounts.

Every container is labelled ``corrigo.sandbox=1`` plus its owner's pid and session, so
``corrigo sandbox cleanup`` (:func:`cleanup`) can find and remove orphans.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import Collection, Sequence
from typing import Any

from corrigo.errors import SandboxUnavailable
from corrigo.records import ExecResult, Limits, OutputsResult, TestCase
from corrigo.sandbox.base import Sandbox
from corrigo.sandbox.process import SCRUBBED_ENV, WORKER, Row, WorkerSandbox, batch_result

DEFAULT_IMAGE = "corrigo-sandbox:latest"
LABEL = "corrigo.sandbox"
_HINT = "install corrigo[docker], start a Docker engine and build the image (scripts/services.sh)"


def _client() -> Any:
    try:
        import docker
    except ImportError:
        raise SandboxUnavailable(f"the docker sandbox needs the docker SDK: {_HINT}") from None
    try:
        client = docker.from_env(timeout=10)  # type: ignore[attr-defined]
        client.ping()
    except Exception as exc:  # the SDK's errors, translated at this boundary
        raise SandboxUnavailable(
            f"no Docker engine reachable ({type(exc).__name__}): {_HINT}"
        ) from None
    return client


def check_engine(image: str = DEFAULT_IMAGE) -> str:
    """A one-line description of the engine and image; raises SandboxUnavailable."""
    client = _client()
    try:
        version = client.version().get("Version", "?")
        found = client.images.get(image)
    except Exception as exc:
        name = type(exc).__name__
        if name == "ImageNotFound":
            raise SandboxUnavailable(
                f"sandbox image {image} not built: run scripts/build-sandbox-image.sh"
            ) from None
        raise SandboxUnavailable(f"Docker engine error: {name}") from None
    finally:
        client.close()
    return f"engine {version}, image {image} ({found.short_id})"


def cleanup(include_live: bool = False) -> list[str]:
    """Remove corrigo sandbox containers whose owning process is gone (or all of them)."""
    client = _client()
    removed = []
    try:
        # Sparse: labels and names from the one list call. A full listing inspects each
        # container afterwards, which fails (404) for one removed in between by --rm.
        listed = client.containers.list(all=True, filters={"label": f"{LABEL}=1"}, sparse=True)
        for container in listed:
            owner = (container.attrs.get("Labels") or {}).get("corrigo.owner_pid", "")
            alive = owner.isdigit() and _pid_alive(int(owner))
            if alive and not include_live:
                continue
            try:
                container.remove(force=True)
            except Exception as exc:  # gone already (--rm) or being removed: both fine
                if type(exc).__name__ not in ("NotFound", "APIError"):
                    raise
                continue
            removed.append(str((container.attrs.get("Names") or [container.id])[0]).lstrip("/"))
    finally:
        client.close()
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class DockerWorker(WorkerSandbox):
    """One container running the worker; started with ``docker run -i``."""

    name = "docker"

    def __init__(self, image: str, session: str, index: int, memory_mb: int, cpus: float) -> None:
        super().__init__()
        self.image, self.session, self.index = image, session, index
        self.memory_mb, self.cpus = memory_mb, cpus
        self.container = f"corrigo-sbx-{session}-{index}"

    def command(self) -> list[str]:
        docker = shutil.which("docker")
        if docker is None:
            raise SandboxUnavailable(f"the docker command line is missing: {_HINT}")
        return [
            docker,
            "run",
            "--rm",
            "-i",
            "--name",
            self.container,
            "--label",
            f"{LABEL}=1",
            "--label",
            f"corrigo.session={self.session}",
            "--label",
            f"corrigo.owner_pid={os.getpid()}",
            "--network",
            "none",
            "--cap-drop",
            "ALL",
            *[
                arg
                for cap in ("SETUID", "SETGID", "CHOWN", "FOWNER", "KILL", "DAC_OVERRIDE")
                for arg in ("--cap-add", cap)
            ],
            "--security-opt",
            "no-new-privileges",
            "--read-only",
            "--tmpfs",
            "/tmp:rw,size=256m,mode=0755",
            "--tmpfs",
            "/run:rw,size=16m,mode=0755",
            "--tmpfs",
            "/var/tmp:rw,size=16m,mode=0755",
            "--tmpfs",
            "/dev/shm:rw,size=16m,mode=0755",
            "--pids-limit",
            "512",
            "--memory",
            f"{self.memory_mb}m",
            "--memory-swap",
            f"{self.memory_mb}m",
            "--cpus",
            str(self.cpus),
            "--ipc",
            "private",
            "--env",
            "CORRIGO_WORKER_CONTAINED=docker",
            *[arg for key, value in SCRUBBED_ENV.items() for arg in ("--env", f"{key}={value}")],
            "--volume",
            f"{WORKER}:/opt/corrigo/worker:ro",
            self.image,
            "python3",
            "-I",
            "-B",
            "/opt/corrigo/worker",
        ]

    def environment(self) -> dict[str, str]:
        env = dict(SCRUBBED_ENV)
        for key in ("DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY"):
            if key in os.environ:
                env[key] = os.environ[key]
        return env


class DockerSandbox(Sandbox):
    """A warm pool of worker containers; jobs go to the least busy one."""

    name = "docker"

    def __init__(
        self, image: str | None = None, pool: int = 1, memory_mb: int = 2048, cpus: float = 2.0
    ) -> None:
        self.image = image or os.environ.get("CORRIGO_SANDBOX_IMAGE") or DEFAULT_IMAGE
        self.pool_size = max(1, pool)
        self.memory_mb, self.cpus = memory_mb, cpus
        self.session = secrets.token_hex(4)
        self._workers: list[DockerWorker] = []
        self._busy: list[int] = []
        self._timelines: list[dict[str, float]] | None = None
        self.isolation: dict[str, Any] = {}

    async def start(self) -> None:
        if self._workers:
            return
        await asyncio.to_thread(check_engine, self.image)
        workers = [
            DockerWorker(self.image, self.session, i, self.memory_mb, self.cpus)
            for i in range(self.pool_size)
        ]
        try:
            await asyncio.gather(*(w.start() for w in workers))
        except BaseException:
            await asyncio.gather(*(w.close() for w in workers), return_exceptions=True)
            raise
        self._workers, self._busy = workers, [0] * len(workers)
        self.isolation = dict(workers[0].isolation)
        self.timelines = self._timelines

    @property
    def timelines(self) -> list[dict[str, float]] | None:
        """Each job's timeline when a list (see ``WorkerSandbox.timelines``)."""
        return self._timelines

    @timelines.setter
    def timelines(self, value: list[dict[str, float]] | None) -> None:
        self._timelines = value
        for worker in self._workers:
            worker.timelines = value

    async def close(self) -> None:
        workers, self._workers = self._workers, []
        await asyncio.gather(*(w.close() for w in workers), return_exceptions=True)

    async def _on_worker(self, call: Any) -> Any:
        if not self._workers:
            await self.start()
        index = min(range(len(self._workers)), key=self._busy.__getitem__)
        self._busy[index] += 1
        try:
            return await call(self._workers[index])
        finally:
            self._busy[index] -= 1

    async def run_tests(
        self,
        program: str,
        tests: Sequence[TestCase],
        limits: Limits,
        *,
        preamble: str = "",
        entry_point: str = "",
        trace: Collection[str] = (),
    ) -> ExecResult:
        result: ExecResult = await self._on_worker(
            lambda w: w.run_tests(
                program, tests, limits, preamble=preamble, entry_point=entry_point, trace=trace
            )
        )
        return result

    async def run_outputs(
        self,
        programs: Sequence[str],
        inputs: Sequence[str],
        limits: Limits,
        *,
        entry_point: str,
        preamble: str = "",
        call_seconds: float = 1.0,
    ) -> OutputsResult:
        """Rows go to the pool's workers, least busy first, and run at once."""

        async def row(program: str) -> Row:
            return await self._on_worker(
                lambda w: w.outputs_row(
                    program, inputs, limits, entry_point, preamble, call_seconds
                )
            )

        return batch_result(await asyncio.gather(*(row(p) for p in programs)))

    async def exec(self, code: str, stdin: str = "", limits: Limits | None = None) -> ExecResult:
        result: ExecResult = await self._on_worker(lambda w: w.exec(code, stdin, limits))
        return result
