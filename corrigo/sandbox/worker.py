"""corrigo's sandbox worker: a warm interpreter that runs jobs in fresh processes.

Standard library only. It runs where candidate code will run: on this host (``process``),
inside bubblewrap (``bwrap``) or inside a container (``docker``), and speaks length-
prefixed JSON frames on stdin/stdout with the corrigo process that started it.

Who decides a verdict
---------------------
Each job gets a *tester* process (T), forked from this worker, and one *candidate*
process (C) per test, forked from T **before T has read the tests**. Candidate code only
ever runs in C. Test code only ever runs in T, where the names the candidate defined
are proxies: calling one sends the arguments to C as plain data and returns C's answer
decoded as plain data (exact builtin types only, so an object whose ``__eq__`` always
says yes cannot cross). T alone writes results, on a pipe C never holds. So nothing C
does — ``sys.exit(0)``, ``os._exit(0)``, ``atexit`` hooks, patched builtins or
``unittest``, frame walks, printed lines, writes to its own descriptors — can make a
test pass: a C that dies, hangs or speaks garbage fails the test it was serving.

Isolation, when the worker runs as root
---------------------------------------
At start the worker enters new mount, network and PID namespaces: no network (not even
loopback), private empty ``/tmp``, ``/var/tmp`` and ``/dev/shm``, and a PID namespace
whose init dies with the worker (the kernel then kills every process left in it). Each
job's C processes run under a uid of their own (one per concurrent job slot) with no
capabilities and rlimits on CPU, memory, file size, processes and open files; when the
job ends every process of that uid is killed, ``setsid`` daemons included. T stays
privileged and non-dumpable, so C can neither signal nor inspect it. Without root these
steps are skipped and the ``ready`` frame says so; the conformance suite lists what a
backend then cannot contain.
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import ctypes
import functools
import json
import os
import resource
import select
import shutil
import signal
import struct
import sys
import tempfile
import time
import traceback
from typing import Any

FRAME = struct.Struct(">I")
MAX_FRAME = 256 * 1024 * 1024
SLOT_UIDS = range(62000, 62256)
SPARE_TESTERS = 2
CLONE_NEWNS, CLONE_NEWNET, CLONE_NEWPID = 0x00020000, 0x40000000, 0x20000000
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER = 1, 4, 36
MS_REC, MS_PRIVATE, MS_BIND, MS_REMOUNT, MS_RDONLY = 16384, 1 << 18, 4096, 32, 1
MIRROR = "/run/corrigo-python"
# Loaded once in the worker, so candidates import them at no cost (and without reading
# the interpreter's files, which an unprivileged uid may not be allowed to).
WARM_MODULES = (
    "abc",
    "array",
    "bisect",
    "calendar",
    "cmath",
    "collections",
    "copy",
    "dataclasses",
    "datetime",
    "decimal",
    "enum",
    "fractions",
    "functools",
    "hashlib",
    "heapq",
    "io",
    "itertools",
    "json",
    "math",
    "operator",
    "random",
    "re",
    "statistics",
    "string",
    "textwrap",
    "typing",
    "unicodedata",
    "contextlib",
    "numbers",
    "queue",
    "secrets",
    "collections.abc",
    "pprint",
    "base64",
    "binascii",
    "zlib",
    "difflib",
    "fnmatch",
    "glob",
    "encodings.idna",
    "encodings.ascii",
    "encodings.latin_1",
    "socket",
    "traceback",
)


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _prctl(option: int, value: int) -> None:
    _libc().prctl(option, value, 0, 0, 0)


# ---------------------------------------------------------------- framing


def read_exact(fd: int, size: int) -> bytearray | None:
    buf = bytearray(size)
    view = memoryview(buf)
    got = 0
    while got < size:
        n = os.readv(fd, [view[got:]])
        if n == 0:
            return None
        got += n
    return buf


def read_frame(fd: int) -> bytearray | None:
    head = read_exact(fd, FRAME.size)
    if head is None:
        return None
    (size,) = FRAME.unpack(head)
    if size > MAX_FRAME:
        raise ValueError("frame too large")
    return read_exact(fd, size) if size else bytearray()


def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def pack_frame(obj: object) -> bytes:
    body = json.dumps(obj).encode("utf-8")
    return FRAME.pack(len(body)) + body


def write_frame(fd: int, obj: object) -> None:
    write_all(fd, pack_frame(obj))


def take_frame(buf: bytearray) -> bytes | None:
    """Remove the first complete frame from ``buf`` and return its body (None: not yet)."""
    if len(buf) < FRAME.size:
        return None
    (size,) = FRAME.unpack_from(buf)
    if size > MAX_FRAME:
        raise ValueError("frame too large")
    if len(buf) < FRAME.size + size:
        return None
    body = bytes(buf[FRAME.size : FRAME.size + size])
    del buf[: FRAME.size + size]
    return body


# ---------------------------------------------------------------- values as data


class BoundaryError(TypeError):
    """A value that cannot cross between tester and candidate as plain data."""


def encode(value: Any, budget: list[int] | None = None) -> Any:
    budget = budget if budget is not None else [1_000_000]
    budget[0] -= 1
    if budget[0] < 0:
        raise BoundaryError("value too large to check")
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return value
    if kind is float:
        return (
            value
            if value == value and value not in (float("inf"), -float("inf"))
            else {"$": "float", "v": repr(value)}
        )
    if kind is list:
        return [encode(v, budget) for v in value]
    if kind is tuple:
        return {"$": "tuple", "v": [encode(v, budget) for v in value]}
    if kind is dict:
        return {
            "$": "dict",
            "v": [[encode(k, budget), encode(v, budget)] for k, v in value.items()],
        }
    if kind in (set, frozenset):
        return {"$": kind.__name__, "v": [encode(v, budget) for v in value]}
    if kind is bytes:
        return {"$": "bytes", "v": base64.b64encode(value).decode()}
    if kind is complex:
        return {"$": "complex", "v": [value.real, value.imag]}
    raise BoundaryError(
        f"a value of type {kind.__name__} cannot be checked (only builtin data types)"
    )


def decode(obj: Any) -> Any:
    if isinstance(obj, list):
        return [decode(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    kind = obj.get("$")
    items: Any = obj.get("v")
    if kind == "tuple":
        return tuple(decode(v) for v in items)
    if kind == "dict":
        return {decode(k): decode(v) for k, v in items}
    if kind == "set":
        return {decode(v) for v in items}
    if kind == "frozenset":
        return frozenset(decode(v) for v in items)
    if kind == "bytes":
        return base64.b64decode(items)
    if kind == "complex":
        return complex(*items)
    if kind == "float":
        return float(items)
    raise BoundaryError("malformed value from the candidate")


def describe(exc: BaseException) -> str:
    if isinstance(exc, AssertionError) and exc.args:
        return "AssertionError: " + str(exc.args[0])[:2000]
    if isinstance(exc, SystemExit):
        return f"SystemExit({exc.code!r}) raised"
    where = ""
    line = getattr(exc, "candidate_line", None)
    if type(line) is int:
        return f"{type(exc).__name__}: {str(exc)[:2000]} (line {line} of candidate)"
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename in ("<candidate>", "<test>"):
            where = f" (line {frame.lineno} of {frame.filename.strip('<>')})"
            break
    return f"{type(exc).__name__}: {str(exc)[:2000]}{where}"


# ---------------------------------------------------------------- candidate (C)


def _apply_limits(limits: dict) -> None:
    mb = 1024 * 1024
    for kind, value in (
        (resource.RLIMIT_CPU, max(1, round(limits.get("cpu_seconds", 10)))),
        (resource.RLIMIT_AS, int(limits.get("memory_mb", 1024)) * mb),
        (resource.RLIMIT_FSIZE, int(limits.get("file_size_mb", 16)) * mb),
        (resource.RLIMIT_NPROC, int(limits.get("processes", 64))),
        (resource.RLIMIT_NOFILE, int(limits.get("open_files", 256))),
        (resource.RLIMIT_CORE, 0),
    ):
        hard = value + 1 if kind == resource.RLIMIT_CPU else value  # SIGXCPU first, not SIGKILL
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(kind, (value, hard))


def _use_mirror() -> None:
    """Import the standard library from the read-only mirror an unprivileged uid can read."""
    mirror = os.environ.get("CORRIGO_PYTHON_MIRROR")
    if not mirror or not os.path.isdir(mirror):
        return
    prefix = sys.base_prefix.rstrip("/")

    def moved(paths: list[str]) -> list[str]:
        return [mirror + p[len(prefix) :] if p.startswith(prefix) else p for p in paths]

    sys.path[:] = moved(sys.path)
    for module in list(sys.modules.values()):
        package_path = getattr(module, "__path__", None)
        if isinstance(package_path, list):
            package_path[:] = moved(package_path)
    sys.path_importer_cache.clear()


def candidate_main(calls: int, replies: int) -> None:
    """Runs in C: wait for 'go' (program, uid, limits), drop privileges, answer calls.

    C is forked from T before T has read any test; it learns nothing but its program and
    the arguments of the calls it serves.
    """
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    frame = read_frame(calls)
    if frame is None:  # T closed the channel: this C is not needed
        os._exit(0)
    job = json.loads(frame)
    os.chdir(job["workdir"])
    if job.get("stdin_path"):
        stdin_fd = os.open(job["stdin_path"], os.O_RDONLY)
        os.dup2(stdin_fd, 0)
        os.close(stdin_fd)
    if job.get("uid") is not None:
        os.setgroups([])
        os.setgid(job["uid"])
        os.setuid(job["uid"])
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # a credential change cleared it
    _apply_limits(job["limits"])
    if job["mode"] == "exec":
        code = 0
        try:
            exec(
                compile(job["program"], "<candidate>", "exec"),
                {"__name__": "__main__", "__builtins__": builtins},
            )
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    namespace: dict = {"__name__": "__candidate__", "__builtins__": builtins}
    try:
        exec(compile(job["program"], "<candidate>", "exec"), namespace)
    except BaseException as exc:
        write_frame(replies, {"load_error": "program failed to load: " + describe(exc)})
        os._exit(0)
    del job, frame
    names, values = [], {}
    for key, value in namespace.items():
        if key.startswith("__"):
            continue
        if callable(value):
            names.append(key)
        else:
            with contextlib.suppress(BoundaryError):  # modules and objects stay in C
                values[key] = encode(value, [10_000])
    write_frame(replies, {"loaded": sorted(names), "values": values})
    while True:
        frame = read_frame(calls)
        if frame is None:
            os._exit(0)
        request = json.loads(frame)
        try:
            fn = namespace[request["call"]]
            result = fn(*decode(request["args"]), **decode(request["kwargs"]))
            reply: dict = {"value": encode(result)}
        except BaseException as exc:  # the candidate's own exceptions are answers, not crashes
            reply = {"raise": type(exc).__name__, "message": str(exc)[:2000]}
            for tb_frame in reversed(traceback.extract_tb(exc.__traceback__)):
                if tb_frame.filename == "<candidate>":  # where it raised, for feedback only
                    reply["line"] = tb_frame.lineno
                    break
        sys.stdout.flush()
        sys.stderr.flush()
        write_frame(replies, reply)


# ---------------------------------------------------------------- tester (T)


class CandidateFailure(Exception):
    """The candidate process crashed, hung or broke protocol: the test cannot pass."""


class Output:
    """Drains C's stdout/stderr with a cap, so a flood cannot grow memory."""

    def __init__(self, fds: dict[int, str], cap: int) -> None:
        self.fds, self.cap = dict(fds), cap
        self.data = {name: bytearray() for name in fds.values()}
        self.truncated = False

    def pump(self, fd: int) -> None:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return
        if not chunk:
            del self.fds[fd]
            return
        buf = self.data[self.fds[fd]]
        room = self.cap - len(buf)
        if room > 0:
            buf += chunk[:room]
        if len(chunk) > room:
            self.truncated = True


def _usage(rusage: resource.struct_rusage) -> dict:
    return {"cpu_ms": (rusage.ru_utime + rusage.ru_stime) * 1000.0, "peak_kb": rusage.ru_maxrss}


class Candidate:
    def __init__(self, pid: int, calls: int, replies: int, output: Output, deadline: float) -> None:
        self.pid, self.calls, self.replies = pid, calls, replies
        self.output, self.deadline = output, deadline
        self.failure: str | None = None
        self.exit_code: int | None = None
        self.usage: dict = {"cpu_ms": 0.0, "peak_kb": 0}
        self.values: dict = {}
        self.status = "failed"
        self.buffer = bytearray()

    def _recv(self) -> dict:
        while True:
            try:
                body = take_frame(self.buffer)
            except ValueError:
                raise self._fail("the candidate sent an oversized reply") from None
            if body is not None:
                try:
                    message = json.loads(body)
                except ValueError:
                    raise self._fail("the candidate broke the call protocol") from None
                if not isinstance(message, dict):
                    raise self._fail("the candidate broke the call protocol")
                return message
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                self.status = "timeout"
                raise self._fail("timed out")
            ready, _, _ = select.select([self.replies, *self.output.fds], [], [], remaining)
            for fd in ready:
                if fd == self.replies:
                    chunk = os.read(fd, 1 << 20)
                    if not chunk:
                        raise self._fail(self._death())
                    self.buffer += chunk
                else:
                    self.output.pump(fd)

    def _wait(self) -> int | None:
        """Reap C (its wait status), killing it if it is still running at the deadline."""
        while True:
            try:
                pid, status, rusage = os.wait4(self.pid, os.WNOHANG)
            except ChildProcessError:
                return None
            if pid:
                self.usage = _usage(rusage)
                return status
            if time.monotonic() >= self.deadline:
                os.kill(self.pid, signal.SIGKILL)
                self.status = "timeout"
            time.sleep(0.001)

    def _death(self) -> str:
        status = self._wait()
        self.pid = 0
        if status is None:
            return "the candidate process ended during the test"
        if self.status == "timeout":
            return "timed out"
        if os.WIFEXITED(status):
            self.exit_code = os.WEXITSTATUS(status)
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            if sig == signal.SIGXCPU:
                self.status = "timeout"
                return "CPU time limit exceeded"
            if sig == signal.SIGXFSZ:
                self.status = "resource_exceeded"
                return "file size limit exceeded"
            return f"the candidate process was killed by signal {sig}"
        return f"the candidate process exited (code {os.WEXITSTATUS(status)}) during the test"

    def _fail(self, reason: str) -> CandidateFailure:
        if self.failure is None:
            self.failure = reason
        return CandidateFailure(reason)

    def start(self, go: dict) -> list[str]:
        write_frame(self.calls, go)
        reply = self._recv()
        if "load_error" in reply:
            if "MemoryError" in str(reply["load_error"]):
                self.status = "resource_exceeded"
            raise self._fail(str(reply["load_error"]))
        values = reply.get("values")
        self.values = values if isinstance(values, dict) else {}
        return [str(n) for n in reply.get("loaded", [])]

    def call(self, name: str, args: tuple, kwargs: dict) -> object:
        if self.failure is not None:
            raise CandidateFailure(self.failure)
        try:
            payload = {"call": name, "args": encode(list(args)), "kwargs": encode(kwargs)}
        except BoundaryError as exc:
            raise BoundaryError(f"argument to {name}: {exc}") from None
        try:
            write_frame(self.calls, payload)
        except (BrokenPipeError, OSError):
            raise self._fail(self._death()) from None
        reply = self._recv()
        if "value" in reply:
            try:
                return decode(reply["value"])
            except (BoundaryError, TypeError, ValueError, KeyError):
                raise self._fail("the candidate sent a malformed value") from None
        name_ = str(reply.get("raise", "Exception"))
        message = str(reply.get("message", ""))
        if name_ == "MemoryError":
            self.status = "resource_exceeded"
        kind = getattr(builtins, name_, None)
        error: Exception = RuntimeError(f"{name_}: {message}")
        if isinstance(kind, type) and issubclass(kind, Exception):
            with contextlib.suppress(TypeError):
                error = kind(message)
        line = reply.get("line")
        if type(line) is int:
            error.candidate_line = line  # type: ignore[attr-defined]
        raise error

    def stop(self) -> dict:
        if self.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                _, _, rusage = os.wait4(self.pid, 0)  # SIGKILL cannot be ignored: this is quick
                self.usage = _usage(rusage)
            self.pid = 0
        usage = self.usage
        for fd in (self.calls, self.replies):
            with contextlib.suppress(OSError):
                os.close(fd)
        return usage


def _proxy(candidate: Candidate, name: str):
    def call(*args: object, **kwargs: object) -> object:
        return candidate.call(name, args, kwargs)

    call.__name__ = call.__qualname__ = name
    return call


def _fork_candidate(out: int, err: int) -> tuple[int, int, int]:
    """A C process waiting for its 'go' frame; returns (pid, calls fd, replies fd)."""
    call_r, call_w = os.pipe()
    reply_r, reply_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            stdin_fd = os.open(os.devnull, os.O_RDONLY)
            os.dup2(stdin_fd, 0)
            os.dup2(out, 1)
            os.dup2(err, 2)
            os.dup2(call_r, 3)
            os.dup2(reply_w, 4)
            os.closerange(5, 65536)
            candidate_main(3, 4)
        finally:
            os._exit(70)
    os.close(call_r)
    os.close(reply_w)
    return pid, call_w, reply_r


def _go(job: dict, stdin_path: str | None = None) -> dict:
    keys = ("mode", "program", "limits", "uid", "workdir")
    return dict({k: job.get(k) for k in keys}, stdin_path=stdin_path)


def _run_script(cand: Candidate, job: dict) -> tuple[bool, str]:
    """Exec mode: the script runs to its end in C; passing means it exited 0."""
    stdin_path = os.path.join(job["workdir"], ".stdin")
    with open(stdin_path, "w", encoding="utf-8") as fh:
        fh.write(job.get("stdin", ""))
    if job.get("uid") is not None:
        os.chown(stdin_path, job["uid"], job["uid"])
    write_frame(cand.calls, _go(job, stdin_path))
    try:
        cand._recv()  # a script sends no frames: this returns only by raising
    except CandidateFailure as exc:
        if cand.status == "timeout":
            return False, str(exc)
    return cand.exit_code == 0, "" if cand.exit_code == 0 else (cand.failure or "")


def tester_main(control: int, results: int) -> None:
    """Runs in T, forked ahead of need: one spare C, then the job, then the tests."""
    _prctl(PR_SET_DUMPABLE, 0)
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    spawned = [_fork_candidate(out_w, err_w)]
    header = read_frame(control)
    if header is None:
        os._exit(0)
    job = json.loads(header)
    deadline = time.monotonic() + float(job["limits"].get("wall_seconds", 10.0))
    count = 1 if job["mode"] == "exec" else max(1, int(job["n_tests"]))
    while len(spawned) < count:
        spawned.append(_fork_candidate(out_w, err_w))
    os.close(out_w)
    os.close(err_w)
    for fd in (out_r, err_r):
        os.set_blocking(fd, False)
    # Only now, with every candidate process already forked, do the tests enter memory.
    with open(job["tests_path"], "rb") as fh:
        tests = json.loads(fh.read())
    os.unlink(job["tests_path"])
    output = Output(
        {out_r: "stdout", err_r: "stderr"}, int(job["limits"].get("output_bytes", 65536))
    )
    cpu_ms, peak_kb, statuses = 0.0, 0, []
    if job["mode"] == "exec":
        pid, call_w, reply_r = spawned[0]
        cand = Candidate(pid, call_w, reply_r, output, deadline)
        passed, message = _run_script(cand, job)
        statuses.append("passed" if passed else cand.status)
        usage = cand.stop()
        write_frame(results, {"test": 0, "passed": passed, "message": message})
        cpu_ms, peak_kb = usage["cpu_ms"], usage["peak_kb"]
    else:
        base: dict = {"__name__": "__test__", "__builtins__": builtins}
        if job.get("preamble"):
            exec(compile(job["preamble"], "<preamble>", "exec"), base)
        trusted = {k for k, v in base.items() if callable(v)} - {job.get("entry_point")}
        go = _go(job)
        for index, (test, (pid, call_w, reply_r)) in enumerate(zip(tests, spawned, strict=False)):
            cand = Candidate(pid, call_w, reply_r, output, deadline)
            scope = dict(base)
            try:
                for name in cand.start(go):
                    if name not in trusted:
                        scope[name] = _proxy(cand, name)
                for name, value in cand.values.items():
                    if name not in base:
                        scope[name] = decode(value)
                exec(compile(test["code"], "<test>", "exec"), scope)
                passed, message = True, ""
            except BaseException as exc:
                passed, message = False, describe(exc)
            if cand.failure is not None:  # whatever the test code did with the error
                passed, message = False, cand.failure
            statuses.append("passed" if passed else cand.status)
            usage = cand.stop()
            cpu_ms += usage["cpu_ms"]
            peak_kb = max(peak_kb, usage["peak_kb"])
            write_frame(results, {"test": index, "passed": passed, "message": message})
    end = time.monotonic() + 0.05
    while output.fds and time.monotonic() < end:
        ready, _, _ = select.select(list(output.fds), [], [], max(0.0, end - time.monotonic()))
        for fd in ready:
            output.pump(fd)
    status = "passed" if statuses and all(s == "passed" for s in statuses) else "failed"
    for worst in ("timeout", "resource_exceeded"):
        if worst in statuses:
            status = worst
    write_frame(
        results,
        {
            "done": True,
            "status": status,
            "stdout": output.data["stdout"].decode("utf-8", "replace"),
            "stderr": output.data["stderr"].decode("utf-8", "replace"),
            "truncated": output.truncated,
            "cpu_ms": cpu_ms,
            "peak_kb": peak_kb,
        },
    )


# ---------------------------------------------------------------- worker (W)


def _mount(
    source: bytes, target: bytes, fstype: bytes | None, flags: int, data: bytes | None
) -> bool:
    return _libc().mount(source, target, fstype, flags, data) == 0


def _isolate(root: bool) -> dict:
    """Enter private namespaces when allowed; report what took effect."""
    info = {"root": root, "network": False, "filesystem": False, "pid": False, "uids": root}
    if os.environ.get("CORRIGO_WORKER_CONTAINED"):  # bubblewrap or a container did it
        info.update(network=True, filesystem=True, pid=True)
        # Container engines make /tmp world-writable again: candidates get their workdir only.
        if root:
            for path in ("/tmp", "/var/tmp", "/dev/shm"):
                with contextlib.suppress(OSError):
                    os.chmod(path, 0o755)
        return info
    if not root:
        return info
    if _libc().unshare(CLONE_NEWNS | CLONE_NEWNET) == 0:
        info["network"] = True
        if _mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None):
            ok = True
            for folder in (b"/tmp", b"/var/tmp", b"/dev/shm", b"/run"):
                if os.path.isdir(folder):
                    ok = _mount(b"tmpfs", folder, b"tmpfs", 0, b"mode=0755,size=256m") and ok
            info["filesystem"] = ok
            os.makedirs(MIRROR, exist_ok=True)
            prefix = sys.base_prefix.encode()
            if _mount(prefix, MIRROR.encode(), None, MS_BIND | MS_REC, None):
                _mount(b"none", MIRROR.encode(), None, MS_BIND | MS_REMOUNT | MS_RDONLY, None)
                os.environ["CORRIGO_PYTHON_MIRROR"] = MIRROR
    return info


def _init_loop() -> None:
    """PID 1 of the job namespace: reap orphans; die with the worker."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    os.closerange(3, 65536)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    while True:
        try:
            os.wait()
        except ChildProcessError:
            signal.pause()
        except InterruptedError:
            continue


def _kill_job(job: dict) -> None:
    """Kill T's process group and, with per-job uids, every process of the job's uid."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(job["pid"], signal.SIGKILL)
    if job["uid"] is not None:
        _kill_uid(job["uid"])


def _kill_uid(uid: int) -> None:
    """Kill every process running as ``uid`` (from a helper that becomes that uid)."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


class Worker:
    def __init__(self) -> None:
        self.root = os.geteuid() == 0
        self.jobs: dict[int, dict] = {}  # result fd -> job state
        self.free_uids = list(SLOT_UIDS)
        self.base = ""
        self.spares: list[tuple[int, int, int]] = []

    def start(self) -> dict:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        _prctl(PR_SET_DUMPABLE, 0)
        info = _isolate(self.root)
        if self.root:
            _use_mirror()  # once, here: every process forked later imports from the mirror
        self.base = tempfile.mkdtemp(prefix="corrigo-worker-")
        os.chmod(self.base, 0o711)
        _prctl(PR_SET_CHILD_SUBREAPER, 1)
        if self.root and info["network"] and not info["pid"] and _libc().unshare(CLONE_NEWPID) == 0:
            if os.fork() == 0:
                _init_loop()
            info["pid"] = True
        return info

    def _fork_tester(self) -> None:
        """A spare T (with its spare C), forked before it is needed and before any test."""
        control_r, control_w = os.pipe()
        res_r, res_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.setsid()
                devnull = os.open(os.devnull, os.O_RDWR)
                os.dup2(devnull, 1)
                os.dup2(control_r, 0)
                os.dup2(res_w, 3)
                os.closerange(4, 65536)
                tester_main(0, 3)
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(0)
        os.close(control_r)
        os.close(res_w)
        self.spares.append((pid, control_w, res_r))

    def launch(self, header: dict, payload: bytearray) -> None:
        started = time.monotonic()
        uid = self.free_uids.pop(0) if self.root and self.free_uids else None
        workdir = tempfile.mkdtemp(prefix="job-", dir=self.base)
        tests_path = os.path.join(self.base, f".tests-{header['id']}")
        fd = os.open(tests_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            write_all(fd, payload)
        finally:
            os.close(fd)
            payload[:] = bytes(len(payload))  # no test text stays in this process's memory
        if uid is not None:
            os.chown(workdir, uid, uid)
        os.chmod(workdir, 0o700)
        if not self.spares:
            self._fork_tester()
        pid, control_w, res_r = self.spares.pop(0)
        header = dict(header, uid=uid, workdir=workdir, tests_path=tests_path)
        with contextlib.suppress(OSError):  # a dead spare: its result pipe fails the job
            write_frame(control_w, header)
        os.close(control_w)
        wall = float(header["limits"].get("wall_seconds", 10.0))
        self.jobs[res_r] = {
            "id": header["id"],
            "pid": pid,
            "uid": uid,
            "workdir": workdir,
            "tests_path": tests_path,
            "buffer": bytearray(),
            "tests": {},
            "done": None,
            "started": started,
            "deadline": started + wall + 0.5,
            "timed_out": False,
        }

    def _cleanup(self, fd: int) -> None:
        job = self.jobs.pop(fd)
        os.close(fd)
        _kill_job(job)
        if job["uid"] is not None:
            self.free_uids.append(job["uid"])
        shutil.rmtree(job["workdir"], ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(job["tests_path"])

    def _parse(self, job: dict) -> None:
        while (body := take_frame(job["buffer"])) is not None:
            record = json.loads(body)
            if record.get("done"):
                job["done"] = record
                self.report(job)  # the verdict is final: answer before cleaning up
            else:
                job["tests"][int(record["test"])] = record

    def finish(self, fd: int) -> None:
        """T closed its result pipe: report (if not yet done), then clean the slot up."""
        self.report(self.jobs[fd])
        self._cleanup(fd)

    def report(self, job: dict) -> None:
        if job.get("reported"):
            return
        job["reported"] = True
        done = job["done"] or {}
        status = done.get("status")
        if job["timed_out"]:
            status = "timeout"
        elif status is None:
            status = "sandbox_error"
        write_frame(
            1,
            {
                "op": "done",
                "id": job["id"],
                "status": status,
                "tests": [job["tests"][k] for k in sorted(job["tests"])],
                "stdout": done.get("stdout", ""),
                "stderr": done.get("stderr", ""),
                "truncated": bool(done.get("truncated")),
                "cpu_ms": done.get("cpu_ms", 0.0),
                "peak_kb": done.get("peak_kb", 0),
                "wall_ms": (time.monotonic() - job["started"]) * 1000.0,
                "detail": ""
                if job["done"] or job["timed_out"]
                else "the tester process ended early",
            },
        )

    def serve(self) -> None:
        info = self.start()
        write_frame(1, {"op": "ready", "pid": os.getpid(), "isolation": info})
        stdin_open = True
        while stdin_open or self.jobs:
            now = time.monotonic()
            for job in list(self.jobs.values()):
                if now >= job["deadline"] and not job["timed_out"]:
                    job["timed_out"] = True
                    _kill_job(job)
            waits = [j["deadline"] - now for j in self.jobs.values() if not j["timed_out"]]
            timeout = max(0.0, min(waits)) if waits else 0.5
            watched = list(self.jobs) + ([0] if stdin_open else [])
            ready, _, _ = select.select(watched, [], [], 0)
            if not ready and stdin_open and len(self.spares) < SPARE_TESTERS:
                self._fork_tester()  # only when idle, so a fork never delays a verdict
                continue
            if not ready:
                ready, _, _ = select.select(watched, [], [], min(timeout, 0.5))
            for fd in ready:
                if fd == 0:
                    header = read_frame(0)
                    if header is None:
                        stdin_open = False
                        for _, control_w, res_r in self.spares:
                            os.close(control_w)
                            os.close(res_r)
                        self.spares.clear()
                        for job in self.jobs.values():
                            job["timed_out"] = True
                            _kill_job(job)
                        continue
                    payload = read_frame(0)
                    self.launch(
                        json.loads(header), payload if payload is not None else bytearray(b"[]")
                    )
                    continue
                chunk = os.read(fd, 1 << 20)
                if chunk:
                    self.jobs[fd]["buffer"] += chunk
                    self._parse(self.jobs[fd])
                else:
                    self.finish(fd)
            self._reap()
        shutil.rmtree(self.base, ignore_errors=True)

    def _reap(self) -> None:
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return


def main() -> None:
    import importlib

    for name in WARM_MODULES:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    os.umask(0o077)
    Worker().serve()


if __name__ == "__main__":
    main()
