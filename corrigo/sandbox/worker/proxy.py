"""T's proxy for one candidate process (C): calls out as data, answers back as data.

A :class:`Candidate` is how the tester talks to a C: it sends the program's 'go' and
each call as a frame, reads the replies (with a cap on their size and a deadline),
turns a returned value back into plain data and a raised exception into one of T's
own, and says why C failed when it dies, hangs or breaks protocol. :class:`Output`
drains what C prints, within a cap.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import resource
import select
import signal
import time

from .codec import (
    FRAME,
    BoundaryError,
    canonical,
    decode,
    encode,
    take_frame,
    write_all,
    write_frame,
)
from .pipeline import MAX_BYTES
from .trace import describe_call


class CandidateFailure(Exception):
    """The candidate process crashed, hung or broke protocol: the test cannot pass."""


class Output:
    """Drains C's stdout/stderr with a cap, so a flood cannot grow memory."""

    def __init__(self, fds: dict[int, str], cap: int) -> None:
        self.fds, self.cap = dict(fds), cap
        self.data = {name: bytearray() for name in fds.values()}
        self.truncated = False

    def drain(self) -> None:
        """Read whatever is buffered now, without waiting for the writers to exit."""
        for fd in list(self.fds):
            while self.pump(fd):
                pass

    def pump(self, fd: int) -> bool:
        """Read one chunk from ``fd``; False when nothing was there (or it ended)."""
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return False
        if not chunk:
            del self.fds[fd]
            return False
        buf = self.data[self.fds[fd]]
        room = self.cap - len(buf)
        if room > 0:
            buf += chunk[:room]
        if len(chunk) > room:
            self.truncated = True
        return True


def _usage(rusage: resource.struct_rusage) -> dict:
    return {"cpu_ms": (rusage.ru_utime + rusage.ru_stime) * 1000.0, "peak_kb": rusage.ru_maxrss}


_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def background(pid: int) -> None:
    """Lowest CPU priority for a process about to be killed or to exit: its teardown
    then runs when a core is free instead of preempting the one that wakes it."""
    with contextlib.suppress(OSError):
        os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0))


def _measure(pid: int) -> dict | None:
    """C's CPU time (its process CPU clock) and resident memory, read while it still
    runs, so a verdict never waits for a process to be torn down. The resident size at
    the end is a lower bound of the peak (which only its exit status would give)."""
    try:
        cpu = time.clock_gettime((~pid << 3) | 2)  # CPUCLOCK_SCHED of process ``pid``
        with open(f"/proc/{pid}/statm", "rb") as fh:
            resident = int(fh.read().split()[1]) * _PAGE_KB
    except (OSError, ValueError, IndexError):
        return None
    return {"cpu_ms": cpu * 1000.0, "peak_kb": resident}


# The most a candidate's reply may hold: a tester (root, and resident across jobs) never
# buffers more of a candidate's making than this.
REPLY_CAP = 32 * 1024 * 1024
KILLED: set[int] = set()  # candidates stopped by this tester, not yet collected


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
        self.loaded_at = 0.0
        self.planned: list[str] | None = None  # pipelined calls not yet answered
        self.tracing = False
        self.trace: tuple[str, object] | None = None  # the last traced call and C's account

    def recv(self) -> dict:
        while True:
            if len(self.buffer) >= FRAME.size and FRAME.unpack_from(self.buffer)[0] > REPLY_CAP:
                raise self._fail("the candidate sent an oversized reply")
            try:
                body = take_frame(self.buffer)
            except ValueError:
                raise self._fail("the candidate sent an oversized reply") from None
            if body is not None:
                try:
                    message = json.loads(body)
                except (ValueError, RecursionError):
                    raise self._fail("the candidate broke the call protocol") from None
                if not isinstance(message, dict):
                    raise self._fail("the candidate broke the call protocol")
                if self.tracing and "partial_trace" in message and self.trace is not None:
                    self.trace = (self.trace[0], message["partial_trace"])
                    continue
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
        return self.loaded()

    def loaded(self) -> list[str]:
        """The names C's program defined (raises CandidateFailure if it did not load)."""
        reply = self.recv()
        self.loaded_at = time.monotonic()
        if "load_error" in reply:
            if "MemoryError" in str(reply["load_error"]):
                self.status = "resource_exceeded"
            raise self._fail(str(reply["load_error"]))
        values = reply.get("values")
        self.values = values if isinstance(values, dict) else {}
        return [str(n) for n in reply.get("loaded", [])]

    def ask(self, name: str, args: tuple, kwargs: dict) -> dict:
        """C's raw reply to one call (raises CandidateFailure if C cannot answer)."""
        if self.failure is not None:
            raise CandidateFailure(self.failure)
        try:
            payload = {"call": name, "args": encode(list(args)), "kwargs": encode(kwargs)}
        except BoundaryError as exc:
            raise BoundaryError(f"argument to {name}: {exc}") from None
        if self.tracing:
            payload["trace"] = True
            self.trace = (describe_call(name, args, kwargs), None)
        body = json.dumps(payload).encode("utf-8")
        if self.planned is not None:  # sent already: its answer is next in line
            if self.planned[:1] != [canonical((name, args, kwargs))]:
                self.status = "sandbox_error"
                raise self._fail("sandbox error: the test's calls did not follow their plan")
            del self.planned[0]
        else:
            try:
                write_all(self.calls, FRAME.pack(len(body)) + body)
            except (BrokenPipeError, OSError):
                raise self._fail(self._death()) from None
        reply = self.recv()
        if self.tracing and self.trace is not None:
            self.trace = (self.trace[0], reply.pop("trace", None))
        return reply

    def pipeline(self, name: str, calls: list) -> bool:
        """Send the planned calls (see :mod:`.pipeline`) at once; False if not worth it."""
        bodies, forms = [], []
        try:
            for args, kwargs in calls:
                payload = {"call": name, "args": encode(list(args)), "kwargs": encode(kwargs)}
                bodies.append(json.dumps(payload).encode("utf-8"))
                # Matched by value, not by bytes: equal sets can iterate in other orders.
                forms.append(canonical((name, tuple(args), kwargs)))
        except (BoundaryError, ValueError, RecursionError):
            return False
        if sum(len(b) + FRAME.size for b in bodies) > MAX_BYTES:
            return False
        with contextlib.suppress(OSError):  # a dead C fails on its first answer instead
            write_all(self.calls, b"".join(FRAME.pack(len(b)) + b for b in bodies))
        self.planned = forms
        return True

    def value(self, reply: dict) -> object:
        """The returned value as plain data; a malformed one fails the candidate."""
        try:
            return decode(reply["value"])
        except (BoundaryError, TypeError, ValueError, KeyError, RecursionError):
            raise self._fail("the candidate sent a malformed value") from None

    def call(self, name: str, args: tuple, kwargs: dict) -> object:
        reply = self.ask(name, args, kwargs)
        if "value" in reply:
            return self.value(reply)
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
        """Kill C without waiting for it to die (its parent collects it later); its usage
        so far."""
        if self.pid:
            measured = _measure(self.pid)
            background(self.pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            if measured is not None:
                self.usage = measured
            KILLED.add(self.pid)  # collected by its parent once it has died
            self.pid = 0
        for fd in (self.calls, self.replies):
            with contextlib.suppress(OSError):
                os.close(fd)
        return self.usage
