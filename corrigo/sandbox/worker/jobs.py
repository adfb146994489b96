"""A job as the worker tracks it: what its tester writes, and the one report on it.

The tester writes a frame per test, perhaps a trace for one of them, and a last
``done`` frame with the job's status, output and usage. The worker keeps them in the
job's record and reports to corrigo once: when the ``done`` frame arrives, or, for a
tester that ends without one (killed at the deadline, crashed), when it is gone.
"""

from __future__ import annotations

import json
import time

from .codec import take_frame, write_frame


def new_job(
    header: dict,
    pid: int,
    uid: int | None,
    workdir: str,
    tests_path: str,
    started: float,
    wall: float,
    resident: bool,
) -> dict:
    """The record of a job just handed to tester ``pid``."""
    return {
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
        "resident": resident,
    }


def refuse(job_id: object, detail: str) -> None:
    """Answer a job that never reached a tester."""
    write_frame(1, {"op": "done", "id": job_id, "status": "sandbox_error", "detail": detail})


def parse(job: dict) -> None:
    """Take the complete frames out of the job's buffer; report once ``done`` is in."""
    while (body := take_frame(job["buffer"])) is not None:
        record = json.loads(body)
        if record.get("done"):
            job["done"] = record
            report(job)  # the verdict is final: answer before cleaning up
        elif "pool" in record:  # a resident tester's "ready", read with its first job
            continue
        elif "trace_for" in record:  # adds a trace to a written result, nothing else
            written = job["tests"].get(record["trace_for"])
            if written is not None:
                written["trace"] = record.get("trace")
        else:
            job["tests"][int(record["test"])] = record


def report(job: dict) -> None:
    """The job's ``done`` frame to corrigo, on stdout; only the first call writes it."""
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
            "phases": dict(
                done.get("phases") or {}, launch=job["started"], report=time.monotonic()
            ),
            "detail": "" if job["done"] or job["timed_out"] else "the tester process ended early",
        },
    )
