"""compose.yaml end to end, through ``scripts/compose-check.sh``: the images built locally,
the stack up, a task run by corrigo inside it against PostgreSQL and against Redis, each run
read back (also after the stack was brought down and up again), a run submitted over HTTP to
``corrigo serve`` and to the ``ray`` profile's serve-ray (executed by an actor on the ray-worker
node), and everything removed."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECK = ROOT / "scripts" / "compose-check.sh"


def _docker_engine() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        info = subprocess.run(["docker", "info"], capture_output=True, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        return False
    return info.returncode == 0


@pytest.mark.skipif(not _docker_engine(), reason="needs a Docker engine (scripts/services.sh)")
def test_compose_stack_runs_a_task_against_postgres_and_redis() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CORRIGO_"))}
    env.pop("KEEP", None)
    process = subprocess.Popen(
        ["bash", str(CHECK)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=1200)
    except subprocess.TimeoutExpired:
        # SIGTERM lets the script's trap bring the stack down before it exits.
        os.killpg(process.pid, signal.SIGTERM)
        output, _ = process.communicate(timeout=120)
        pytest.fail(f"scripts/compose-check.sh took over 20 minutes:\n{output}")
    assert process.returncode == 0, f"scripts/compose-check.sh failed:\n{output}"
    lines = output.splitlines()
    assert lines[-1].startswith("compose-check: OK"), output
    for store in ("postgres", "redis"):
        assert any(
            line.startswith("corrigo runs and corrigo show last read run ")
            and line.endswith(f" back from {store}")
            for line in lines
        ), output
        assert any(line.endswith(f" is still in {store}") for line in lines), output
    assert any(line.startswith("corrigo serve ran ") for line in lines), output
    assert any(
        line.startswith("serve-ray ran ") and " on the ray-worker node " in line for line in lines
    ), output
