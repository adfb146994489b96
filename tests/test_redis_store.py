"""The Redis store and checkpointer beyond the shared conformance suite, on the real server:
key layout under the prefix, retention, tampered data, bad URLs, and LangGraph graphs
checkpointed in Redis that crash and resume."""

from __future__ import annotations

import asyncio
import operator
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
import redis.asyncio as aioredis
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send
from stores import REDIS_URL, fresh_store_url, with_query

from corrigo.errors import RunNotFound, StoreError, StoreUnavailable
from corrigo.records import BenchSpec, Lesson, Outcome, RunQuery, utcnow
from corrigo.storage.factory import open_store
from corrigo.storage.redis import connection as redis_store
from corrigo.storage.redis.checkpoint import RedisSaver
from corrigo.storage.serde import JsonSerde
from corrigo.testing.storage import _spec, _step


@asynccontextmanager
async def raw_redis() -> AsyncIterator[Any]:
    """A plain client on the test server, to look at keys or tamper with them."""
    client = aioredis.from_url(REDIS_URL)
    try:
        yield client
    finally:
        await client.aclose()


async def keys_under(client: Any, prefix: str) -> dict[str, str]:
    """Every key under ``prefix:`` → its Redis type."""
    found = {}
    async for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        found[key.decode()] = (await client.type(key)).decode()
    return found


def prefix_of(url: str) -> str:
    return url.rsplit("prefix=", 1)[1]


@contextmanager
def redis_url(tmp_path: Path) -> Iterator[tuple[str, str]]:
    with fresh_store_url("redis", tmp_path) as url:
        yield url, prefix_of(url)


def _outcome(run_id: str) -> Outcome:
    return Outcome(run_id=run_id, task_id="t/1", stop_reason="verified", rounds=1)


# -- key layout --------------------------------------------------------------------------


async def test_every_key_is_under_the_prefix_in_the_documented_layout(tmp_path: Path) -> None:
    prefix = f"t-{uuid.uuid4().hex}"
    user, password = f"corrigo-test-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    async with raw_redis() as admin:
        # A user that may touch only keys under the prefix: the server refuses the rest.
        await admin.acl_setuser(
            user, enabled=True, passwords=[f"+{password}"], keys=[f"{prefix}:*"], commands=["+@all"]
        )
        try:
            host = REDIS_URL.split("://", 1)[1]
            url = f"redis://{user}:{password}@{host}?prefix={prefix}"
            async with open_store(url) as store:
                run = await store.create_run(
                    _spec("HumanEval/7", batch="b-1", model="openai:m"), owner="h/1/1"
                )
                await store.append_step(_step(run.id, 1))
                await store.claim_run(run.id, "h/2/2", expected="h/1/1")
                await store.finish_run(run.id, _outcome(run.id))
                assert await store.list_runs(
                    query=RunQuery(task_id="HumanEval/*", model="openai:m")
                )
                lesson = Lesson(text="Mind the bounds", scope="family", scope_key="HumanEval")
                await store.add_lesson(lesson)
                await store.record_lesson_outcome(["HumanEval"], [lesson.id], passed=True)
                await store.set_lesson_status(lesson.id, "demoted")
                assert await store.list_lessons(scope_keys=["HumanEval"], statuses=["demoted"])
                bench = BenchSpec(suite="humaneval[:1]", strategies=["refine"], models=["m"])
                await store.save_bench(bench)
                assert await store.get_bench("last") == bench
                assert await store.prune_runs(keep=5) == 0
                assert await keys_under(admin, prefix) == {
                    f"{prefix}:meta": "hash",
                    f"{prefix}:run:{run.id}": "string",
                    f"{prefix}:steps:{run.id}": "hash",
                    f"{prefix}:runs": "zset",
                    f"{prefix}:runs:ids": "zset",
                    f"{prefix}:runs:status:finished": "zset",
                    f"{prefix}:runs:task:HumanEval/7": "zset",
                    f"{prefix}:runs:tasks": "zset",
                    f"{prefix}:runs:strategy:refine": "zset",
                    f"{prefix}:runs:model:openai:m": "zset",
                    f"{prefix}:runs:model:scripted:review": "zset",
                    f"{prefix}:runs:batch:b-1": "zset",
                    f"{prefix}:lesson:{lesson.id}": "hash",
                    f"{prefix}:lessons": "zset",
                    f"{prefix}:lessons:ids": "zset",
                    f"{prefix}:lessons:scope:HumanEval": "zset",
                    f"{prefix}:lessons:status:demoted": "zset",
                    f"{prefix}:scope:HumanEval": "hash",
                    f"{prefix}:bench:{bench.id}": "string",
                    f"{prefix}:benches": "zset",
                    f"{prefix}:benches:ids": "zset",
                }  # and no query's temporary set is left behind
                # The record is plain JSON text, readable without corrigo.
                assert (await admin.get(f"{prefix}:run:{run.id}")).startswith(
                    b'{"schema_version":1'
                )
                # Deleting the run and the lesson leaves no index entry behind them.
                await store.delete_run(run.id)
                assert await store.delete_lessons([lesson.id]) == 1
                left = set(await keys_under(admin, prefix))
                assert left == {
                    f"{prefix}:meta",
                    f"{prefix}:scope:HumanEval",
                    f"{prefix}:bench:{bench.id}",
                    f"{prefix}:benches",
                    f"{prefix}:benches:ids",
                }
        finally:
            await admin.acl_deluser(user)
            for key in await keys_under(admin, prefix):
                await admin.delete(key)


async def test_the_url_prefix_separates_stores(tmp_path: Path) -> None:
    with redis_url(tmp_path) as (url_a, _), redis_url(tmp_path) as (url_b, _):
        async with open_store(url_a) as a, open_store(url_b) as b:
            run = await a.create_run(_spec())
            assert await b.list_runs() == []
            with pytest.raises(RunNotFound):
                await b.get_run(run.id)


# -- retention ---------------------------------------------------------------------------


async def test_prune_by_age_and_by_count(tmp_path: Path) -> None:
    with redis_url(tmp_path) as (url, prefix):
        async with open_store(url) as store, raw_redis() as client:
            old = []
            for i in range(3):
                run = await store.create_run(_spec(f"old/{i}"))
                await store.append_step(_step(run.id, 1))
                await store.finish_run(run.id, _outcome(run.id))
                old.append(run)
                await asyncio.sleep(0.002)
            running = await store.create_run(_spec("old/running"))
            cut = utcnow()
            await asyncio.sleep(0.002)
            new = []
            for i in range(3):
                run = await store.create_run(_spec(f"new/{i}"))
                await store.finish_run(run.id, _outcome(run.id))
                new.append(run)
                await asyncio.sleep(0.002)

            assert await store.prune_runs(older_than=cut) == 3
            for run in old:
                with pytest.raises(RunNotFound):
                    await store.get_run(run.id)
                assert not await client.exists(f"{prefix}:steps:{run.id}")
                assert not await client.exists(f"{prefix}:runs:task:{run.spec.task.id}")
            # Pruned tasks no longer match a task prefix; the running one still does.
            listed = await store.list_runs(query=RunQuery(task_id="old/*"))
            assert [r.id for r in listed] == [running.id]

            assert await store.prune_runs(keep=1) == 2
            left = [r.id for r in await store.list_runs(limit=10)]
            assert left == [new[2].id, running.id]
            assert await store.prune_runs(keep=0, older_than=cut) == 1
            assert [r.id for r in await store.list_runs()] == [running.id]


async def test_keep_in_the_url_prunes_when_a_run_finishes(tmp_path: Path) -> None:
    with redis_url(tmp_path) as (url, _):
        async with open_store(with_query(url, "keep=2")) as store:
            runs = []
            for i in range(4):
                runs.append(await store.create_run(_spec(f"k/{i}")))
                await asyncio.sleep(0.002)
            running = await store.create_run(_spec("k/running"))
            for run in runs:
                await store.finish_run(run.id, _outcome(run.id))
            kept = {r.id for r in await store.list_runs(query=RunQuery(status="finished"))}
            assert kept == {runs[2].id, runs[3].id}
            assert (await store.get_run(running.id)).status == "running"


# -- concurrency -------------------------------------------------------------------------


async def test_only_one_of_two_concurrent_claims_wins(tmp_path: Path) -> None:
    with redis_url(tmp_path) as (url, _):
        async with open_store(url) as a, open_store(url) as b:
            run = await a.create_run(_spec(), owner="h/1/1")
            results = await asyncio.gather(
                *(
                    store.claim_run(run.id, f"h/{n}/9", expected="h/1/1")
                    for n, store in enumerate([a, b] * 4, start=2)
                ),
                return_exceptions=True,
            )
            winners = [r for r in results if not isinstance(r, BaseException)]
            assert len(winners) == 1
            assert all(isinstance(r, StoreError) for r in results if r not in winners)
            assert (await a.get_run(run.id)).owner == winners[0].owner


# -- tampered data -----------------------------------------------------------------------


def _one_clear_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and "Traceback" not in text and "redis.exceptions" not in text
    return text


async def test_tampered_runs_and_steps_fail_loudly_naming_the_record(tmp_path: Path) -> None:
    with redis_url(tmp_path) as (url, prefix):
        async with open_store(url) as store, raw_redis() as client:
            run = await store.create_run(_spec())
            await store.append_step(_step(run.id, 1))
            run_key, steps_key = f"{prefix}:run:{run.id}", f"{prefix}:steps:{run.id}"

            await client.hset(steps_key, "2", '{"schema_version": 1, "seq": "two"}')
            with pytest.raises(StoreError, match="stored Step cannot be decoded") as err:
                await store.get_steps(run.id)
            _one_clear_line(err.value)

            await client.set(run_key, '{"schema_version": 99}')
            for read in (store.get_run(run.id), store.list_runs(), store.get_steps(run.id)):
                with pytest.raises(StoreError, match="stored RunRecord cannot be decoded") as err:
                    await read
                _one_clear_line(err.value)
            await client.set(run_key, b"\xff\xfe not even text")
            with pytest.raises(StoreError, match="stored RunRecord cannot be decoded"):
                await store.get_run(run.id)

            # A key of the wrong Redis type is a tampered record too, read one by one or listed.
            await client.delete(run_key)
            await client.hset(run_key, "record", "{}")
            for read in (store.get_run(run.id), store.list_runs()):
                with pytest.raises(StoreError, match="stored RunRecord cannot be decoded") as err:
                    await read
                assert "wrong Redis type" in _one_clear_line(err.value)
            with pytest.raises(StoreError, match="stored RunRecord"):
                await store.finish_run(run.id, _outcome(run.id))

            other = await store.create_run(_spec())
            await client.set(f"{prefix}:steps:{other.id}", "not a hash")
            with pytest.raises(StoreError, match="stored Step cannot be decoded"):
                await store.get_steps(other.id)
            with pytest.raises(StoreError, match="stored Step cannot be decoded"):
                await store.append_step(_step(other.id, 1))


async def test_tampered_lessons_benches_and_counters_fail_loudly(tmp_path: Path) -> None:
    with redis_url(tmp_path) as (url, prefix):
        async with open_store(url) as store, raw_redis() as client:
            lesson = Lesson(text="Check empty input", scope_key="t/1")
            await store.add_lesson(lesson)
            await client.hset(f"{prefix}:lesson:{lesson.id}", "uses", "many")
            with pytest.raises(StoreError, match="stored Lesson cannot be decoded"):
                await store.get_lesson(lesson.id)
            await client.hset(f"{prefix}:lesson:{lesson.id}", "record", "[]")
            with pytest.raises(StoreError, match="stored Lesson cannot be decoded"):
                await store.list_lessons()
            # Counting into a tampered key changes nothing, not even the good keys.
            await client.set(f"{prefix}:scope:broken", "x")
            with pytest.raises(StoreError, match="Lesson cannot be decoded"):
                await store.record_lesson_outcome(["t/1", "broken"], [], passed=True)
            assert (await store.scope_stats(["t/1"]))["t/1"].runs == 0
            await client.hset(f"{prefix}:scope:t/1", "runs", "lots")
            with pytest.raises(StoreError, match="stored ScopeStats cannot be decoded"):
                await store.scope_stats(["t/1"])

            bench = BenchSpec(suite="humaneval[:2]", strategies=["refine"], models=["m"])
            await store.save_bench(bench)
            await client.set(f"{prefix}:bench:{bench.id}", '{"schema_version": 1, "id": 7}')
            for read in (store.get_bench(bench.id), store.get_bench("last"), store.list_benches()):
                with pytest.raises(StoreError, match="stored BenchSpec cannot be decoded") as err:
                    await read
                _one_clear_line(err.value)


# -- URLs, connections, lifecycle --------------------------------------------------------


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redis://127.0.0.1:{port}/0", "Connect"),
        ("redis://127.0.0.1:6379/not-a-db", "database number"),
        ("redis://127.0.0.1:6379/99", "DB index is out of range"),
        ("redis://127.0.0.1:6379/0?keep=some", "keep must be a whole number"),
        ("redis://127.0.0.1:6379/0?prefix=", "prefix"),
        ("redis://127.0.0.1:6379/0?socket_timeout=soon", "socket_timeout"),
        ("redis://u:secret@127.0.0.1:{port}/0", "Connect"),
    ],
)
async def test_bad_urls_and_refused_ports_are_one_line(url: str, says: str) -> None:
    url = url.format(port=_unused_port())
    with pytest.raises(StoreUnavailable, match="cannot open store") as err:
        async with open_store(url):
            pass
    text = _one_clear_line(err.value)
    assert says in text
    assert "secret" not in text


async def test_a_missing_driver_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redis_store, "aioredis", None)  # as if the redis extra were absent
    with pytest.raises(StoreUnavailable, match=r"install corrigo\[redis\]"):
        async with open_store(REDIS_URL):
            pass


async def test_close_is_safe_twice_and_a_closed_store_says_so(tmp_path: Path) -> None:
    with redis_url(tmp_path) as (url, _):
        store = open_store(url)
        with pytest.raises(StoreError, match="not open"):
            await store.list_runs()
        await store.open()
        await store.create_run(_spec())
        await store.close()
        await store.close()
        with pytest.raises(StoreError, match="not open"):
            await store.list_runs()


# -- the LangGraph checkpointer ----------------------------------------------------------


class State(TypedDict, total=False):
    items: list[int]
    results: Annotated[list[int], operator.add]
    log: Annotated[list[str], operator.add]
    total: int


def build_graph(calls: dict[str, int], crash_once: bool = False) -> Any:
    """plan → one ``work`` per item (Send fan-out) → combine → finish. With
    ``crash_once``, ``combine`` raises on its first call, as if the process died there."""

    def count(node: str) -> int:
        calls[node] = calls.get(node, 0) + 1
        return calls[node]

    def plan(state: State) -> State:
        count("plan")
        return {"items": [1, 2, 3], "log": ["plan"]}

    def fan_out(state: State) -> list[Send]:
        return [Send("work", {"item": item}) for item in state["items"]]

    def work(arg: dict[str, int]) -> State:
        count("work")
        return {"results": [arg["item"] * 10], "log": [f"work{arg['item']}"]}

    def combine(state: State) -> State:
        if count("combine") == 1 and crash_once:
            raise RuntimeError("simulated crash")
        return {"total": sum(state["results"]), "log": ["combine"]}

    def finish(state: State) -> State:
        count("finish")
        return {"log": ["finish"]}

    graph = StateGraph(State)
    for name, node in [("plan", plan), ("work", work), ("combine", combine), ("finish", finish)]:
        graph.add_node(name, node)  # type: ignore[call-overload]
    graph.add_edge(START, "plan")
    graph.add_conditional_edges("plan", fan_out, ["work"])
    graph.add_edge("work", "combine")
    graph.add_edge("combine", "finish")
    graph.add_edge("finish", END)
    return graph


@pytest.fixture
async def saver(tmp_path: Path) -> AsyncIterator[RedisSaver]:
    with redis_url(tmp_path) as (_, prefix):
        client = aioredis.from_url(REDIS_URL)
        try:
            yield RedisSaver(client, prefix=prefix)
        finally:
            await client.aclose()


def _config(thread: str = "thread-1") -> Any:
    return {"configurable": {"thread_id": thread}}


async def _history(saver: BaseCheckpointSaver[Any], config: Any, **kw: Any) -> list[Any]:
    return [item async for item in saver.alist(config, **kw)]


async def test_a_crashed_graph_resumes_from_its_checkpoint(saver: RedisSaver) -> None:
    calls: dict[str, int] = {}
    graph = build_graph(calls, crash_once=True).compile(checkpointer=saver)
    with pytest.raises(RuntimeError, match="simulated crash"):
        async for _ in graph.astream({"items": []}, _config()):
            pass
    assert calls == {"plan": 1, "work": 3, "combine": 1}
    state = await graph.aget_state(_config())
    assert state.next == ("combine",) and state.values["results"] == [10, 20, 30]

    # A new process: a fresh saver object on the same keys, a graph compiled again.
    again = RedisSaver(saver.client, prefix=saver.prefix)
    resumed = build_graph(calls, crash_once=True).compile(checkpointer=again)
    updates = [update async for update in resumed.astream(None, _config())]
    assert [next(iter(u)) for u in updates] == ["combine", "finish"]
    assert calls == {"plan": 1, "work": 3, "combine": 2, "finish": 1}  # no finished step again

    clean = build_graph({}).compile(checkpointer=InMemorySaver(serde=JsonSerde()))
    expected = await clean.ainvoke({"items": []}, _config())
    assert (await resumed.aget_state(_config())).values == expected
    assert expected["total"] == 60 and expected["log"][-1] == "finish"


async def test_checkpoints_match_the_in_memory_saver(saver: RedisSaver) -> None:
    memory = InMemorySaver(serde=JsonSerde())
    for checkpointer in (saver, memory):
        graph = build_graph({}).compile(checkpointer=checkpointer)
        await graph.ainvoke({"items": []}, _config())
    ours, theirs = await _history(saver, _config()), await _history(memory, _config())
    assert [c.metadata["step"] for c in ours] == [4, 3, 2, 1, 0, -1]
    assert [(c.metadata["step"], c.metadata["source"]) for c in ours] == [
        (c.metadata["step"], c.metadata["source"]) for c in theirs
    ]
    for mine, reference in zip(ours, theirs, strict=True):
        assert mine.checkpoint["channel_values"] == reference.checkpoint["channel_values"]
        assert sorted(w[1] for w in mine.pending_writes or []) == sorted(
            w[1] for w in reference.pending_writes or []
        )
    # Each checkpoint's parent is the one before it.
    ids = [c.config["configurable"]["checkpoint_id"] for c in ours]
    assert [c.parent_config["configurable"]["checkpoint_id"] for c in ours[:-1]] == ids[1:]
    assert ours[-1].parent_config is None
    latest = await saver.aget_tuple(_config())
    assert latest is not None and latest.config["configurable"]["checkpoint_id"] == ids[0]
    assert latest.checkpoint["channel_values"]["total"] == 60

    # A checkpoint by id, and alist's limit, before and filter, as InMemorySaver answers.
    third = await saver.aget_tuple(
        {"configurable": {**_config()["configurable"], "checkpoint_id": ids[2]}}
    )
    assert third is not None and third.metadata["step"] == 2
    queries: list[tuple[dict[str, Any], dict[str, Any]]] = [
        ({"limit": 2}, {"limit": 2}),
        ({"before": ours[1].config}, {"before": theirs[1].config}),
        ({"before": ours[1].config, "limit": 1}, {"before": theirs[1].config, "limit": 1}),
        ({"filter": {"source": "input"}}, {"filter": {"source": "input"}}),
        ({"filter": {"step": 2, "source": "loop"}}, {"filter": {"step": 2, "source": "loop"}}),
    ]
    for mine_kw, their_kw in queries:
        steps = [c.metadata["step"] for c in await _history(saver, _config(), **mine_kw)]
        reference = [c.metadata["step"] for c in await _history(memory, _config(), **their_kw)]
        assert steps == reference and steps, mine_kw
    assert await saver.aget_tuple(_config("no-such-thread")) is None


async def test_threads_are_separate_and_deleted_whole(saver: RedisSaver) -> None:
    graph = build_graph({}).compile(checkpointer=saver)
    await graph.ainvoke({"items": []}, _config("a"))
    await graph.ainvoke({"items": []}, _config("b:with/odd*chars"))
    assert len(await _history(saver, None)) == 12
    await saver.adelete_thread("a")
    assert await saver.aget_tuple(_config("a")) is None
    assert len(await _history(saver, _config("b:with/odd*chars"))) == 6
    await saver.adelete_thread("b:with/odd*chars")
    assert await keys_under(saver.client, saver.prefix) == {}


async def test_checkpoints_are_json_and_tampering_fails_loudly(saver: RedisSaver) -> None:
    graph = build_graph({}).compile(checkpointer=saver)
    await graph.ainvoke({"items": []}, _config())
    assert isinstance(saver.serde, JsonSerde)
    client = saver.client
    blobs = await client.hgetall(f"{saver.prefix}:cp:thread-1::blobs")
    assert blobs and all(v.split(b"\n", 1)[0] in {b"json", b"empty"} for v in blobs.values())

    latest = await saver.aget_tuple(_config())
    assert latest is not None
    checkpoint_id = latest.config["configurable"]["checkpoint_id"]
    await client.hset(f"{saver.prefix}:cp:thread-1::c:{checkpoint_id}", "type", "pickle")
    with pytest.raises(StoreError, match="refused"):
        await saver.aget_tuple(_config())
    await client.hset(f"{saver.prefix}:cp:thread-1::c:{checkpoint_id}", "type", "json")
    await client.hset(f"{saver.prefix}:cp:thread-1::c:{checkpoint_id}", "checkpoint", b"{oops")
    with pytest.raises(StoreError, match="cannot be decoded"):
        await saver.aget_tuple(_config())
    await client.delete(f"{saver.prefix}:cp:thread-1::ids")
    await client.set(f"{saver.prefix}:cp:thread-1::ids", "x")
    with pytest.raises(StoreError, match="stored checkpoint cannot be decoded"):
        await saver.aget_tuple(_config())


async def test_the_sync_api_says_it_is_async_only(saver: RedisSaver) -> None:
    with pytest.raises(NotImplementedError, match="async-only"):
        saver.get_tuple(_config())
    graph = build_graph({}).compile(checkpointer=saver)
    with pytest.raises(NotImplementedError, match="async-only"):
        graph.invoke({"items": []}, _config())
