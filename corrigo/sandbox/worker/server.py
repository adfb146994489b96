"""The worker (W): a warm interpreter that starts a tester for every job.

W reads jobs from corrigo on stdin, hands each to a tester forked ahead of need, relays
the tester's results on stdout, enforces the job's wall deadline and, when a job ends,
kills whatever it left behind and removes its files. Its helpers: the zygote that forks
testers (:mod:`.zygote`), job records and reports (:mod:`.jobs`), the uids of job slots
and their sweeper (:mod:`.uids`), and the modules imported ahead (:mod:`.warm`).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import socket
import tempfile
import time

from .codec import FRAME, read_frame, write_all, write_frame
from .containment import (
    CLONE_NEWPID,
    PR_SET_CHILD_SUBREAPER,
    PR_SET_DUMPABLE,
    PR_SET_PDEATHSIG,
    init_loop,
    isolate,
    kill_tester,
    libc,
    prctl,
    use_mirror,
)
from .jobs import new_job, parse, refuse, report
from .resident import POOL
from .uids import Uids
from .verdicts import TRACE_SECONDS
from .warm import WARM_MODULES
from .zygote import request_tester, start_zygote

SPARE_TESTERS = 1  # single-use testers: exec and outputs jobs, and the overflow
RESIDENTS = 2  # resident testers with candidates to spare: test jobs (see resident.py)
INLINE_TESTS = 32 * 1024  # tests up to this size go through T's control pipe


class Worker:
    def __init__(self) -> None:
        self.root = os.geteuid() == 0
        self.jobs: dict[int, dict] = {}  # result fd -> job state
        self.uids = Uids()
        self.base = ""
        self.spares: list[tuple[int, int, int]] = []
        self.residents: dict[int, dict] = {}  # result fd -> resident tester
        self.zygote: socket.socket  # to the process that forks testers (see start)
        self.ended: list[dict] = []  # finished jobs whose cleanup waits for an idle moment
        self.deaths = -1  # read end of the signal wakeup pipe (see start)

    def start(self) -> dict:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        prctl(PR_SET_DUMPABLE, 0)
        info = isolate(self.root)
        if self.root:
            use_mirror()  # once, here: every process forked later imports from the mirror
        self.base = tempfile.mkdtemp(prefix="corrigo-worker-")
        os.chmod(self.base, 0o711)
        prctl(PR_SET_CHILD_SUBREAPER, 1)
        if self.root and info["network"] and not info["pid"] and libc().unshare(CLONE_NEWPID) == 0:
            ready_r, ready_w = os.pipe()
            if os.fork() == 0:
                os.close(ready_r)
                init_loop(ready_w)
            os.close(ready_w)
            # init mounts a /proc of the job namespace (testers read their candidates'
            # peak memory there; candidates see only their own namespace) and says so.
            select.select([ready_r], [], [], 2.0)
            os.close(ready_r)
            info["pid"] = True
        if self.root:
            self.uids.start_sweeper()
        # Testers come from a zygote forked now, before this process has seen any test or
        # result: whatever of them stays in this process's memory, no candidate inherits.
        self.zygote = start_zygote()
        # A process that dies (a job's daemon killed by the sweep, say) wakes the loop, so
        # it is reaped at once rather than lingering as a zombie until the next job.
        self.deaths, wake = os.pipe()
        for fd in (self.deaths, wake):
            os.set_blocking(fd, False)
        signal.set_wakeup_fd(wake)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        return info

    def _fork_tester(self) -> None:
        """A spare T (with its spare C), forked before it is needed and before any test."""
        self.spares.append(request_tester(self.zygote, b"t"))

    def _fork_resident(self) -> None:
        """A resident T, which forks its pool of candidates before it reads any test."""
        pid, control_w, res_r = request_tester(self.zygote, b"r")
        self.residents[res_r] = {
            "pid": pid,
            "control_w": control_w,
            "pool": POOL,
            "job": None,
            "buffer": bytearray(),
        }

    def _retire(self, resident: dict) -> None:
        """Close a resident's control pipe: it exits after its job (or at once if idle)."""
        if resident["control_w"] >= 0:
            os.close(resident["control_w"])
            resident["control_w"] = -1

    def resident_count(self) -> int:
        """Resident testers to keep: none without root, where every process shares one
        uid and an idle pooled candidate would be open to the running ones."""
        return RESIDENTS if self.root else 0

    def _resident_for(self, header: dict) -> int | None:
        """The result fd of an idle resident with candidates enough for this job."""
        if header.get("mode") != "tests":
            return None
        need = max(1, int(header.get("n_tests", 1))) + (1 if header.get("trace") else 0)
        for fd, resident in self.residents.items():
            if resident["job"] is None and resident["pool"] >= need and resident["control_w"] >= 0:
                resident["pool"] -= need
                return fd
        return None

    def launch(self, header: dict, payload: bytearray) -> None:
        started = time.monotonic()
        if self.root and not self.uids.free:  # never run a candidate without its own uid
            payload[:] = bytes(len(payload))
            refuse(header["id"], "too many sandbox jobs at once: no free uid for this one")
            return
        uid = self.uids.free.pop(0) if self.root else None
        workdir = tempfile.mkdtemp(prefix="job-", dir=self.base)
        tests_path = os.path.join(self.base, f".tests-{header['id']}")
        inline = len(payload) <= INLINE_TESTS
        if not inline:  # too big for the pipe's buffer: T reads it from a file
            fd = os.open(tests_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                write_all(fd, payload)
            finally:
                os.close(fd)
        if uid is not None:
            os.chown(workdir, uid, uid)
        os.chmod(workdir, 0o700)
        resident_fd = self._resident_for(header)
        if resident_fd is not None:
            resident = self.residents[resident_fd]
            pid, control_w, res_r = resident["pid"], resident["control_w"], resident_fd
        else:
            if not self.spares:
                self._fork_tester()
            pid, control_w, res_r = self.spares.pop(0)
        header = dict(header, uid=uid, workdir=workdir, tests_path=None if inline else tests_path)
        # T reads the header, forks its candidates, and only then the tests: they wait in
        # the pipe (kernel memory, never in a candidate's) or in the file until then.
        with contextlib.suppress(OSError):  # a dead spare: its result pipe fails the job
            write_frame(control_w, header)
            if inline:
                write_all(control_w, FRAME.pack(len(payload)))
                write_all(control_w, payload)  # no copy of it: the buffer is zeroed next
        payload[:] = bytes(len(payload))  # no test text stays in this process's memory
        if resident_fd is None:
            os.close(control_w)
        wall = float(header["limits"].get("wall_seconds", 10.0))
        if header.get("trace"):
            wall += TRACE_SECONDS  # the traced rerun comes after the tests' own time
        job = new_job(header, pid, uid, workdir, tests_path, started, wall, resident_fd is not None)
        if resident_fd is not None:
            self.residents[resident_fd]["job"] = job
        else:
            self.jobs[res_r] = job

    def _cleanup(self, job: dict) -> None:
        """Clear the job's uid (every process left in it) and remove its files; done
        when idle. Its tester was killed already, if it had to be (see ``finish``)."""
        if job["uid"] is not None:
            self.uids.sweep(job["uid"])
        shutil.rmtree(job["workdir"], ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(job["tests_path"])

    def _resident_read(self, fd: int) -> None:
        """Frames from a resident tester; at its end (pool used up, or killed), its job."""
        resident = self.residents[fd]
        chunk = os.read(fd, 1 << 20)
        job = resident["job"]
        if chunk and job is not None:
            job["buffer"] += chunk
            parse(job)
            if job["done"] is not None:
                resident["job"] = None
                self.ended.append(job)
            return
        if chunk:
            return  # nothing is expected between jobs
        del self.residents[fd]
        os.close(fd)
        if resident["control_w"] >= 0:
            os.close(resident["control_w"])
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(resident["pid"], signal.SIGKILL)
        if job is not None:
            report(job)
            self.ended.append(job)

    def finish(self, fd: int) -> None:
        """T closed its result pipe: report (if not yet done); the slot is cleaned up
        when the worker is next idle, so the cleanup never delays a waiting job."""
        job = self.jobs.pop(fd)
        os.close(fd)
        report(job)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(job["pid"], signal.SIGKILL)  # cheap, and at once
        self.ended.append(job)

    def serve(self) -> None:
        info = self.start()
        for _ in range(self.resident_count()):  # ready before the first job, not beside it
            self._fork_resident()
        for fd in list(self.residents):  # each says when its pool of candidates is up
            if select.select([fd], [], [], 5.0)[0]:
                self._resident_read(fd)
        for _ in range(SPARE_TESTERS):
            self._fork_tester()
        write_frame(1, {"op": "ready", "pid": os.getpid(), "isolation": info})
        stdin_open = True
        while stdin_open or self.jobs or self._resident_jobs():
            now = time.monotonic()
            active = [*self.jobs.values(), *self._resident_jobs()]
            for job in active:
                if now >= job["deadline"] and not job["timed_out"]:
                    job["timed_out"] = True
                    kill_tester(job["pid"])  # a resident's too: its end reports the job
            waits = [j["deadline"] - now for j in active if not j["timed_out"]]
            timeout = max(0.0, min(waits)) if waits else 0.5
            watched = [
                *([0] if stdin_open else []),
                *self.jobs,
                *self.residents,
                self.deaths,
                *([self.uids.replies] if self.uids.replies >= 0 else []),
            ]
            ready, _, _ = select.select(watched, [], [], 0)
            if not ready and self.ended:
                self._cleanup(self.ended.pop(0))  # only when idle, like the forks below
                continue
            if not ready and stdin_open and len(self.spares) < SPARE_TESTERS:
                self._fork_tester()  # only when idle, so a fork never delays a verdict
                continue
            fresh = [r for r in self.residents.values() if r["pool"] > POOL // 4]
            worn = [r for r in self.residents.values() if r not in fresh and r["job"] is None]
            if not ready and worn and worn[0]["control_w"] >= 0:
                self._retire(worn[0])  # too few candidates left to be picked often
                continue
            if not ready and stdin_open and len(fresh) < self.resident_count():
                self._fork_resident()
                continue
            if not ready:
                ready, _, _ = select.select(watched, [], [], min(timeout, 0.5))
            for fd in ready:
                if fd == self.uids.replies:
                    self.uids.swept(os.read(fd, 4096))
                    continue
                if fd == self.deaths:
                    with contextlib.suppress(BlockingIOError):
                        while os.read(fd, 4096):
                            pass
                    continue
                if fd == 0:
                    header = read_frame(0)
                    if header is None:
                        stdin_open = False
                        for _, control_w, res_r in self.spares:
                            os.close(control_w)
                            os.close(res_r)
                        self.spares.clear()
                        for resident in self.residents.values():
                            self._retire(resident)
                        for job in self.jobs.values():
                            job["timed_out"] = True
                            kill_tester(job["pid"])
                        continue
                    payload = read_frame(0)
                    self.launch(
                        json.loads(header), payload if payload is not None else bytearray(b"[]")
                    )
                    continue
                if fd in self.residents:
                    self._resident_read(fd)
                    continue
                chunk = os.read(fd, 1 << 20)
                if chunk:
                    self.jobs[fd]["buffer"] += chunk
                    parse(self.jobs[fd])
                else:
                    self.finish(fd)
            self._reap()
        while self.ended:
            self._cleanup(self.ended.pop(0))
        shutil.rmtree(self.base, ignore_errors=True)

    def _resident_jobs(self) -> list[dict]:
        return [r["job"] for r in self.residents.values() if r["job"] is not None]

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
