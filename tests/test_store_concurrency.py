"""Many runs and two corrigo processes writing one store at once, on every backend.

Every task is the same two-round story (a wrong first answer, a critique, a fix), so
every run must store exactly the same sequence of step keys: a lost or duplicated step
shows up as a different sequence, a store error as a failed run or a message.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import corrigo
from tests.helpers import fenced, write_script
from tests.stores import BACKENDS, fresh_store_url

RUNS = 16
# Solve, verify, review, refine, verify, then hidden scoring of the answer and of the
# first round's (for flips).
EXPECTED_KEYS = (
    "r1.solve",
    "verify:r1.solve",
    "r1.review",
    "r2.refine",
    "verify:r2.refine",
    "score:r2.refine",
    "score:r1.solve",
)


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_store_url(request.param, tmp_path) as url:
        yield url


def _suite(tmp_path: Path, prefix: str, count: int) -> Path:
    suite = tmp_path / f"{prefix}.jsonl"
    suite.write_text(
        "".join(
            json.dumps(
                {
                    "id": f"{prefix}/{i}",
                    "prompt": "Write add(a, b).",
                    "entry_point": "add",
                    "visible_tests": ["assert add(1, 2) == 3"],
                    "hidden_tests": ["assert add(2, 2) == 4"],
                }
            )
            + "\n"
            for i in range(count)
        )
    )
    return suite


def _script(tmp_path: Path) -> Path:
    return write_script(
        tmp_path / "story.yaml",
        {
            "replies": {
                "solver": [fenced("def add(a, b):\n    return a - b")],
                "reviewer": ["It subtracts; add instead."],
                "refiner": [fenced("def add(a, b):\n    return a + b")],
            }
        },
    )


async def _check_store(url: str, expected_runs: int) -> None:
    async with corrigo.open_store(url) as store:
        runs = await store.list_runs(limit=1000)
        assert len(runs) == expected_runs
        shapes = set()
        for run in runs:
            assert run.status == "finished" and run.outcome is not None
            assert run.outcome.stop_reason == "verified", run.outcome
            steps = await store.get_steps(run.id)
            assert [s.seq for s in steps] == list(range(1, len(steps) + 1))
            shapes.add(tuple(s.key for s in steps))
        assert shapes == {EXPECTED_KEYS}


def test_sixteen_concurrent_runs_in_one_process(tmp_path: Path, store_url: str) -> None:
    suite = _suite(tmp_path, "one", RUNS)
    outcomes = corrigo.run_sync(
        f"jsonl:{suite}",
        strategy="refine",
        model=f"scripted:{_script(tmp_path)}",
        store=store_url,
        concurrency=RUNS,
    )
    assert [o.stop_reason for o in outcomes] == ["verified"] * RUNS
    asyncio.run(_check_store(store_url, RUNS))


def test_two_processes_write_one_store_at_once(tmp_path: Path, store_url: str) -> None:
    script = _script(tmp_path)
    procs = []
    for name in ("left", "right"):
        suite = _suite(tmp_path, name, RUNS // 2)
        command = [
            sys.executable, "-m", "corrigo", "run", f"jsonl:{suite}", "--strategy", "refine",
            "--model", f"scripted:{script}", "--store", store_url, "-j", str(RUNS // 2),
        ]  # fmt: skip
        procs.append(
            subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={"CORRIGO_HOME": str(tmp_path / name), "PATH": "/usr/bin:/bin"},
            )
        )
    outputs = [proc.communicate(timeout=300) for proc in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, out + err
        assert "locked" not in (out + err).lower() and "Traceback" not in err
    asyncio.run(_check_store(store_url, RUNS))
