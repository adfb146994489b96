"""Containment: namespaces, resource limits, the read-only interpreter mirror, and
killing every process a job left behind (the sweeper)."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import resource
import signal
import sys

SLOT_UIDS = range(62000, 62256)
CLONE_NEWNS, CLONE_NEWNET, CLONE_NEWPID = 0x00020000, 0x40000000, 0x20000000
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER = 1, 4, 36
MS_REC, MS_PRIVATE, MS_BIND, MS_REMOUNT, MS_RDONLY = 16384, 1 << 18, 4096, 32, 1
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
MIRROR = "/run/corrigo-python"


@functools.cache
def libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def prctl(option: int, value: int) -> None:
    libc().prctl(option, value, 0, 0, 0)


def apply_limits(limits: dict) -> None:
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


def use_mirror() -> None:
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


def mount(
    source: bytes, target: bytes, fstype: bytes | None, flags: int, data: bytes | None
) -> bool:
    return libc().mount(source, target, fstype, flags, data) == 0


def isolate(root: bool) -> dict:
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
    if libc().unshare(CLONE_NEWNS | CLONE_NEWNET) == 0:
        info["network"] = True
        if mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None):
            ok = True
            for folder in (b"/tmp", b"/var/tmp", b"/dev/shm", b"/run"):
                if os.path.isdir(folder):
                    ok = mount(b"tmpfs", folder, b"tmpfs", 0, b"mode=0755,size=256m") and ok
            info["filesystem"] = ok
            os.makedirs(MIRROR, exist_ok=True)
            prefix = sys.base_prefix.encode()
            if mount(prefix, MIRROR.encode(), None, MS_BIND | MS_REC, None):
                mount(b"none", MIRROR.encode(), None, MS_BIND | MS_REMOUNT | MS_RDONLY, None)
                os.environ["CORRIGO_PYTHON_MIRROR"] = MIRROR
    return info


def init_loop(ready: int) -> None:
    """PID 1 of the job namespace: mount its /proc, then reap orphans; die with the worker."""
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
    os.write(ready, b".")
    os.closerange(3, 65536)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    while True:
        try:
            os.wait()
        except ChildProcessError:
            signal.pause()
        except InterruptedError:
            continue


def kill_tester(pid: int) -> None:
    """Kill a tester's process group: the tester and the candidates it forked."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def sweep_as(uid: int) -> None:
    """Become ``uid`` and kill every process of it (``setsid`` daemons included).

    ``kill(-1)`` reaches every process this one may signal but itself; a fork racing
    with it either happened before (its child is killed too) or fails."""
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    prctl(PR_SET_DUMPABLE, 0)  # a uid change resets it to the system's suid_dumpable
    os.kill(-1, signal.SIGKILL)


def kill_uid(uid: int) -> None:
    """Kill every process running as ``uid`` (from a helper that becomes that uid)."""
    pid = os.fork()
    if pid == 0:
        try:
            sweep_as(uid)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def sweeper_main(requests: int, replies: int) -> None:
    """A process of the worker's that clears uids on request, so the worker never waits
    on a fork: it reads a uid (4 bytes), kills every process of it from a child that
    becomes it, and writes the uid back once done."""
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    while True:
        data = os.read(requests, 4)
        if len(data) < 4:
            return
        uid = int.from_bytes(data, "big")
        kill_uid(uid)
        os.write(replies, data)


def keep_only(*keep: int) -> None:
    """Close every descriptor but stderr and ``keep``; stdin and stdout become /dev/null
    (a helper process must hold none of the worker's pipes)."""
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    low = 3
    for fd in sorted(set(keep)):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 65536)


def fork_sweeper() -> tuple[int, int]:
    """Start the sweeper (see ``sweeper_main``): (requests fd, replies fd) to talk to it."""
    req_r, req_w = os.pipe()
    rep_r, rep_w = os.pipe()
    if os.fork() == 0:
        try:
            os.dup2(req_r, 3)
            os.dup2(rep_w, 4)
            keep_only(3, 4)
            sweeper_main(3, 4)
        finally:
            os._exit(0)
    os.close(req_r)
    os.close(rep_w)
    return req_w, rep_r
