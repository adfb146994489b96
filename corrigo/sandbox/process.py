"""The ``process`` and ``bwrap`` sandboxes: a warm worker on this machine.

``start()`` launches :mod:`corrigo.sandbox.worker` once (an interpreter with the standard
library loaded) with a scrubbed environment; every job after that costs a fork, not an
interpreter start. The worker decides nothing on the candidate's word: see its module
docstring for who runs what and how verdicts are kept out of the candidate's reach.

``bwrap`` runs the same worker inside bubblewrap: a read-only view of the system, a
private ``/tmp``, no network, its own PID namespace, and nothing left when it exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any, get_args

from pydantic import ValidationError

from corrigo.errors import SandboxError, SandboxUnavailable
from corrigo.records import (
    CallOutcome,
    ExecResult,
    ExecStatus,
    Limits,
    OutputsResult,
    TestCase,
    TestResult,
    Trace,
)
from corrigo.sandbox.base import Sandbox
from corrigo.sandbox.worker.codec import FRAME, pack_frame
from corrigo.sandbox.worker.containment import MIRROR

# The worker package, run as a folder (mounted read-only into bwrap and containers).
WORKER = Path(__file__).with_name("worker")
SCRUBBED_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "PYTHONIOENCODING": "utf-8",
    "HOME": "/nonexistent",
}
_STATUSES: frozenset[str] = frozenset(get_args(ExecStatus))


async def read_frame(reader: asyncio.StreamReader) -> dict | None:
    try:
        head = await reader.readexactly(FRAME.size)
        (size,) = FRAME.unpack(head)
        body = await reader.readexactly(size)
    except asyncio.IncompleteReadError:
        return None
    value = json.loads(body)
    return value if isinstance(value, dict) else None


def to_result(reply: dict, names: list[str], limits: Limits) -> ExecResult:
    raw = reply.get("status")
    status: ExecStatus = raw if raw in _STATUSES else "sandbox_error"
    reported = {int(t["test"]): t for t in reply.get("tests", []) if isinstance(t, dict)}
    missing = "timed out before this test finished" if status == "timeout" else "no result reported"
    tests = []
    for index, name in enumerate(names):
        record = reported.get(index, {"passed": False, "message": missing})
        tests.append(
            TestResult(
                name=name,
                passed=record.get("passed") is True,
                message=str(record.get("message", "")),
                trace=_trace(record.get("trace")),
            )
        )
    final = status
    if final == "passed" and not all(t.passed for t in tests):
        final = "failed"
    return ExecResult(
        status=final,
        tests=tests,
        stdout=str(reply.get("stdout", ""))[: limits.output_bytes],
        stderr=str(reply.get("stderr", ""))[: limits.output_bytes],
        truncated=bool(reply.get("truncated")),
        wall_ms=float(reply.get("wall_ms", 0.0)),
        cpu_ms=float(reply.get("cpu_ms", 0.0)),
        peak_memory_kb=int(reply.get("peak_kb", 0)),
        detail=str(reply.get("detail", "")),
    )


def _trace(raw: object) -> Trace | None:
    if not isinstance(raw, dict):
        return None
    try:
        return Trace.model_validate(raw)
    except ValidationError:
        return None


Row = tuple[list[CallOutcome], float, float, str]  # one program's outcomes, wall, cpu, stdout


def batch_result(rows: Sequence[Row]) -> OutputsResult:
    """A batch from its programs' rows (run at once: the wall time is the longest)."""
    return OutputsResult(
        outcomes=[r[0] for r in rows],
        wall_ms=max((r[1] for r in rows), default=0.0),
        cpu_ms=sum(r[2] for r in rows),
        stdout=[r[3] for r in rows],
    )


def to_outcomes(reply: dict, count: int) -> Row:
    """One row of a batch from a worker's reply: (outcomes, wall ms, cpu ms, stdout)."""
    reported = {int(t["test"]): t for t in reply.get("tests", []) if isinstance(t, dict)}
    status = reply.get("status")
    if status == "timeout":
        lost = CallOutcome(kind="timeout", canonical="!timeout!", message="the row's time ran out")
    else:
        detail = str(reply.get("detail") or "no result reported")
        lost = CallOutcome(kind="crashed", canonical="!crashed!", message=detail)
    row = []
    for index in range(count):
        record = reported.get(index)
        outcome = lost
        if record is not None:
            with contextlib.suppress(ValidationError):  # a malformed record: counts as lost
                outcome = CallOutcome.model_validate(
                    {
                        k: record[k]
                        for k in ("kind", "canonical", "value", "error", "message")
                        if k in record
                    }
                )
        row.append(outcome)
    return (
        row,
        float(reply.get("wall_ms", 0.0)),
        float(reply.get("cpu_ms", 0.0)),
        str(reply.get("stdout", "")),
    )


class WorkerSandbox(Sandbox):
    """Talks to one worker process; subclasses choose how the worker is started."""

    name = "process"

    def __init__(self, python: str | None = None) -> None:
        self._python = python or sys.executable
        self._proc: asyncio.subprocess.Process | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._stderr_task: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[dict]] = {}
        self._next_id = 0
        self._write_lock = asyncio.Lock()
        self._start_lock = asyncio.Lock()
        self._stderr_tail = b""
        self.isolation: dict[str, Any] = {}
        # When a list, each job's timeline is appended to it: monotonic times of sending,
        # the worker's launch, the tester's steps, the report and its receipt (for
        # benchmarks/sandbox.py --profile; the clock is shared with containers).
        self.timelines: list[dict[str, float]] | None = None

    def command(self) -> list[str]:
        return [self._python, "-I", "-B", str(WORKER)]

    def environment(self) -> dict[str, str]:
        return dict(SCRUBBED_ENV)

    async def start(self) -> None:
        async with self._start_lock:
            if self._proc is None or self._proc.returncode is not None:
                await self._launch()

    async def _launch(self) -> None:
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.command(),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=self.environment(),
                start_new_session=True,
                limit=256 * 1024 * 1024,
            )
        except OSError as exc:
            raise SandboxUnavailable(
                f"cannot start the {self.name} sandbox: {exc.strerror}"
            ) from None
        assert proc.stdout is not None and proc.stderr is not None
        stderr_task = asyncio.ensure_future(proc.stderr.read(65536))
        try:
            ready = await asyncio.wait_for(read_frame(proc.stdout), timeout=20)
        except TimeoutError:
            ready = None
        if ready is None or ready.get("op") != "ready":
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            tail = (await stderr_task).decode("utf-8", "replace").strip().splitlines()[-1:]
            raise SandboxUnavailable(
                f"the {self.name} sandbox worker did not start: {tail[0] if tail else 'no output'}"
            )
        stderr_task.cancel()
        self.isolation = dict(ready.get("isolation") or {})
        self._proc = proc
        self._reader_task = asyncio.create_task(self._read_replies(proc))
        self._stderr_task = asyncio.create_task(self._drain_stderr(proc))

    async def _drain_stderr(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        while chunk := await proc.stderr.read(65536):
            self._stderr_tail = (self._stderr_tail + chunk)[-8192:]

    async def _read_replies(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while True:
            reply = await read_frame(proc.stdout)
            if reply is None:
                break
            future = self._pending.pop(int(reply.get("id", -1)), None)
            if future is not None and not future.done():
                future.set_result(reply)
        detail = self._stderr_tail.decode("utf-8", "replace").strip().splitlines()[-1:]
        for future in self._pending.values():
            if not future.done():
                future.set_result(
                    {"status": "sandbox_error", "detail": "worker exited: " + "".join(detail)}
                )
        self._pending.clear()

    async def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), timeout=5)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
        if self._reader_task is not None:
            await asyncio.gather(self._reader_task, return_exceptions=True)

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
        header = {
            "mode": "tests",
            "program": program,
            "preamble": preamble,
            "entry_point": entry_point,
            "trace": [i for i, t in enumerate(tests) if t.name in trace] if trace else [],
        }
        payload = [{"name": t.name, "code": t.code} for t in tests]
        reply = await self._submit(header, payload, limits)
        return to_result(reply, [t.name for t in tests], limits)

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
        rows = await asyncio.gather(
            *(
                self.outputs_row(p, inputs, limits, entry_point, preamble, call_seconds)
                for p in programs
            )
        )
        return batch_result(rows)

    async def outputs_row(
        self,
        program: str,
        inputs: Sequence[str],
        limits: Limits,
        entry_point: str,
        preamble: str,
        call_seconds: float,
    ) -> Row:
        """One program's row of a batch."""
        header = {
            "mode": "outputs",
            "program": program,
            "preamble": preamble,
            "entry_point": entry_point,
            "call_seconds": max(0.01, float(call_seconds)),
        }
        reply = await self._submit(header, [str(i) for i in inputs], limits)
        return to_outcomes(reply, len(inputs))

    async def exec(self, code: str, stdin: str = "", limits: Limits | None = None) -> ExecResult:
        header = {"mode": "exec", "program": code, "stdin": stdin}
        limits = limits or Limits()
        return to_result(await self._submit(header, [], limits), ["exec"], limits)

    async def _submit(self, header: dict, tests: list, limits: Limits) -> dict:
        """Send one job; the worker's reply (a ``sandbox_error`` one if it failed)."""
        await self.start()
        proc = self._proc
        if proc is None or proc.stdin is None:
            raise SandboxError("sandbox not started")
        self._next_id += 1
        job_id = self._next_id
        future: asyncio.Future[dict] = asyncio.get_running_loop().create_future()
        self._pending[job_id] = future
        begun = time.monotonic()
        header = dict(header, id=job_id, n_tests=len(tests), limits=limits.model_dump())
        async with self._write_lock:
            try:
                proc.stdin.write(pack_frame(header) + pack_frame(tests))
                await proc.stdin.drain()
            except (BrokenPipeError, ConnectionResetError):
                self._pending.pop(job_id, None)
                return {"status": "sandbox_error", "detail": "worker is gone"}
        try:
            reply = await asyncio.wait_for(future, timeout=limits.wall_seconds + 15)
        except TimeoutError:
            # The worker stopped answering: replace it rather than trust it again.
            self._pending.pop(job_id, None)
            await self.close()
            return {"status": "sandbox_error", "detail": "the sandbox worker stopped answering"}
        if self.timelines is not None and isinstance(reply.get("phases"), dict):
            self.timelines.append(dict(reply["phases"], send=begun, received=time.monotonic()))
        return reply


def _mirrored_python() -> str:
    """The base interpreter as seen inside bwrap, where it is mounted at ``MIRROR``.

    The base interpreter, not a virtual environment's: the worker needs only the standard
    library, and a checkout under /tmp would be hidden by bwrap's private /tmp.
    """
    real = os.path.realpath(sys.executable)
    base = os.path.realpath(sys.base_prefix)
    if not real.startswith(base + os.sep):
        name = f"python{sys.version_info.major}.{sys.version_info.minor}"
        return f"{MIRROR}/bin/{name}"
    return MIRROR + real[len(base) :]


class BwrapSandbox(WorkerSandbox):
    name = "bwrap"

    def command(self) -> list[str]:
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            raise SandboxUnavailable(
                "the bwrap sandbox needs bubblewrap: apt-get install bubblewrap"
            )
        caps: list[str] = []
        if os.geteuid() == 0:
            for cap in (
                "CAP_SETUID",
                "CAP_SETGID",
                "CAP_CHOWN",
                "CAP_FOWNER",
                "CAP_KILL",
                "CAP_DAC_OVERRIDE",
            ):
                caps += ["--cap-add", cap]
        return [
            bwrap,
            "--ro-bind",
            "/",
            "/",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
            "--perms",
            "0755",
            "--tmpfs",
            "/tmp",
            "--perms",
            "0755",
            "--tmpfs",
            "/var/tmp",
            "--perms",
            "0755",
            "--tmpfs",
            "/dev/shm",
            "--perms",
            "0755",
            "--tmpfs",
            "/run",
            "--ro-bind",
            str(WORKER),
            "/run/corrigo-worker",
            "--ro-bind",
            sys.base_prefix,
            MIRROR,
            "--unshare-net",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--die-with-parent",
            "--new-session",
            *caps,
            _mirrored_python(),
            "-I",
            "-B",
            "/run/corrigo-worker",
        ]

    def environment(self) -> dict[str, str]:
        return dict(
            SCRUBBED_ENV,
            CORRIGO_WORKER_CONTAINED="bwrap",
            CORRIGO_PYTHON_MIRROR=MIRROR,
        )


class ProcessSandbox(WorkerSandbox):
    """The default: as root the worker isolates itself; otherwise bubblewrap does, if present.

    ``wrap=False`` never uses bubblewrap, so an unprivileged worker runs with only its
    rlimits and the tester/candidate split (the conformance suite lists what it then
    cannot contain); it exists to test that path, not for use.
    """

    name = "process"

    def __init__(self, python: str | None = None, wrap: bool = True) -> None:
        super().__init__(python)
        self._wrap = wrap

    def _wrapped(self) -> bool:
        return self._wrap and os.geteuid() != 0 and shutil.which("bwrap") is not None

    def command(self) -> list[str]:
        if self._wrapped():
            return BwrapSandbox(self._python).command()
        return super().command()

    def environment(self) -> dict[str, str]:
        if self._wrapped():
            return BwrapSandbox(self._python).environment()
        return super().environment()
