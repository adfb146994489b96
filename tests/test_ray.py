"""Runs on a real local Ray cluster (``--ray``): a head and a second node on loopback.

Benches run through the real command line in a subprocess (the driver), with scripted
models or the fake OpenAI-compatible server; the store (PostgreSQL or Redis) is the one
source of truth the tests read. A lost node and a killed driver are real SIGKILLs.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from corrigo.config import Settings
from corrigo.liveness import owner_alive
from corrigo.records import RunRecord, Step
from corrigo.storage.factory import open_store
from corrigo.tasks.humaneval import problem
from tests.helpers import corrigo as corrigo_cli
from tests.helpers import fenced
from tests.model_server import ServerState, model_server
from tests.ray_cluster import Cluster, descendants, ray_cluster
from tests.stores import fresh_store_url
from tests.test_bench import _humaneval_scripts

pytest.importorskip("ray", reason="corrigo[ray] is part of the test install")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with ray_cluster(tmp_path_factory.mktemp("ray"), workers=1) as started:
        yield started


async def _runs_and_steps(url: str) -> tuple[list[RunRecord], dict[str, list[Step]]]:
    async with open_store(url) as store:
        runs = await store.list_runs(limit=10_000)
        return runs, {r.id: await store.get_steps(r.id) for r in runs}


def _assert_each_cell_once(runs: list[RunRecord], steps: dict[str, list[Step]]) -> None:
    """One finished run per task per cell, and no step stored twice in any run."""
    cells: dict[tuple[str | None, str], int] = {}
    for run in runs:
        assert run.status == "finished", (run.id, run.status)
        key = (run.spec.batch_id, run.spec.task.id)
        cells[key] = cells.get(key, 0) + 1
        seqs = [s.seq for s in steps[run.id]]
        keys = [s.key for s in steps[run.id] if s.key]
        assert len(seqs) == len(set(seqs)) and len(keys) == len(set(keys)), run.id
    assert set(cells.values()) == {1}, cells


@pytest.mark.parametrize("kind", ["postgres", "redis"])
async def test_a_bench_on_ray_runs_every_cell_once_in_the_actors(
    kind: str, cluster: Cluster, tmp_path: Path
) -> None:
    canon, fix = _humaneval_scripts(tmp_path)
    with fresh_store_url(kind, tmp_path) as url:
        done = corrigo_cli(
            "bench", "humaneval[:4]", "--strategies", "single,refine",
            "--models", f"scripted:{canon},scripted:{fix}",
            "--store", url, "--ray", cluster.address, "--ray-actors", "2", "-j", "2", "--json",
            home=tmp_path / "home",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert report["complete"] is True
        finals = {
            (c["strategy"], Path(c["model"]).name): c["final_passed"] for c in report["cells"]
        }
        assert finals == {
            ("single", "canon.yaml"): 4,
            ("single", "fix.yaml"): 2,
            ("refine", "canon.yaml"): 4,
            ("refine", "fix.yaml"): 4,
        }
        fixed = {(c["strategy"], Path(c["model"]).name): c["fixed"] for c in report["cells"]}
        assert fixed[("refine", "fix.yaml")] == 2
        runs, steps = await _runs_and_steps(url)
    assert len(runs) == 16
    _assert_each_cell_once(runs, steps)
    # The actors ran them (the local executor's runs all have the driver as owner).
    assert len({r.owner for r in runs}) == 2


async def test_a_runs_progress_streams_back_from_its_actor(
    cluster: Cluster, tmp_path: Path
) -> None:
    """``corrigo run --ray`` shows each task's round and node as the actor's graph moves:
    the events the local executor gives, in the same order, per task."""
    import corrigo
    from corrigo.lifecycle.ray_executor import RayExecutor

    _, fix = _humaneval_scripts(tmp_path)
    settings = Settings.from_env({"CORRIGO_HOME": str(tmp_path / "home")})
    seen: dict[str, dict[str, list[dict[str, Any]]]] = {"local": {}, "ray": {}}
    for where in ("local", "ray"):

        def note(task_id: str, event: dict[str, Any], where: str = where) -> None:
            seen[where].setdefault(task_id, []).append(event)

        with fresh_store_url("redis", tmp_path) as url:
            executor = RayExecutor(cluster.address, actors=1) if where == "ray" else None
            outcomes = await corrigo.run(
                "humaneval[:2]", strategy="refine", model=f"scripted:{fix}", store=url,
                settings=settings, concurrency=2, on_event=note, executor=executor,
            )  # fmt: skip
            assert [o.stop_reason for o in outcomes] == ["verified", "verified"]
            runs, _ = await _runs_and_steps(url)
        owners = {r.owner for r in runs}
        assert (f"/{os.getpid()}/" in next(iter(owners))) is (where == "local"), owners
    nodes = [e for e in seen["local"]["HumanEval/0"] if e.get("event") == "node"]
    # HumanEval/0 is fixed in round 2: the events name both rounds' nodes.
    assert {1, 2} <= {e["round"] for e in nodes}
    assert {"solve", "verify", "review", "refine"} <= {e["node"] for e in nodes}
    rounds = [e for e in seen["local"]["HumanEval/0"] if e.get("event") == "round"]
    assert [(e["round"], e["visible_passed"]) for e in rounds] == [(1, False), (2, True)]
    assert seen["ray"] == seen["local"]


def _held_server(count: int) -> tuple[ServerState, threading.Event, threading.Semaphore]:
    """A model server whose replies wait for ``release``; ``arrived`` is released once per
    request that reaches it. Each reply is the canonical solution of the task asked."""
    release, arrived = threading.Event(), threading.Semaphore(0)
    problems = [problem(f"HumanEval/{i}") for i in range(count)]

    def reply(messages: list[dict[str, Any]]) -> str:
        arrived.release()
        release.wait()
        asked = "\n".join(str(m.get("content", "")) for m in messages)
        for p in problems:
            if p["prompt"].strip() in asked:
                return fenced(p["prompt"] + p["canonical_solution"])
        return "no idea"

    return ServerState(reply_by=reply), release, arrived


def _start_bench(
    tmp_path: Path,
    url: str,
    base_url: str,
    cluster: Cluster,
    count: int,
    *,
    actors: int = 2,
    resume: str | None = None,
) -> subprocess.Popen[str]:
    """``corrigo bench`` of ``single`` on HumanEval's first ``count`` tasks (or ``--resume``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CORRIGO_"))}
    env.update({"CORRIGO_HOME": str(tmp_path / "home"), "OPENAI_API_KEY": "test-key"})
    grid = (
        ["--resume", resume]
        if resume
        else [f"humaneval[:{count}]", "--strategies", "single", "--models", "openai:fake"]
    )
    return subprocess.Popen(
        [sys.executable, "-m", "corrigo", "bench", *grid, "--base-url", base_url,
         "--store", url, "--ray", cluster.address, "--ray-actors", str(actors), "-j", "1",
         "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


def _wait_for(arrived: threading.Semaphore, n: int) -> None:
    for _ in range(n):
        assert arrived.acquire(timeout=600), "a model request never came"


async def test_a_node_lost_mid_bench_hands_its_run_to_another_actor(
    cluster: Cluster, tmp_path: Path
) -> None:
    count = 4
    state, release, arrived = _held_server(count)
    worker = cluster.nodes[1]  # the node to lose (up since the module began: schedulable)
    with fresh_store_url("redis", tmp_path) as url, model_server(state) as base_url:
        # An actor on each node, one run each, both waiting for the model.
        bench = _start_bench(tmp_path, url, base_url, cluster, count, actors=2)
        try:
            _wait_for(arrived, 2)
            actors_there = descendants(worker.raylet)
            running = [r for r in (await _runs_and_steps(url))[0] if r.status == "running"]
            lost = [r for r in running if int(str(r.owner).split("/")[1]) in actors_there]
            worker.kill()
            release.set()
            out, err = bench.communicate(timeout=900)
        finally:
            release.set()
            if bench.poll() is None:
                bench.kill()
                bench.communicate()
        assert bench.returncode == 0, err
        report = json.loads(out)
        assert report["complete"] is True and report["cells"][0]["final_passed"] == count
        runs, steps = await _runs_and_steps(url)
    _assert_each_cell_once(runs, steps)
    assert len(runs) == count
    # A run was in an actor on the lost node (else the test proved nothing): it was
    # finished by another actor, its one model step asked once more (the lost reply
    # was never stored), not stored twice.
    assert len(lost) == 1, [r.owner for r in running]
    handed = next(r for r in runs if r.id == lost[0].id)
    assert handed.owner != lost[0].owner
    assert sum(1 for s in steps[handed.id] if s.kind == "model") == 1
    assert len(state.requests) == count + 1


async def test_a_killed_driver_is_resumed_and_finishes_the_bench(
    cluster: Cluster, tmp_path: Path
) -> None:
    count = 4
    state, release, arrived = _held_server(count)
    with fresh_store_url("postgres", tmp_path) as url, model_server(state) as base_url:
        bench = _start_bench(tmp_path, url, base_url, cluster, count)
        try:
            _wait_for(arrived, 2)
            bench_id = await _bench_id(url)
            owners = {r.owner for r in (await _runs_and_steps(url))[0] if r.status == "running"}
            os.kill(bench.pid, signal.SIGKILL)
            bench.communicate()
            # Ray ends a dead driver's actors; wait until they are gone (their runs then
            # read as interrupted), a bounded number of looks, not a wall-clock race.
            for _ in range(600):
                if all(owner_alive(o) is False for o in owners):
                    break
                arrived.acquire(timeout=0.5)
            assert all(owner_alive(o) is False for o in owners)
        finally:
            release.set()
            if bench.poll() is None:
                bench.kill()
                bench.communicate()
        resumed = _start_bench(tmp_path, url, base_url, cluster, count, resume=bench_id)
        out, err = resumed.communicate(timeout=900)
        assert resumed.returncode == 0, err
        report = json.loads(out)
        assert report["complete"] is True and report["cells"][0]["final_passed"] == count
        runs, steps = await _runs_and_steps(url)
    _assert_each_cell_once(runs, steps)


async def _bench_id(url: str) -> str:
    async with open_store(url) as store:
        [bench] = await store.list_benches(limit=2)
    return bench.id


def test_bad_ray_input_is_one_line_exit_2_and_stores_nothing(
    cluster: Cluster, tmp_path: Path
) -> None:
    canon, _ = _humaneval_scripts(tmp_path)
    home = tmp_path / "home"
    base = ("bench", "humaneval[:1]", "--strategies", "single", "--models", f"scripted:{canon}")
    wrong = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "not-the-clusters-token"}
    refused = f"the Ray cluster at '{cluster.address}' refused this driver's token"
    cases: list[tuple[str, dict[str, str], str]] = [
        ("127.0.0.1:1", {}, "cannot reach a Ray cluster at '127.0.0.1:1'"),
        ("no-port", {}, "--ray takes 'auto', host:port or ray://host:port"),
        # The cluster takes only drivers with its token.
        (cluster.address, wrong, refused),
        (cluster.address, {"RAY_AUTH_MODE": "disabled"}, refused),
    ]
    # A port that takes connections but is not Ray's (a dashboard's, a typo).
    listener = socket.create_server(("127.0.0.1", 0))
    cases.append(
        (f"127.0.0.1:{listener.getsockname()[1]}", {}, "no Ray cluster answers at '127.0.0.1:")
    )
    with listener:
        for address, env, message in cases:
            done = corrigo_cli(*base, "--ray", address, home=home, env=env)
            assert done.returncode == 2, done.stderr
            assert message in done.stderr, done.stderr
            assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    # Without the extra: a Python where 'import ray' fails.
    blocker = tmp_path / "no-ray"
    (blocker / "ray").mkdir(parents=True)
    (blocker / "ray" / "__init__.py").write_text("raise ImportError('no ray here')\n")
    done = corrigo_cli(*base, "--ray", "auto", home=home, env={"PYTHONPATH": str(blocker)})
    assert done.returncode == 2
    assert done.stderr.strip() == "error: the ray executor needs Ray: pip install 'corrigo[ray]'"
    assert not (home / "corrigo.db").exists()  # no store was even opened


def test_sqlite_is_refused_when_a_node_is_on_another_host() -> None:
    from corrigo.errors import ConfigError
    from corrigo.lifecycle.ray_executor import _refuse_sqlite_across_hosts

    class Nodes:  # what ray.nodes() and the driver's address say, for a two-host cluster
        class util:
            @staticmethod
            def get_node_ip_address() -> str:
                return "10.0.0.1"

        @staticmethod
        def nodes() -> list[dict[str, Any]]:
            return [
                {"NodeManagerAddress": "10.0.0.1", "Alive": True},
                {"NodeManagerAddress": "10.0.0.2", "Alive": True},
                {"NodeManagerAddress": "10.0.0.3", "Alive": False},
            ]

    with pytest.raises(ConfigError, match=r"nodes at 10\.0\.0\.2: use a PostgreSQL or Redis"):
        _refuse_sqlite_across_hosts("sqlite:////tmp/x.db", Nodes)
    _refuse_sqlite_across_hosts("redis://127.0.0.1:6379/0", Nodes)  # a shared store is fine


def test_actors_get_the_drivers_settings_through_the_environment() -> None:
    settings = Settings.from_env(
        {"CORRIGO_HOME": "/data", "OPENAI_API_KEY": "k", "CORRIGO_MODEL_DEADLINE": "12.5"}
    ).with_overrides(base_url="http://127.0.0.1:9/v1", store_url="redis://127.0.0.1/0")
    assert Settings.from_env(settings.to_env()) == settings


def test_actors_get_model_keys_but_not_the_servers_api_tokens() -> None:
    from corrigo.lifecycle.ray_executor import passed_environment

    env = {
        "OPENAI_API_KEY": "sk-model",
        "CORRIGO_STORE": "redis://127.0.0.1:6379/0",
        "CORRIGO_API_TOKENS": "token-of-the-http-api-0123456789",
        "CORRIGO_SERVE_MODELS": "default=openai:gpt-4o-mini",
        "RAY_AUTH_TOKEN": "the-clusters-own",
        "HOME": "/root",
    }
    assert passed_environment(env) == {
        "OPENAI_API_KEY": "sk-model",
        "CORRIGO_STORE": "redis://127.0.0.1:6379/0",
    }


@contextmanager
def _ray_server(cluster: Cluster, tmp_path: Path, workers: int = 2) -> Iterator[Any]:
    """``corrigo serve --executor ray`` on the test cluster, with a Redis store of its own."""
    from tests.serve_helpers import demo_files, serve

    env = {"CORRIGO_SERVE_EXECUTOR": "ray", "RAY_ADDRESS": cluster.address}
    with (
        fresh_store_url("redis", tmp_path) as url,
        serve(tmp_path, demo_files(tmp_path), store_url=url, env=env, workers=workers) as server,
    ):
        yield server


def test_serve_with_the_ray_executor_runs_a_submitted_run_in_an_actor(
    cluster: Cluster, tmp_path: Path
) -> None:
    from tests.serve_helpers import read_events

    with _ray_server(cluster, tmp_path) as server, server.client() as http:
        body = {"tasks": "demo:fix", "strategy": "refine", "model": "script"}
        submitted = http.post("/v1/runs", json=body)
        assert submitted.status_code == 202, submitted.text
        [run_id] = submitted.json()["run_ids"]
        with http.stream("GET", f"/v1/runs/{run_id}/events") as response:
            found = read_events(response)
        assert found[-1]["event"] == "outcome"
        outcome = found[-1]["data"]["outcome"]
        assert outcome["stop_reason"] == "verified" and outcome["hidden_passed"] is True
        stored = http.get(f"/v1/runs/{run_id}/steps").json()["steps"]
        assert [e["data"] for e in found if e["event"] == "step"] == stored
        record = http.get(f"/v1/runs/{run_id}").json()
    # An actor executed it, not the server's process.
    assert record["owner"] and f"/{server.process.pid}/" not in record["owner"]


def test_serve_with_the_ray_executor_cancels_a_run_in_its_actor(
    cluster: Cluster, tmp_path: Path
) -> None:
    from tests.serve_helpers import read_events
    from tests.test_serve import submit, wait_for_step

    with _ray_server(cluster, tmp_path, workers=1) as server, server.client() as http:
        [busy] = submit(http, tasks="demo:slow")["run_ids"]
        wait_for_step(http, busy)  # an actor is in the slow run's sandbox now
        running = http.get(f"/v1/runs/{busy}").json()
        assert running["status"] == "running" and f"/{server.process.pid}/" not in running["owner"]
        stopped = http.post(f"/v1/runs/{busy}/cancel")
        assert stopped.status_code == 200, stopped.text
        record = stopped.json()
        assert record["status"] == "finished" and record["outcome"]["stop_reason"] == "cancelled"
        with http.stream("GET", f"/v1/runs/{busy}/events") as response:
            found = read_events(response)
        assert found[-1]["data"]["outcome"]["stop_reason"] == "cancelled"
        # The actor's slot is free again: the next run goes through.
        [quick] = submit(http, tasks="demo:add")["run_ids"]
        assert server.wait(quick)["outcome"]["stop_reason"] == "verified"
