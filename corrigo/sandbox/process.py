"""The ``process`` sandbox: each job in a fresh OS process on this machine.

Each job runs ``python -I -B harness.py`` in its own session (so its own process
group), with a scrubbed environment, a fresh temporary working directory and rlimits
(CPU, address space, file size, processes, open files) applied by the harness before
candidate code loads. On wall-clock expiry the whole process group is killed; it is
killed again after every job so nothing the candidate started in its group survives.
stdout/stderr are drained continuously and capped (``truncated`` is set past the cap),
so a flood cannot grow this process's memory.

Verdicts: see :mod:`corrigo.sandbox.harness`. A test passes only when a nonce-tagged
result line on the dedicated result pipe says so; exit codes and printed text never do.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from corrigo.errors import SandboxError
from corrigo.records import ExecResult, ExecStatus, Limits, TestCase, TestResult
from corrigo.sandbox.base import Sandbox

HARNESS = Path(__file__).with_name("harness.py")
_RESULT_CAP = 8 * 1024 * 1024
_SCRUBBED_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "PYTHONIOENCODING": "utf-8",
}


async def _drain(reader: asyncio.StreamReader, cap: int) -> tuple[bytes, bool]:
    """Read to EOF keeping at most ``cap`` bytes; report whether anything was dropped."""
    kept = bytearray()
    dropped = False
    while True:
        chunk = await reader.read(65536)
        if not chunk:
            return bytes(kept), dropped
        room = cap - len(kept)
        if room > 0:
            kept += chunk[:room]
        if len(chunk) > room:
            dropped = True


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


class ProcessSandbox(Sandbox):
    """Fresh interpreter per job; see the module docstring for the guarantees."""

    name = "process"

    def __init__(self, python: str | None = None) -> None:
        self._python = python or sys.executable
        self._started = False

    async def start(self) -> None:
        if not HARNESS.exists():
            raise SandboxError(f"sandbox harness missing: {HARNESS}")
        self._started = True

    async def close(self) -> None:
        self._started = False

    async def run_tests(
        self, program: str, tests: Sequence[TestCase], limits: Limits
    ) -> ExecResult:
        job = {
            "mode": "tests",
            "program": program,
            "tests": [{"name": t.name, "code": t.code} for t in tests],
        }
        return await self._run(job, [t.name for t in tests], limits)

    async def exec(self, code: str, stdin: str = "", limits: Limits | None = None) -> ExecResult:
        job = {"mode": "exec", "program": code, "tests": [], "stdin": stdin}
        return await self._run(job, ["exec"], limits or Limits())

    async def _run(self, job: dict, names: list[str], limits: Limits) -> ExecResult:
        if not self._started:
            raise SandboxError("sandbox not started: use 'async with' or await start()")
        nonce = secrets.token_hex(16)
        job = dict(job, nonce=nonce, limits=limits.model_dump())
        workdir = tempfile.mkdtemp(prefix="corrigo-job-")
        read_fd, write_fd = os.pipe()
        env = dict(_SCRUBBED_ENV, HOME=workdir, TMPDIR=workdir)
        started = time.perf_counter()
        try:
            try:
                proc = await asyncio.create_subprocess_exec(
                    self._python,
                    "-I",
                    "-B",
                    str(HARNESS),
                    str(write_fd),
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                    cwd=workdir,
                    env=env,
                    pass_fds=(write_fd,),
                    start_new_session=True,
                )
            except OSError as exc:
                raise SandboxError(f"cannot start sandbox process: {exc}") from None
            finally:
                os.close(write_fd)
            return await self._supervise(proc, read_fd, job, names, limits, started)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    async def _supervise(
        self,
        proc: asyncio.subprocess.Process,
        read_fd: int,
        job: dict,
        names: list[str],
        limits: Limits,
        started: float,
    ) -> ExecResult:
        loop = asyncio.get_running_loop()
        result_reader = asyncio.StreamReader(limit=_RESULT_CAP)
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(result_reader), os.fdopen(read_fd, "rb", 0)
        )
        assert proc.stdin and proc.stdout and proc.stderr
        payload = json.dumps(job).encode("utf-8")
        timed_out = False

        async def feed() -> None:
            try:
                proc.stdin.write(payload)  # type: ignore[union-attr]
                await proc.stdin.drain()  # type: ignore[union-attr]
                proc.stdin.close()  # type: ignore[union-attr]
            except (BrokenPipeError, ConnectionResetError):
                pass

        gathered = asyncio.gather(
            feed(),
            _drain(proc.stdout, limits.output_bytes),
            _drain(proc.stderr, limits.output_bytes),
            _drain(result_reader, _RESULT_CAP),
            proc.wait(),
        )
        try:
            _, (out, out_cut), (err, err_cut), (results, _), code = await asyncio.wait_for(
                asyncio.shield(gathered), timeout=limits.wall_seconds
            )
        except TimeoutError:
            timed_out = True
            _kill_group(proc.pid)
            _, (out, out_cut), (err, err_cut), (results, _), code = await gathered
        finally:
            _kill_group(proc.pid)
            transport.close()
        wall_ms = (time.perf_counter() - started) * 1000.0
        return _interpret(
            results, job["nonce"], names, code, timed_out, out, err, out_cut or err_cut, wall_ms
        )


def _interpret(
    raw: bytes,
    nonce: str,
    names: list[str],
    exit_code: int,
    timed_out: bool,
    out: bytes,
    err: bytes,
    truncated: bool,
    wall_ms: float,
) -> ExecResult:
    reported: dict[int, tuple[bool, str]] = {}
    done: dict | None = None
    for line in raw.splitlines():
        try:
            record = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            continue
        if not isinstance(record, dict) or record.get("nonce") != nonce:
            continue
        if record.get("done") is True:
            done = record
        elif isinstance(record.get("test"), int) and record["test"] not in reported:
            reported[record["test"]] = (
                record.get("passed") is True,
                str(record.get("message", "")),
            )
    stderr_text = err.decode("utf-8", "replace")
    resource_hit = "MemoryError" in stderr_text or exit_code in (-signal.SIGXFSZ,)
    resource_hit = resource_hit or any("MemoryError" in m for _, m in reported.values())
    cpu_hit = exit_code in (-signal.SIGXCPU, -signal.SIGKILL) and not timed_out and done is None
    if timed_out:
        missing, status = "timed out before this test finished", "timeout"
    elif cpu_hit:
        missing, status = "CPU time limit exceeded", "timeout"
    elif done is None:
        missing = f"the process ended (exit {exit_code}) before reporting this test"
        status = "resource_exceeded" if resource_hit else "error"
    else:
        missing, status = "no result reported for this test", "error"
    tests = []
    for index, name in enumerate(names):
        passed, message = reported.get(index, (False, missing))
        tests.append(TestResult(name=name, passed=passed, message=message))
    final: ExecStatus
    if done is not None and len(reported) == len(names):
        if all(t.passed for t in tests):
            final = "passed"
        elif resource_hit:
            final = "resource_exceeded"
        else:
            final = "failed"
    else:
        final = status  # type: ignore[assignment]
        for t in tests:
            if t.passed:
                continue
    return ExecResult(
        status=final,
        tests=tests,
        stdout=out.decode("utf-8", "replace"),
        stderr=stderr_text,
        truncated=truncated,
        wall_ms=wall_ms,
        cpu_ms=float(done.get("cpu_ms", 0.0)) if done else 0.0,
        peak_memory_kb=int(done.get("peak_kb", 0)) if done else 0,
        exit_code=exit_code,
    )
