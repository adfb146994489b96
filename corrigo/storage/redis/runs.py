"""Runs and steps in the ``redis`` store.

A run is a string (its record) indexed in sorted sets by time, status, task, strategy,
model and batch (see :mod:`corrigo.storage.redis` for the keys); its steps are one hash,
seq → step. Creating and deleting a run with its index entries is one Lua script each;
``claim_run`` and ``finish_run`` are WATCH/MULTI compare-and-set on the run's key.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from corrigo.errors import RunNotFound, StoreError, UsageError
from corrigo.records import Outcome, RunQuery, RunRecord, RunSpec, Step, new_id, utcnow
from corrigo.storage.redis.connection import RedisConnection, as_text, decode, rex, score_of
from corrigo.storage.runs import RunStore


class RedisRuns(RedisConnection, RunStore):
    """:class:`~corrigo.storage.runs.RunStore` on Redis."""

    def _run_indexes(self, record: RunRecord) -> list[tuple[str, int, str]]:
        score, run_id, spec = score_of(record.created_at), record.id, record.spec
        indexes = [
            (self._k("runs"), score, run_id),
            (self._k("runs", "ids"), 0, run_id),
            (self._k("runs", "status", record.status), score, run_id),
            (self._k("runs", "strategy", spec.strategy), score, run_id),
            *(
                (self._k("runs", "model", m), score, run_id)
                for m in sorted(set(spec.roles.values()))
            ),
        ]
        if spec.batch_id:
            indexes.append((self._k("runs", "batch", spec.batch_id), score, run_id))
        indexes.append((self._k("runs", "task", spec.task.id), score, run_id))
        indexes.append((self._k("runs", "tasks"), 0, spec.task.id))
        return indexes

    async def create_run(
        self,
        spec: RunSpec,
        run_id: str | None = None,
        owner: str | None = None,
        *,
        status: Literal["running", "queued"] = "running",
    ) -> RunRecord:
        record = RunRecord(id=run_id or new_id("run_"), status=status, spec=spec, owner=owner)
        with self._errors("RunRecord"):
            created = await self._insert(
                self._k("run", record.id), record.model_dump_json(), self._run_indexes(record)
            )
        if not created:
            raise StoreError(f"run {record.id} already exists")
        return record

    async def _update_run(self, run_id: str, change: Any) -> RunRecord:
        """Compare-and-set: ``change(old)`` applied unless the run changed meanwhile."""
        full = await self._resolve(self._k("runs", "ids"), run_id, "run")
        key = self._k("run", full)
        with self._errors("RunRecord"):
            async with self.client.pipeline(transaction=True) as pipe:
                while True:
                    try:
                        await pipe.watch(key)
                        raw = await pipe.get(key)
                        if raw is None:
                            raise RunNotFound(f"no run {run_id!r} in the store")
                        old = decode(RunRecord, raw)
                        new: RunRecord = change(old)
                        pipe.multi()
                        pipe.set(key, new.model_dump_json())
                        if new.status != old.status:
                            pipe.zrem(self._k("runs", "status", old.status), full)
                            pipe.zadd(
                                self._k("runs", "status", new.status),
                                {full: score_of(old.created_at)},
                            )
                        await pipe.execute()
                        return new
                    except rex.WatchError:
                        continue

    async def claim_run(self, run_id: str, owner: str, expected: str | None) -> RunRecord:
        def claim(old: RunRecord) -> RunRecord:
            if old.status not in ("running", "queued"):
                raise StoreError(f"run {old.id} is {old.status}: it cannot be claimed")
            if old.owner != expected:
                raise StoreError(
                    f"run {old.id} is owned by {old.owner!r}, not {expected!r}: "
                    "another process took it over"
                )
            return old.model_copy(update={"owner": owner, "status": "running"})

        return await self._update_run(run_id, claim)

    async def append_step(self, step: Step) -> None:
        with self._errors("Step"):
            stored = await self._script(
                "append_step",
                [self._k("run", step.run_id), self._k("steps", step.run_id)],
                [step.seq, step.model_dump_json()],
            )
        if stored is None:
            raise StoreError(f"run {step.run_id} does not exist")
        if stored == 1:
            return
        old = decode(Step, stored)
        if old.model_dump(exclude={"created_at"}) != step.model_dump(exclude={"created_at"}):
            raise StoreError(
                f"step {step.seq} of run {step.run_id} is already stored with other content"
            )

    async def finish_run(self, run_id: str, outcome: Outcome) -> None:
        finished_at = utcnow()
        await self._update_run(
            run_id,
            lambda old: old.model_copy(
                update={"status": "finished", "outcome": outcome, "finished_at": finished_at}
            ),
        )
        if self.keep is not None:
            with self._errors("RunRecord"):
                finished = await self.client.zcard(self._k("runs", "status", "finished"))
            if finished > self.keep:
                await self.prune_runs(keep=self.keep)

    async def get_run(self, run_id: str) -> RunRecord:
        full = await self._resolve(self._k("runs", "ids"), run_id, "run")
        with self._errors("RunRecord"):
            raw = await self.client.get(self._k("run", full))
        if raw is None:
            raise RunNotFound(f"no run {run_id!r} in the store")
        return decode(RunRecord, raw)

    async def get_steps(self, run_id: str) -> list[Step]:
        run = await self.get_run(run_id)
        with self._errors("Step"):
            fields = await self.client.hgetall(self._k("steps", run.id))
        try:
            ordered = sorted(fields.items(), key=lambda item: int(item[0]))
        except ValueError:
            raise StoreError("stored Step cannot be decoded: a seq is not a number") from None
        return [decode(Step, raw) for _, raw in ordered]

    async def list_runs(
        self, limit: int = 50, batch_id: str | None = None, query: RunQuery | None = None
    ) -> list[RunRecord]:
        q = query or RunQuery(limit=limit, batch_id=batch_id)
        batch = q.batch_id if q.batch_id is not None else batch_id
        groups: list[list[str]] = []
        if q.status is not None:
            if q.status == "interrupted":  # derived from "running", never stored
                return []
            groups.append([self._k("runs", "status", q.status)])
        if batch:
            groups.append([self._k("runs", "batch", batch)])
        if q.strategy is not None:
            groups.append([self._k("runs", "strategy", q.strategy)])
        if q.model is not None:
            groups.append([self._k("runs", "model", q.model)])
        with self._errors("RunRecord"):
            if q.task_id is not None and q.task_id.endswith("*"):
                start = q.task_id[:-1].encode()
                tasks = await self.client.zrangebylex(
                    self._k("runs", "tasks"), b"[" + start, b"[" + start + b"\xff"
                )
                if not tasks:
                    return []
                groups.append([self._k("runs", "task", t) for t in as_text(tasks)])
            elif q.task_id is not None:
                groups.append([self._k("runs", "task", q.task_id)])
            low = score_of(q.since) if q.since else "-inf"
            high = f"({score_of(q.until)}" if q.until else "+inf"
            ids = await self._newest(groups or [[self._k("runs")]], q.limit, low, high)
        return await self._strings(RunRecord, [self._k("run", i) for i in ids])

    async def delete_run(self, run_id: str) -> None:
        with self._errors("RunRecord"):
            raw = await self.client.get(self._k("run", run_id))
        await self._delete_runs([(run_id, raw)])

    async def _delete_runs(self, runs: Sequence[tuple[str, bytes | None]]) -> int:
        """Delete runs, their steps and index entries; each run in one script."""
        async with self.client.pipeline(transaction=False) as pipe:
            for run_id, raw in runs:
                keys = [self._k("run", run_id), self._k("steps", run_id)]
                keys += [self._k("runs"), self._k("runs", "ids")]
                keys += [self._k("runs", "status", s) for s in ("queued", "running", "finished")]
                task = ""
                try:
                    record = decode(RunRecord, raw) if raw is not None else None
                except StoreError:  # undecodable: remove what can be found without it
                    record = None
                if record is not None:
                    indexes = self._run_indexes(record)
                    # After runs, ids and status (every status is above): strategy, models,
                    # batch, then the task's set and the task ids, last as the script wants.
                    keys += [k for k, _, _ in indexes[3:]]
                    task = record.spec.task.id
                await self._scripts["delete_run"](keys=keys, args=[run_id, task], client=pipe)
            with self._errors("RunRecord"):
                deleted = await pipe.execute()
        return sum(int(n) for n in deleted)

    async def prune_runs(
        self, *, older_than: datetime | None = None, keep: int | None = None
    ) -> int:
        if keep is not None and keep < 0:
            raise UsageError(f"keep must be 0 or more, not {keep}")
        finished = self._k("runs", "status", "finished")
        doomed: dict[str, None] = {}
        with self._errors("RunRecord"):
            if older_than is not None:
                old = await self.client.zrangebyscore(finished, "-inf", f"({score_of(older_than)}")
                doomed.update(dict.fromkeys(as_text(old)))
            if keep is not None:
                doomed.update(
                    dict.fromkeys(as_text(await self.client.zrevrange(finished, keep, -1)))
                )
        ids, count = list(doomed), 0
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            with self._errors("RunRecord"):
                raws = await self.client.mget([self._k("run", i) for i in chunk])
            count += await self._delete_runs(list(zip(chunk, raws, strict=True)))
        return count
