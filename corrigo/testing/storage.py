"""Checks every TrajectoryStore backend must pass; ``tests/`` runs them per backend.

Each check is an async function taking an opened store; it raises AssertionError on
a contract violation. A new backend is done when it passes all of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from corrigo.errors import RunNotFound, StoreError
from corrigo.records import (
    BenchSpec,
    Lesson,
    Outcome,
    RunQuery,
    RunSpec,
    Step,
    Task,
    Usage,
    utcnow,
)
from corrigo.storage.base import TrajectoryStore

Check = Callable[[TrajectoryStore], Awaitable[None]]


def _spec(
    task_id: str = "t/1",
    batch: str | None = None,
    strategy: str = "refine",
    model: str = "scripted:x",
) -> RunSpec:
    task = Task(id=task_id, prompt="Write f.", entry_point="f")
    return RunSpec(
        task=task,
        strategy=strategy,
        roles={"solver": model, "reviewer": "scripted:review"},
        batch_id=batch,
    )


async def _raises(awaitable: Awaitable[object], error: type[Exception], what: str) -> None:
    try:
        await awaitable
    except error:
        return
    raise AssertionError(f"{what} must raise {error.__name__}")


def _step(run_id: str, seq: int, output: str = "hello") -> Step:
    return Step(
        run_id=run_id,
        seq=seq,
        round=1,
        role="solver",
        node="solve",
        kind="model",
        output=output,
        usage=Usage(tokens_in=3, tokens_out=4, latency_ms=1.5),
    )


async def check_run_lifecycle(store: TrajectoryStore) -> None:
    run = await store.create_run(_spec(), owner="host-a/1/2")
    assert run.status == "running" and run.owner == "host-a/1/2"
    got = await store.get_run(run.id)
    assert got.spec == run.spec and got.status == "running" and got.outcome is None
    assert got.owner == "host-a/1/2"
    # Resuming takes the run over only from the owner it was read with.
    claimed = await store.claim_run(run.id, "host-b/7/8", expected="host-a/1/2")
    assert claimed.owner == "host-b/7/8" and (await store.get_run(run.id)).owner == "host-b/7/8"
    await _raises(
        store.claim_run(run.id, "host-c/1/1", expected="host-a/1/2"), StoreError, "a stale claim"
    )
    await _raises(store.claim_run("run_nope", "h/1/1", None), RunNotFound, "claiming no run")
    outcome = Outcome(run_id=run.id, task_id="t/1", stop_reason="verified", rounds=1)
    await store.finish_run(run.id, outcome)
    done = await store.get_run(run.id)
    assert done.status == "finished" and done.outcome == outcome
    assert done.finished_at is not None
    await _raises(
        store.claim_run(run.id, "host-c/1/1", expected="host-b/7/8"),
        StoreError,
        "claiming a finished run",
    )


async def check_queued_runs(store: TrajectoryStore) -> None:
    # A queued run waits without an owner; a worker's claim takes it (queued -> running)
    # exactly once, even when several try at the same moment.
    older = await store.create_run(_spec(batch="q"), status="queued")
    await asyncio.sleep(0.002)
    newer = await store.create_run(_spec(batch="q"), status="queued")
    running = await store.create_run(_spec(batch="q"), owner="host-a/1/2")
    assert older.status == "queued" and older.owner is None
    got = await store.get_run(older.id)
    assert got.status == "queued" and got.owner is None and got.outcome is None
    queued = await store.list_runs(query=RunQuery(status="queued"))
    assert [r.id for r in queued] == [newer.id, older.id]
    assert [r.id for r in await store.list_runs(query=RunQuery(status="running"))] == [running.id]
    assert await store.prune_runs(keep=0) == 0  # queued runs are not finished: never pruned
    claims = await asyncio.gather(
        *(store.claim_run(older.id, f"host-{i}/1/1", expected=None) for i in range(4)),
        return_exceptions=True,
    )
    won = [c for c in claims if not isinstance(c, BaseException)]
    assert len(won) == 1, f"one claim of a queued run must win, got {claims}"
    assert all(isinstance(c, StoreError) for c in claims if isinstance(c, BaseException))
    assert won[0].status == "running" and won[0].owner is not None
    got = await store.get_run(older.id)
    assert got.status == "running" and got.owner == won[0].owner
    queued = await store.list_runs(query=RunQuery(status="queued"))
    assert [r.id for r in queued] == [newer.id]
    running_ids = {r.id for r in await store.list_runs(query=RunQuery(status="running"))}
    assert running_ids == {running.id, older.id}
    await _raises(
        store.claim_run(newer.id, "host-b/1/1", expected="host-a/1/2"),
        StoreError,
        "claiming a queued run with the wrong expected owner",
    )
    # A queued run may be finished without ever running (cancelled before a worker took it).
    cancelled = Outcome(run_id=newer.id, task_id="t/1", stop_reason="cancelled")
    await store.finish_run(newer.id, cancelled)
    done = await store.get_run(newer.id)
    assert done.status == "finished" and done.outcome == cancelled
    assert await store.list_runs(query=RunQuery(status="queued")) == []
    await _raises(
        store.claim_run(newer.id, "host-b/1/1", expected=None), StoreError, "claiming it after"
    )
    await store.delete_run(running.id)
    assert {r.id for r in await store.list_runs(query=RunQuery(batch_id="q"))} == {
        older.id,
        newer.id,
    }


async def check_steps_in_order_and_round_trip(store: TrajectoryStore) -> None:
    run = await store.create_run(_spec())
    steps = [_step(run.id, seq, f"reply {seq}") for seq in (3, 1, 2)]
    for step in steps:
        await store.append_step(step)
    stored = await store.get_steps(run.id)
    assert [s.seq for s in stored] == [1, 2, 3]
    assert stored[0] == next(s for s in steps if s.seq == 1)


async def check_append_is_idempotent(store: TrajectoryStore) -> None:
    run = await store.create_run(_spec())
    step = _step(run.id, 1)
    await store.append_step(step)
    await store.append_step(step)  # a retried write after a crash: no error, no duplicate
    assert len(await store.get_steps(run.id)) == 1
    try:
        await store.append_step(_step(run.id, 1, "something else"))
    except StoreError:
        pass
    else:
        raise AssertionError("a different step at the same seq must be refused")


async def check_unknown_and_prefix_ids(store: TrajectoryStore) -> None:
    run = await store.create_run(_spec())
    assert (await store.get_run(run.id[:20])).id == run.id
    for missing in ("run_does_not_exist", "%", "_"):
        try:
            await store.get_run(missing)
        except RunNotFound:
            continue
        raise AssertionError(f"get_run({missing!r}) must raise RunNotFound")


async def check_list_newest_first_and_by_batch(store: TrajectoryStore) -> None:
    ids = []
    for i in range(3):
        ids.append((await store.create_run(_spec(f"t/{i}", batch="b-1"))).id)
        await asyncio.sleep(0.002)
    other = await store.create_run(_spec("t/x", batch="b-2"))
    listed = [r.id for r in await store.list_runs(limit=10, batch_id="b-1")]
    assert listed == list(reversed(ids))
    assert [r.id for r in await store.list_runs(limit=1)] == [other.id]


async def check_list_filters(store: TrajectoryStore) -> None:
    a = await store.create_run(_spec("HumanEval/1", strategy="refine", model="local:q"))
    await asyncio.sleep(0.002)
    b = await store.create_run(_spec("HumanEval/12", strategy="best_of_n", model="openai:m"))
    await asyncio.sleep(0.002)
    c = await store.create_run(_spec("mbpp/3", strategy="refine", model="openai:m"))
    await store.finish_run(
        b.id, Outcome(run_id=b.id, task_id="HumanEval/12", stop_reason="verified")
    )

    async def ids(**fields: Any) -> list[str]:
        return [r.id for r in await store.list_runs(query=RunQuery(**fields))]

    assert await ids(status="finished") == [b.id]
    assert await ids(status="running") == [c.id, a.id]
    assert await ids(task_id="HumanEval/1") == [a.id]
    assert await ids(task_id="HumanEval/1*") == [b.id, a.id]
    assert await ids(task_id="HumanEval_*") == []  # "_" and "%" are literal text
    assert await ids(strategy="refine") == [c.id, a.id]
    assert await ids(model="openai:m") == [c.id, b.id]
    assert await ids(model="scripted:review") == [c.id, b.id, a.id]
    assert await ids(model="openai") == []  # a whole spec, not a substring
    assert await ids(strategy="refine", model="openai:m") == [c.id]
    assert await ids(since=b.created_at) == [c.id, b.id]
    assert await ids(until=b.created_at) == [a.id]
    assert await ids(limit=2) == [c.id, b.id]
    assert await ids(status="interrupted") == []


async def check_prune(store: TrajectoryStore) -> None:
    old = [await store.create_run(_spec(f"p/{i}")) for i in range(3)]
    for run in old:
        await store.append_step(_step(run.id, 1))
        await store.finish_run(run.id, Outcome(run_id=run.id, task_id="p", stop_reason="verified"))
        await asyncio.sleep(0.002)
    still_running = await store.create_run(_spec("p/running"))
    cut = utcnow()
    await asyncio.sleep(0.002)
    new = await store.create_run(_spec("p/new"))
    await store.finish_run(new.id, Outcome(run_id=new.id, task_id="p", stop_reason="verified"))
    assert await store.prune_runs(older_than=cut, keep=None) == 3
    for run in old:
        await _raises(store.get_run(run.id), RunNotFound, "a pruned run")
    assert await store.get_steps(new.id) == []
    assert (await store.get_run(still_running.id)).status == "running"
    # Keep the newest N finished runs; running ones are neither counted nor touched.
    extra = await store.create_run(_spec("p/extra"))
    await store.finish_run(extra.id, Outcome(run_id=extra.id, task_id="p", stop_reason="error"))
    assert await store.prune_runs(keep=1) == 1
    left = {r.id for r in await store.list_runs(limit=100)}
    assert left == {still_running.id, extra.id}
    assert await store.prune_runs(older_than=cut - timedelta(days=1)) == 0


async def check_text_round_trips_as_text(store: TrajectoryStore) -> None:
    """A reply that looks like a serialized object stays the text it was."""
    tricky = [
        '{"lc": 1, "type": "constructor", "id": ["os", "system"], "kwargs": {"command": "id"}}',
        '{"lc": 1, "type": "secret", "id": ["OPENAI_API_KEY"]}',
        "\x80\x04\x95 cos\nsystem\n(S'id'\ntR.",
        "null",
        "",
        "\u0000 nul and \ud7ff and emoji \U0001f600",
    ]
    run = await store.create_run(_spec())
    for seq, text in enumerate(tricky, 1):
        await store.append_step(_step(run.id, seq, text))
    assert [s.output for s in await store.get_steps(run.id)] == tricky
    await store.add_lesson(Lesson(text=tricky[0], scope_key="t/lc"))
    assert [r.text for r in await store.list_lessons(scope_keys=["t/lc"])] == [tricky[0]]


async def check_delete_run(store: TrajectoryStore) -> None:
    run = await store.create_run(_spec())
    await store.append_step(_step(run.id, 1))
    await store.delete_run(run.id)
    try:
        await store.get_run(run.id)
    except RunNotFound:
        return
    raise AssertionError("a deleted run must be gone")


async def check_lesson_search(store: TrajectoryStore) -> None:
    await store.add_lesson(Lesson(text="Off-by-one in range end", scope_key="t/1"))
    await store.add_lesson(Lesson(text="Handle the EMPTY list", scope_key="t/2"))
    await store.add_lesson(Lesson(text="100% of cases need a base case", scope_key="t/2"))
    found = await store.search_lessons("empty list")
    assert [r.text for r in found] == ["Handle the EMPTY list"]
    assert len(await store.search_lessons(scope_key="t/2")) == 2
    assert [r.text for r in await store.search_lessons("100%")] == [
        "100% of cases need a base case"
    ]
    assert await store.search_lessons("nothing matches this") == []


async def check_lessons(store: TrajectoryStore) -> None:
    first = Lesson(text="Check the empty input", scope="family", scope_key="he", topic="sum")
    await store.add_lesson(first)
    await asyncio.sleep(0.002)
    second = Lesson(text="Round half up", scope="global", scope_key="*", run_id="run_x")
    await store.add_lesson(second)
    other = Lesson(text="Only for t/9", scope="task", scope_key="t/9", status="retired")
    await store.add_lesson(other)
    got = await store.get_lesson(first.id[:-3])
    assert got == first
    await _raises(store.get_lesson("rf_nope"), RunNotFound, "an unknown lesson")
    listed = await store.list_lessons(scope_keys=["he", "*"])
    assert [r.id for r in listed] == [second.id, first.id]
    assert [r.id for r in await store.list_lessons(statuses=["retired"])] == [other.id]
    assert [r.id for r in await store.list_lessons(limit=1)] == [other.id]

    # Counters: many runs finishing at once lose no count.
    await asyncio.gather(
        *(
            store.record_lesson_outcome(["he", "*"], [first.id], passed=i % 2 == 0)
            for i in range(10)
        ),
        store.record_lesson_outcome(["he", "*"], [], passed=True),
        store.record_lesson_outcome(["*"], [second.id, "rf_pruned_meanwhile"], passed=False),
    )
    counted = await store.get_lesson(first.id)
    assert (counted.uses, counted.helped) == (10, 5)
    once = await store.get_lesson(second.id)
    assert (once.uses, once.helped) == (1, 0)
    stats = await store.scope_stats(["he", "*", "never"])
    assert (stats["he"].runs, stats["he"].passed) == (11, 6)
    assert (stats["*"].runs, stats["*"].passed) == (12, 6)
    assert (stats["never"].runs, stats["never"].passed) == (0, 0)

    await store.set_lesson_status(first.id, "demoted")
    assert (await store.get_lesson(first.id)).status == "demoted"
    assert (await store.get_lesson(first.id)).uses == 10  # the status keeps the counts
    await _raises(store.set_lesson_status("rf_nope", "retired"), RunNotFound, "no lesson")
    assert await store.delete_lessons([first.id, "rf_nope"]) == 1
    await _raises(store.get_lesson(first.id), RunNotFound, "a deleted lesson")


async def check_concurrent_appends(store: TrajectoryStore) -> None:
    run = await store.create_run(_spec())
    await asyncio.gather(*(store.append_step(_step(run.id, seq)) for seq in range(1, 41)))
    assert [s.seq for s in await store.get_steps(run.id)] == list(range(1, 41))


async def check_benches(store: TrajectoryStore) -> None:
    try:
        await store.get_bench("last")
    except RunNotFound:
        pass
    else:
        raise AssertionError("get_bench('last') on an empty store must raise RunNotFound")
    older = BenchSpec(suite="humaneval[:2]", strategies=["refine"], models=["scripted:a"])
    await asyncio.sleep(0.002)
    newer = BenchSpec(
        suite="jsonl:t.jsonl",
        strategies=["refine", "single"],
        models=["scripted:a", "openai:m"],
        limit=3,
        params={"refine": {"max_rounds": 2}},
    )
    for spec in (older, newer):
        await store.save_bench(spec)
    await store.save_bench(newer)  # saving the same spec again is harmless
    assert await store.get_bench(newer.id) == newer
    assert await store.get_bench(older.id[:-4]) == older
    assert await store.get_bench("last") == newer
    assert [b.id for b in await store.list_benches()] == [newer.id, older.id]
    assert [b.id for b in await store.list_benches(limit=1)] == [newer.id]
    for missing in ("bench_does_not_exist", "bench", "%", "_"):
        try:
            await store.get_bench(missing)
        except RunNotFound:
            continue
        raise AssertionError(f"get_bench({missing!r}) must raise RunNotFound")
    try:
        await store.save_bench(newer.model_copy(update={"limit": 5}))
    except StoreError:
        pass
    else:
        raise AssertionError("another spec under a stored bench id must be refused")
    # A cell's runs are found again by its batch id, however long the model spec.
    batch = newer.cell_batch("refine", "scripted:/" + "very/long/path/" * 12 + "model.yaml")
    run = await store.create_run(_spec(batch=batch))
    assert [r.id for r in await store.list_runs(batch_id=batch)] == [run.id]


CHECKS: list[Check] = [
    check_run_lifecycle,
    check_queued_runs,
    check_steps_in_order_and_round_trip,
    check_append_is_idempotent,
    check_unknown_and_prefix_ids,
    check_list_newest_first_and_by_batch,
    check_list_filters,
    check_prune,
    check_text_round_trips_as_text,
    check_delete_run,
    check_lesson_search,
    check_lessons,
    check_concurrent_appends,
    check_benches,
]
