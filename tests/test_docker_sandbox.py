"""The docker sandbox end to end: a run, the doctor, and cleanup after a killed corrigo."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import docker
from corrigo.sandbox.docker import LABEL, cleanup
from tests.helpers import corrigo
from tests.test_story import story_script


def _containers(session: str | None = None) -> list[str]:
    client = docker.from_env()
    try:
        label = f"corrigo.session={session}" if session else f"{LABEL}=1"
        # Sparse: the names from the one list call. A full listing inspects each container
        # afterwards and fails with 404 when cleanup removes one in between.
        found = client.containers.list(all=True, filters={"label": label}, sparse=True)
        return [str(c.attrs["Names"][0]).lstrip("/") for c in found]
    finally:
        client.close()


def test_story_runs_in_docker(tmp_path: Path) -> None:
    script = story_script(tmp_path)
    home = tmp_path / "home"
    done = corrigo(
        "run",
        "humaneval:HumanEval/12",
        "--strategy",
        "refine",
        "--model",
        f"scripted:{script}",
        "--sandbox",
        "docker",
        "--json",
        home=home,
    )
    assert done.returncode == 0, done.stderr
    [outcome] = json.loads(done.stdout)
    assert outcome["stop_reason"] == "verified"
    assert outcome["first_round_passed"] is False and outcome["hidden_passed"] is True
    shown = corrigo("show", outcome["run_id"], home=home)
    assert "sandbox docker" in shown.stdout


def test_doctor_reports_engine_and_image(tmp_path: Path) -> None:
    script = story_script(tmp_path)
    done = corrigo(
        "doctor", "--sandbox", "docker", "--model", f"scripted:{script}", home=tmp_path / "h"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    line = next(x for x in done.stdout.splitlines() if x.split()[1:2] == ["sandbox"])
    assert "docker: smoke test passed" in line and "image corrigo-sandbox:latest" in line


def test_killed_corrigo_leaves_nothing_after_cleanup(tmp_path: Path) -> None:
    code = (
        "import asyncio, sys\n"
        "from corrigo.sandbox.docker import DockerSandbox\n"
        "async def main():\n"
        "    box = DockerSandbox(pool=2)\n"
        "    await box.start()\n"
        "    print(box.session, flush=True)\n"
        "    await asyncio.sleep(600)\n"
        "asyncio.run(main())\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    session = proc.stdout.readline().strip()
    assert len(_containers(session)) == 2
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    cleanup()
    deadline = time.time() + 20
    while _containers(session) and time.time() < deadline:
        time.sleep(0.5)
    assert _containers(session) == []
    done = corrigo("sandbox", "cleanup", home=tmp_path / "home")
    assert done.returncode == 0 and "removed" in done.stdout
