"""Checks every TrajectoryStore backend must pass; ``tests/`` runs them per backend.

Each check is an async function taking an opened store; it raises AssertionError on
a contract violation. A new backend is done when it passes all of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from corrigo.errors import RunNotFound, StoreError
from corrigo.records import BenchSpec, Outcome, Reflection, RunSpec, Step, Task, Usage
from corrigo.storage.base import TrajectoryStore

Check = Callable[[TrajectoryStore], Awaitable[None]]


def _spec(task_id: str = "t/1", batch: str | None = None) -> RunSpec:
    task = Task(id=task_id, prompt="Write f.", entry_point="f")
    return RunSpec(task=task, roles={"solver": "scripted:x"}, batch_id=batch)


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
    run = await store.create_run(_spec())
    assert run.status == "running"
    got = await store.get_run(run.id)
    assert got.spec == run.spec and got.status == "running" and got.outcome is None
    outcome = Outcome(run_id=run.id, task_id="t/1", stop_reason="verified", rounds=1)
    await store.finish_run(run.id, outcome)
    done = await store.get_run(run.id)
    assert done.status == "finished" and done.outcome == outcome
    assert done.finished_at is not None


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


async def check_delete_run(store: TrajectoryStore) -> None:
    run = await store.create_run(_spec())
    await store.append_step(_step(run.id, 1))
    await store.delete_run(run.id)
    try:
        await store.get_run(run.id)
    except RunNotFound:
        return
    raise AssertionError("a deleted run must be gone")


async def check_reflections(store: TrajectoryStore) -> None:
    await store.add_reflection(Reflection(text="Off-by-one in range end", scope_key="t/1"))
    await store.add_reflection(Reflection(text="Handle the EMPTY list", scope_key="t/2"))
    await store.add_reflection(Reflection(text="100% of cases need a base case", scope_key="t/2"))
    found = await store.search_reflections("empty list")
    assert [r.text for r in found] == ["Handle the EMPTY list"]
    assert len(await store.search_reflections(scope_key="t/2")) == 2
    assert [r.text for r in await store.search_reflections("100%")] == [
        "100% of cases need a base case"
    ]
    assert await store.search_reflections("nothing matches this") == []


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
    check_steps_in_order_and_round_trip,
    check_append_is_idempotent,
    check_unknown_and_prefix_ids,
    check_list_newest_first_and_by_batch,
    check_delete_run,
    check_reflections,
    check_concurrent_appends,
    check_benches,
]
