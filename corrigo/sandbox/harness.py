"""The in-sandbox harness: runs one job, then exits. Standard library only.

It is started as ``python -I -B harness.py RESULT_FD`` with the job as JSON on stdin::

    {"nonce": str, "mode": "tests"|"exec", "program": str, "tests": [{"name", "code"}],
     "stdin": str, "limits": {...}}

Before any candidate code is loaded it reads the whole job, applies resource limits,
and keeps private references to what it needs to report. Each test's result is written
as one JSON line to RESULT_FD, tagged with the job's nonce; the parent trusts only
well-formed, nonce-tagged lines on that descriptor, and a test with no such line is a
failure. The exit code and anything printed on stdout/stderr never make a test pass.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import sys
import traceback


def _apply_limits(limits: dict) -> None:
    mb = 1024 * 1024
    pairs = [
        (resource.RLIMIT_CPU, int(limits.get("cpu_seconds", 10)) + 1),
        (resource.RLIMIT_AS, int(limits.get("memory_mb", 1024)) * mb),
        (resource.RLIMIT_FSIZE, int(limits.get("file_size_mb", 16)) * mb),
        (resource.RLIMIT_NPROC, int(limits.get("processes", 64))),
        (resource.RLIMIT_NOFILE, int(limits.get("open_files", 256))),
        (resource.RLIMIT_CORE, 0),
    ]
    for kind, value in pairs:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(kind, (value, value))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, AssertionError) and exc.args:
        return "AssertionError: " + str(exc.args[0])[:2000]
    if isinstance(exc, SystemExit):
        return f"SystemExit({exc.code!r}) raised"
    frames = traceback.extract_tb(exc.__traceback__)
    where = ""
    for frame in reversed(frames):
        if frame.filename in ("<candidate>", "<test>"):
            where = f" (line {frame.lineno} of {frame.filename.strip('<>')})"
            break
    return f"{type(exc).__name__}: {str(exc)[:2000]}{where}"


def main() -> None:
    fd = int(sys.argv[1])
    job = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    nonce = job["nonce"]
    write, dumps, exit_now = os.write, json.dumps, os._exit
    getrusage, self_usage = resource.getrusage, resource.RUSAGE_SELF

    def report(record: dict) -> None:
        record["nonce"] = nonce
        data = (dumps(record) + "\n").encode("utf-8")
        while data:
            data = data[write(fd, data) :]

    def finish() -> None:
        usage = getrusage(self_usage)
        report(
            {
                "done": True,
                "cpu_ms": (usage.ru_utime + usage.ru_stime) * 1000.0,
                "peak_kb": usage.ru_maxrss,
            }
        )
        sys.stdout.flush()
        sys.stderr.flush()
        exit_now(0)

    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    if job.get("mode") == "exec":
        path = "stdin.txt"
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(job.get("stdin", ""))
        stdin_fd = os.open(path, os.O_RDONLY)
        os.dup2(stdin_fd, 0)
        os.close(stdin_fd)
    _apply_limits(job.get("limits", {}))
    namespace: dict = {"__name__": "__candidate__", "__builtins__": __builtins__}
    if job.get("mode") == "exec":
        namespace["__name__"] = "__main__"
    try:
        exec(compile(job["program"], "<candidate>", "exec"), namespace)
        load_error = None
    except BaseException as exc:
        load_error = "program failed to load: " + _describe(exc)
    if job.get("mode") == "exec":
        report({"test": 0, "passed": load_error is None, "message": load_error or ""})
        finish()
    for index, test in enumerate(job["tests"]):
        if load_error is not None:
            report({"test": index, "passed": False, "message": load_error})
            continue
        scope = dict(namespace)
        try:
            exec(compile(test["code"], "<test>", "exec"), scope)
            passed, message = True, ""
        except BaseException as exc:
            passed, message = False, _describe(exc)
        report({"test": index, "passed": passed, "message": message})
    finish()


if __name__ == "__main__":
    main()
