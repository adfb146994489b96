"""``corrigo serve`` over real HTTP: uvicorn in a subprocess on loopback, httpx against it,
scripted models and a small suite configured server-side (see tests/serve_helpers.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.serve_helpers import (
    CANARY,
    OTHER_TOKEN,
    TOKEN,
    DemoFiles,
    Server,
    demo_files,
    read_events,
    serve,
)
from tests.stores import BACKENDS, fresh_store_url


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> DemoFiles:
    return demo_files(tmp_path_factory.mktemp("serve-files"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, files: DemoFiles) -> Iterator[Server]:
    """One server (SQLite) shared by the tests that do not restart or limit it."""
    with serve(tmp_path_factory.mktemp("serve"), files) as running:
        yield running


def submit(http: httpx.Client, **body: Any) -> dict[str, Any]:
    response = http.post("/v1/runs", json=body)
    assert response.status_code == 202, response.text
    return dict(response.json())


def wait_for_step(http: httpx.Client, run_id: str) -> None:
    """Until the run has stored a step (it is running)."""
    with http.stream("GET", f"/v1/runs/{run_id}/events") as response:
        assert read_events(response, stop_after=1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_submit_then_follow_events_to_the_outcome(
    backend: str, tmp_path: Path, files: DemoFiles
) -> None:
    with (
        fresh_store_url(backend, tmp_path) as url,
        serve(tmp_path, files, store_url=url) as srv,
        srv.client() as http,
    ):
        health = http.get("/v1/health").json()
        assert health["status"] == "ok" and health["store"] == "ok"
        submitted = submit(http, tasks="demo:fix", strategy="refine", model="script")
        [run_id] = submitted["run_ids"]
        assert submitted["batch_id"].startswith("api_") and submitted["status"] == "queued"
        with http.stream("GET", f"/v1/runs/{run_id}/events") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            found = read_events(response)
        steps = [e for e in found if e["event"] == "step"]
        assert found[-1]["event"] == "outcome" and found[-1]["id"] == "outcome"
        outcome = found[-1]["data"]["outcome"]
        assert outcome["stop_reason"] == "verified" and outcome["hidden_passed"] is True
        assert outcome["first_round_passed"] is False and outcome["rounds"] == 2

        stored = http.get(f"/v1/runs/{run_id}/steps").json()["steps"]
        assert [e["data"] for e in steps] == stored
        assert [e["id"] for e in steps] == [str(s["seq"]) for s in stored]
        assert [s["role"] for s in stored][:5] == [
            "solver",
            "verifier",
            "reviewer",
            "refiner",
            "verifier",
        ]
        record = http.get(f"/v1/runs/{run_id}").json()
        assert record["status"] == "finished" and record["outcome"] == outcome
        assert record["spec"]["batch_id"] == submitted["batch_id"]
        later = http.get(f"/v1/runs/{run_id}/steps", params={"after": 5}).json()["steps"]
        assert [s["seq"] for s in later] == [s["seq"] for s in stored if s["seq"] > 5]


def test_event_stream_reconnect_loses_and_repeats_nothing(server: Server) -> None:
    with server.client() as http:
        [run_id] = submit(http, tasks="demo:fix")["run_ids"]
        with http.stream("GET", f"/v1/runs/{run_id}/events") as response:
            first = read_events(response, stop_after=3)
        assert [e["event"] for e in first] == ["step"] * 3
        headers = {"Last-Event-ID": first[-1]["id"]}
        with http.stream("GET", f"/v1/runs/{run_id}/events", headers=headers) as response:
            rest = read_events(response)
        assert rest[-1]["event"] == "outcome"
        seqs = [int(e["id"]) for e in first + rest if e["event"] == "step"]
        stored = http.get(f"/v1/runs/{run_id}/steps").json()["steps"]
        assert seqs == [s["seq"] for s in stored] == list(range(1, len(stored) + 1))
        # ?after= does the same for clients that cannot set the header.
        with http.stream("GET", f"/v1/runs/{run_id}/events", params={"after": 6}) as response:
            tail = read_events(response)
        assert [e["id"] for e in tail] == [str(s["seq"]) for s in stored[6:]] + ["outcome"]
        # After the outcome there is nothing more: 204 tells EventSource to stop.
        done = http.get(f"/v1/runs/{run_id}/events", headers={"Last-Event-ID": "outcome"})
        assert done.status_code == 204
        bad = http.get(f"/v1/runs/{run_id}/events", headers={"Last-Event-ID": "x"})
        assert bad.status_code == 422 and bad.json()["code"] == "invalid_request"


def test_list_filters_and_pagination(server: Server) -> None:
    with server.client() as http:
        first = submit(http, tasks="demo:add,fix")
        second = submit(http, tasks=[dict(_inline("solo"))])
        ids = first["run_ids"] + second["run_ids"]
        for run_id in ids:
            server.wait(run_id)
        batch = http.get("/v1/runs", params={"batch": first["batch_id"]}).json()
        assert {r["id"] for r in batch["runs"]} == set(first["run_ids"]) and batch["next"] is None

        # Every run once, newest first, one per page.
        seen: list[str] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 1, **({"before": cursor} if cursor else {})}
            page = http.get("/v1/runs", params=params).json()
            seen += [r["id"] for r in page["runs"]]
            cursor = page["next"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) and set(ids) <= set(seen)
        everything = [r["id"] for r in http.get("/v1/runs", params={"limit": 200}).json()["runs"]]
        assert seen == everything

        def listed(**params: Any) -> set[str]:
            response = http.get("/v1/runs", params={"limit": 200, **params})
            assert response.status_code == 200, response.text
            return {r["id"] for r in response.json()["runs"]}

        assert set(ids) <= listed(status="finished")
        assert not set(ids) & listed(status="queued")
        assert listed(task="fix", batch=first["batch_id"]) == {first["run_ids"][1]}
        assert listed(task="so*") >= set(second["run_ids"])
        assert set(ids) <= listed(strategy="refine", model="script")
        assert not set(ids) & listed(strategy="best_of_n")
        invalid = http.get("/v1/runs", params={"before": "nonsense"})
        assert invalid.status_code == 422 and invalid.json()["code"] == "invalid_request"
        assert http.get("/v1/runs", params={"status": "nope"}).status_code == 422
        missing = http.get("/v1/runs/run_doesnotexist")
        assert missing.status_code == 404 and missing.json()["code"] == "not_found"


def test_replay_exact_and_reverified(server: Server) -> None:
    with server.client() as http:
        [run_id] = submit(http, tasks="demo:fix")["run_ids"]
        server.wait(run_id)
        exact = http.post(f"/v1/runs/{run_id}/replay")
        assert exact.status_code == 200, exact.text
        report = exact.json()
        assert report["mode"] == "exact" and report["all_matched"] is True
        assert report["model_calls"] == 0 and report["stop_reason"] == "verified"
        again = http.post(f"/v1/runs/{run_id}/replay", params={"reverify": "true"}).json()
        assert again["mode"] == "reverify" and again["all_matched"] is True


def test_cancel_a_queued_and_a_running_run(tmp_path: Path, files: DemoFiles) -> None:
    with serve(tmp_path, files, workers=1) as srv, srv.client() as http:
        [busy] = submit(http, tasks="demo:slow")["run_ids"]
        wait_for_step(http, busy)  # the one worker is in the slow run's sandbox now
        [waiting] = submit(http, tasks="demo:slow")["run_ids"]
        assert http.get(f"/v1/runs/{waiting}").json()["status"] == "queued"
        cancelled = http.post(f"/v1/runs/{waiting}/cancel")
        assert cancelled.status_code == 200, cancelled.text
        record = cancelled.json()
        assert record["status"] == "finished" and record["outcome"]["stop_reason"] == "cancelled"
        assert http.get(f"/v1/runs/{waiting}/steps").json()["steps"] == []

        stopped = http.post(f"/v1/runs/{busy}/cancel").json()
        assert stopped["status"] == "finished" and stopped["outcome"]["stop_reason"] == "cancelled"
        with http.stream("GET", f"/v1/runs/{busy}/events") as response:
            found = read_events(response)
        assert found[-1]["data"]["outcome"]["stop_reason"] == "cancelled"
        again = http.post(f"/v1/runs/{busy}/cancel")
        assert again.status_code == 409 and again.json()["code"] == "finished"
        # The worker is free again: a new run goes through.
        [quick] = submit(http, tasks="demo:add")["run_ids"]
        assert srv.wait(quick)["outcome"]["stop_reason"] == "verified"


def test_a_restarted_server_runs_its_queue_and_resumes_interrupted_runs(
    tmp_path: Path, files: DemoFiles
) -> None:
    store_url = f"sqlite:///{tmp_path}/restart.db"
    with serve(tmp_path / "one", files, store_url=store_url, workers=1) as first:
        with first.client() as http:
            slow, add, fix = submit(http, tasks="demo:slow,add,fix")["run_ids"]
            wait_for_step(http, slow)
            statuses = {r: http.get(f"/v1/runs/{r}").json()["status"] for r in (add, fix)}
            assert statuses == {add: "queued", fix: "queued"}
        first.stop()  # graceful: the slow run is left unfinished, not cancelled
    with serve(tmp_path / "two", files, store_url=store_url, workers=1) as second:
        assert second.wait(add)["outcome"]["stop_reason"] == "verified"
        assert second.wait(fix)["outcome"]["stop_reason"] == "verified"
        resumed = second.wait(slow)
        # Resumed, not cancelled: its script has no reviewer reply, so it ends in an error
        # after the (again timed-out) tests, without asking the solver a second time.
        assert resumed["outcome"]["stop_reason"] == "error"
        with second.client() as http:
            steps = http.get(f"/v1/runs/{slow}/steps").json()["steps"]
        assert [s["role"] for s in steps].count("solver") == 1
        assert [s["seq"] for s in steps] == list(range(1, len(steps) + 1))


def _inline(task_id: str, test: str = "assert add(1, 2) == 3") -> dict[str, Any]:
    return {
        "id": task_id,
        "prompt": 'def add(a: int, b: int) -> int:\n    """Sum."""\n',
        "entry_point": "add",
        "visible_tests": [test, "assert not add(0, 0)", "assert add(2, b=3) == 5"],
    }


ENDPOINTS = [
    ("GET", "/v1/runs"),
    ("POST", "/v1/runs"),
    ("GET", "/v1/runs/run_x"),
    ("GET", "/v1/runs/run_x/steps"),
    ("GET", "/v1/runs/run_x/events"),
    ("POST", "/v1/runs/run_x/cancel"),
    ("POST", "/v1/runs/run_x/replay"),
    ("GET", "/docs"),
    ("GET", "/openapi.json"),
]


def test_every_endpoint_but_health_needs_a_valid_token(server: Server) -> None:
    body = {"tasks": "demo:add"}
    for token in (None, "wrong-token-0123456789abcdef", TOKEN + "x", TOKEN[:-1]):
        with server.client(token=token) as http:
            assert http.get("/v1/health").status_code == 200
            for method, path in ENDPOINTS:
                response = http.request(method, path, json=body if method == "POST" else None)
                assert response.status_code == 401, (token, method, path, response.text)
                assert response.json()["code"] == "unauthorized"
    with server.client(token=None, headers={"Authorization": f"Basic {TOKEN}"}) as http:
        assert http.get("/v1/runs").status_code == 401
    with server.client(token=OTHER_TOKEN) as http:
        assert http.get("/v1/runs").status_code == 200
        assert "/v1/runs/{run_id}/events" in http.get("/openapi.json").json()["paths"]
        docs = http.get("/docs").text
        # Readable offline: rendered on the server, no script from anywhere.
        assert "openapi.json" in docs and "/v1/runs/{run_id}/events" in docs
        assert "<script" not in docs
    # The viewer's cookie is a token too; a change it authenticates must come from here.
    with server.client(token=None, cookies={"corrigo_token": TOKEN}) as http:
        assert http.get("/v1/runs").status_code == 200
        foreign = http.post(
            "/v1/runs", json={"tasks": "demo:add"}, headers={"Origin": "https://evil.example"}
        )
        assert foreign.status_code == 403 and foreign.json()["code"] == "cross_origin"
    with server.client(token=None, cookies={"corrigo_token": "wrong"}) as http:
        assert http.get("/v1/runs").status_code == 401


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"tasks": "jsonl:/etc/passwd"}, "path_not_allowed"),
        ({"tasks": "jsonl:tasks.jsonl"}, "unknown_suite"),
        ({"tasks": "../x"}, "path_not_allowed"),
        ({"tasks": "/etc/passwd"}, "path_not_allowed"),
        ({"tasks": "https://example.com/tasks.jsonl"}, "path_not_allowed"),
        ({"tasks": "humaneval[:2]"}, "unknown_suite"),
        ({"tasks": "demo:nope"}, "unknown_task"),
        ({"tasks": "demo:../../etc/passwd"}, "path_not_allowed"),
        ({"tasks": "demo:add", "model": "http://127.0.0.1:9/v1"}, "model_not_allowed"),
        ({"tasks": "demo:add", "model": "openai:gpt-4o-mini"}, "model_not_allowed"),
        ({"tasks": "demo:add", "model": "scripted:/etc/passwd"}, "model_not_allowed"),
        ({"tasks": "demo:add", "model": "gpt-4o"}, "unknown_model"),
        ({"tasks": "demo:add", "strategy": "nope"}, "unknown_strategy"),
        ({"tasks": "demo:add", "strategy": "best_of_n(n=0)"}, "unknown_strategy"),
        ({"tasks": "demo:add", "params": {"tests": "/etc/passwd"}}, "path_not_allowed"),
        ({"tasks": "demo:add", "budgets": {"max_rounds": 1000}}, "over_cap"),
        ({"tasks": "demo:add", "base_url": "http://127.0.0.1:9"}, "invalid_request"),
        ({"tasks": [{"id": "x", "prompt": "p", "entry_point": "not valid"}]}, "invalid_task"),
        ({"tasks": [{"id": "x", "prompt": "p", "entry_point": "f", "path": "/x"}]}, "invalid_task"),
        ({"tasks": [_inline("a"), _inline("a")]}, "invalid_task"),
        ({"tasks": []}, "no_tasks"),
        # Tests run on the sandbox's trusted side: over HTTP they may only be data.
        ({"tasks": [_inline("a", "import os\nassert add(1, 2) == 3")]}, "code_not_allowed"),
        (
            {"tasks": [_inline("a", "assert add(1, 2) == open('/proc/1/environ').read()")]},
            "code_not_allowed",
        ),
        ({"tasks": [_inline("a", "assert __import__('os').getuid() == 0")]}, "code_not_allowed"),
        ({"tasks": [{**_inline("a"), "preamble": "import os"}]}, "code_not_allowed"),
        ({"tasks": [{**_inline("a"), "hidden_tests": ["print(1)"]}]}, "code_not_allowed"),
        # Instruction checkers read some arguments as patterns: those tasks come from suites.
        (
            {
                "tasks": [
                    {
                        "id": "i",
                        "kind": "instructions",
                        "prompt": "p",
                        "instructions": [
                            {"id": "keywords:existence", "kwargs": {"keywords": ["(a+)+$"]}}
                        ],
                    }
                ]
            },
            "code_not_allowed",
        ),
        ({"tasks": [{"id": "m", "kind": "math", "prompt": "p"}]}, "invalid_task"),
        # Lessons are shared by every caller of the store: not over HTTP.
        ({"tasks": "demo:add", "strategy": "refine(lessons=learn)"}, "lessons_not_allowed"),
        ({"tasks": "demo:add", "params": {"lessons": "use"}}, "lessons_not_allowed"),
        # A fan-out is built before budgets are checked: counts are bounded.
        ({"tasks": "demo:add", "strategy": "best_of_n(n=5000000)"}, "unknown_strategy"),
        ({"tasks": "demo:add", "strategy": "multi_agent(solvers=500)"}, "unknown_strategy"),
    ],
)
def test_requests_name_only_what_the_server_configured(
    server: Server, body: dict[str, Any], code: str
) -> None:
    with server.client() as http:
        response = http.post("/v1/runs", json=body)
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["code"] == code and error["error"], error


def test_size_tasks_runs_and_queue_limits(tmp_path: Path, files: DemoFiles) -> None:
    env = {
        "CORRIGO_SERVE_MAX_REQUEST_BYTES": "4096",
        "CORRIGO_SERVE_MAX_TASKS": "3",
        "CORRIGO_SERVE_MAX_RUNS_PER_TOKEN": "3",
        "CORRIGO_SERVE_QUEUE": "3",
    }
    with serve(tmp_path, files, workers=1, env=env) as srv, srv.client() as http:
        big = {"tasks": [{**_inline("big"), "prompt": "x" * 5000}]}
        too_large = http.post("/v1/runs", json=big)
        assert too_large.status_code == 413 and too_large.json()["code"] == "request_too_large"

        def chunks() -> Iterator[bytes]:  # no Content-Length: the body is counted as read
            payload = json.dumps(big).encode()
            for start in range(0, len(payload), 1000):
                yield payload[start : start + 1000]

        streamed = http.post(
            "/v1/runs", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert streamed.status_code == 413 and streamed.json()["code"] == "request_too_large"
        many = http.post("/v1/runs", json={"tasks": [_inline(f"t{i}") for i in range(4)]})
        assert many.status_code == 422 and many.json()["code"] == "too_many_tasks"
        assert http.post("/v1/runs", json={"tasks": "demo:add,add,add,add"}).status_code == 422

        submit(http, tasks="demo:slow,slow")
        over = http.post("/v1/runs", json={"tasks": "demo:slow,slow"})
        assert over.status_code == 429 and over.json()["code"] == "too_many_runs"
        with srv.client(token=OTHER_TOKEN) as other:
            full = other.post("/v1/runs", json={"tasks": "demo:add,add,add"})
            assert full.status_code == 503 and full.json()["code"] == "queue_full"
            assert "Retry-After" in full.headers


def test_no_secret_in_any_response_or_event(server: Server) -> None:
    bodies: list[str] = []
    with server.client() as http:
        [run_id] = submit(http, tasks="demo:fix")["run_ids"]
        with http.stream("GET", f"/v1/runs/{run_id}/events") as response:
            bodies.append("".join(response.iter_text()))
        for path in (
            "/v1/health",
            "/v1/runs",
            f"/v1/runs/{run_id}",
            f"/v1/runs/{run_id}/steps",
            "/openapi.json",
            "/docs",
            "/v1/runs/run_nope",
        ):
            bodies.append(http.get(path).text)
        bodies.append(http.post(f"/v1/runs/{run_id}/replay").text)
        bodies.append(http.post("/v1/runs", json={"tasks": "demo:add", "model": "x:y"}).text)
        bodies.append(http.post(f"/v1/runs/{run_id}/cancel").text)
    with server.client(token=None) as http:
        bodies.append(http.get("/v1/runs").text)
    assert all(bodies) and "verified" in bodies[0]
    for body in bodies:
        assert CANARY not in body and TOKEN not in body and OTHER_TOKEN not in body


def test_runs_are_cancelled_only_by_their_token_and_bad_ids_are_422(server: Server) -> None:
    with server.client() as http:
        [run_id] = submit(http, tasks="demo:add")["run_ids"]
        server.wait(run_id)
        events = http.get(
            f"/v1/runs/{run_id}/events", headers={"Last-Event-ID": "\u00b2".encode("latin-1")}
        )
        assert events.status_code == 422, events.text
        huge = http.get(f"/v1/runs/{run_id}/events", headers={"Last-Event-ID": "9" * 5000})
        assert huge.status_code == 422, huge.text
        page = http.get("/v1/runs", params={"before": "9" * 40 + "_run_x"})
        assert page.status_code == 422, page.text
    with server.client(token=OTHER_TOKEN) as other:
        refused = other.post(f"/v1/runs/{run_id}/cancel")
    assert refused.status_code == 403 and refused.json()["code"] == "not_yours"


def test_concurrent_replays_never_fail_the_server(server: Server) -> None:
    import concurrent.futures

    with server.client() as http:
        [run_id] = submit(http, tasks="demo:fix", strategy="refine")["run_ids"]
        server.wait(run_id)

    def replay(_: int) -> int:
        with server.client() as client:
            return client.post(f"/v1/runs/{run_id}/replay").status_code

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(replay, range(6)))
    assert set(codes) <= {200, 429} and 200 in codes, codes
    with server.client() as http:
        assert http.get("/v1/health").status_code == 200


def test_event_streams_are_limited_per_token(tmp_path: Path, files: DemoFiles) -> None:
    env = {"CORRIGO_SERVE_MAX_STREAMS_PER_TOKEN": "1"}
    with serve(tmp_path, files, env=env) as srv, srv.client() as http:
        [busy] = submit(http, tasks="demo:slow")["run_ids"]
        with http.stream("GET", f"/v1/runs/{busy}/events") as first:
            assert first.status_code == 200
            second = http.get(f"/v1/runs/{busy}/events")
            assert second.status_code == 429 and second.json()["code"] == "too_many_streams"
            with (
                srv.client(token=OTHER_TOKEN) as other,
                other.stream("GET", f"/v1/runs/{busy}/events") as theirs,
            ):
                assert theirs.status_code == 200  # the limit is per token
        # The closed stream gave its slot back.
        [done] = submit(http, tasks="demo:add")["run_ids"]
        srv.wait(done)
        with http.stream("GET", f"/v1/runs/{done}/events") as again:
            assert again.status_code == 200
        http.post(f"/v1/runs/{busy}/cancel")
