"""The ``redis`` store: runs, steps, lessons and benches on plain Redis types.

Only core data types are used (strings, hashes, sorted sets, a few Lua scripts): no
RedisJSON, no RediSearch. Records are the JSON text pydantic writes, never pickle.
Every key starts with the prefix (``corrigo`` unless the URL says ``?prefix=...``):

=================================  ===========  ============================================
key                                type         holds
=================================  ===========  ============================================
P:meta                             hash         ``layout`` (this module's key layout, 1)
P:run:<id>                         string       RunRecord JSON
P:steps:<run id>                   hash         seq → Step JSON
P:runs                             sorted set   run ids by created_at (µs since 1970)
P:runs:ids                         sorted set   run ids, score 0 (prefix lookups by lex)
P:runs:status:<status>             sorted set   run ids by created_at (queued, running,
                                                finished)
P:runs:task:<task id>              sorted set   run ids by created_at
P:runs:tasks                       sorted set   task ids, score 0 (``task_id="x*"`` by lex)
P:runs:strategy:<strategy>         sorted set   run ids by created_at
P:runs:model:<model spec>          sorted set   run ids by created_at (every role's model)
P:runs:batch:<batch id>            sorted set   run ids by created_at
P:lesson:<id>                      hash         ``record`` (Reflection JSON as added),
                                                ``uses``, ``helped``, ``status``
P:lessons                          sorted set   lesson ids by created_at
P:lessons:ids                      sorted set   lesson ids, score 0
P:lessons:scope:<scope key>        sorted set   lesson ids by created_at
P:lessons:status:<status>          sorted set   lesson ids by created_at
P:scope:<scope key>                hash         ``runs``, ``passed``
P:bench:<id>                       string       BenchSpec JSON
P:benches / P:benches:ids          sorted sets  bench ids by created_at / score 0
P:tmp:<random>                     sorted set   a query's intersection, deleted in the
                                                same transaction that made it
P:cp:...                           (various)    LangGraph checkpoints, see
                                                :mod:`corrigo.storage.redis_checkpoint`
=================================  ===========  ============================================

``list_runs`` reads one sorted set newest first (``ZREVRANGEBYSCORE ... LIMIT``), or
intersects the filters' sets in a MULTI transaction; then one ``MGET``. Creating or
deleting a record and its index entries is one Lua script (atomic); ``append_step`` is
``HSETNX`` in a script that also checks the run exists; ``claim_run`` and
``finish_run`` are WATCH/MULTI compare-and-set; lesson counters are ``HINCRBY`` in one
script, so concurrent runs never lose a count.

Retention: ``prune_runs(older_than=..., keep=...)`` deletes finished runs created before
``older_than`` and those beyond the ``keep`` newest finished ones (either criterion
deletes), with their steps; running runs are never touched. ``?keep=N`` in the URL
prunes that way whenever a run finishes. Both parameters are removed from the URL
before it reaches redis-py: ``redis://127.0.0.1:6379/0?prefix=team-a&keep=10000``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar, get_args
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import BaseModel, ValidationError

from corrigo.errors import RunNotFound, StoreError, StoreUnavailable, UsageError
from corrigo.records import (
    BenchSpec,
    LessonStatus,
    Outcome,
    Reflection,
    RunQuery,
    RunRecord,
    RunSpec,
    ScopeStats,
    Step,
    new_id,
    utcnow,
)
from corrigo.storage.base import TrajectoryStore, redact_url

try:
    import redis.asyncio as aioredis
    from redis import exceptions as rex
except ModuleNotFoundError:  # the redis extra is not installed
    aioredis = None  # type: ignore[assignment]

M = TypeVar("M", bound=BaseModel)

LAYOUT = "1"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LESSON_STATUSES: tuple[str, ...] = get_args(LessonStatus)
_RECORDS = {"run": "RunRecord", "lesson": "Reflection", "bench": "BenchSpec"}

# KEYS[1] the record (must not exist); KEYS[2..] sorted sets that index it. ARGV[1] the
# number of hash fields (0: the record is a string, ARGV[2]), then the string or the
# field/value pairs, then one score/member pair per sorted set.
_INSERT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local n = tonumber(ARGV[1])
local at = 3
if n == 0 then
  redis.call('SET', KEYS[1], ARGV[2])
else
  redis.call('HSET', KEYS[1], unpack(ARGV, 2, 1 + 2 * n))
  at = 2 + 2 * n
end
for i = 2, #KEYS do
  redis.call('ZADD', KEYS[i], ARGV[at], ARGV[at + 1])
  at = at + 2
end
return 1
"""

# KEYS[1] the run, KEYS[2] its steps, KEYS[3..] sorted sets holding it; when ARGV[2] (its
# task id) is given, the last two are its task's set and the set of task ids.
_DELETE_RUN = """
local n = redis.call('DEL', KEYS[1])
redis.call('DEL', KEYS[2])
local last = #KEYS
if ARGV[2] ~= '' then last = last - 1 end
for i = 3, last do redis.call('ZREM', KEYS[i], ARGV[1]) end
if ARGV[2] ~= '' and redis.call('ZCARD', KEYS[last]) == 0 then
  redis.call('ZREM', KEYS[#KEYS], ARGV[2])
end
return n
"""

# KEYS[1] the run, KEYS[2] its steps; ARGV[1] seq, ARGV[2] the step. Returns nil for no
# such run, 1 when stored, or the step already stored at that seq.
_APPEND_STEP = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) == 1 then return 1 end
return redis.call('HGET', KEYS[2], ARGV[1])
"""

# KEYS: ARGV[1] scope hashes, then lesson hashes (unknown ones are skipped); ARGV[2] 1 or
# 0 for passed. Types are checked first so that a bad key changes nothing.
_COUNT = """
for i = 1, #KEYS do
  local t = redis.call('TYPE', KEYS[i]).ok
  if t ~= 'hash' and t ~= 'none' then
    return redis.error_reply('WRONGTYPE ' .. KEYS[i] .. ' is a ' .. t)
  end
end
local scopes = tonumber(ARGV[1])
local passed = tonumber(ARGV[2])
for i = 1, #KEYS do
  if i <= scopes then
    redis.call('HINCRBY', KEYS[i], 'runs', 1)
    redis.call('HINCRBY', KEYS[i], 'passed', passed)
  elseif redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('HINCRBY', KEYS[i], 'uses', 1)
    redis.call('HINCRBY', KEYS[i], 'helped', passed)
  end
end
return 1
"""

# KEYS[1] the lesson, KEYS[2] all lessons by time, KEYS[3] the new status's set, KEYS[4..]
# every status's set. ARGV[1] the id, ARGV[2] the status.
_SET_STATUS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local score = redis.call('ZSCORE', KEYS[2], ARGV[1]) or 0
redis.call('HSET', KEYS[1], 'status', ARGV[2])
for i = 4, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
redis.call('ZADD', KEYS[3], score, ARGV[1])
return 1
"""


def _parse_url(url: str) -> tuple[str, int | None, str]:
    """``(prefix, keep, url for redis-py)``: corrigo's query parameters taken out."""
    try:
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:
        raise StoreUnavailable("cannot open store: malformed redis URL") from None
    ours = {k: v for k, v in query if k in {"prefix", "keep"}}
    rest = [(k, v) for k, v in query if k not in {"prefix", "keep"}]
    prefix = ours.get("prefix", "corrigo")
    if not prefix or any(c.isspace() for c in prefix):
        raise StoreUnavailable(f"cannot open store {redact_url(url)}: prefix must be a word")
    keep: int | None = None
    if "keep" in ours:
        if not ours["keep"].isdigit():
            raise StoreUnavailable(
                f"cannot open store {redact_url(url)}: keep must be a whole number"
            )
        keep = int(ours["keep"])
    if parts.path not in ("", "/") and not re.fullmatch(r"/[0-9]+", parts.path):
        raise StoreUnavailable(
            f"cannot open store {redact_url(url)}: the path must be a database number (/0)"
        )
    return prefix, keep, urlunsplit(parts._replace(query=urlencode(rest)))


def _score(moment: datetime) -> int:
    """Microseconds since 1970 (exact in a sorted set's double up to year 2255)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _decode(cls: type[M], raw: bytes | str) -> M:
    try:
        return cls.model_validate_json(raw)
    except ValidationError as exc:
        raise StoreError(
            f"stored {cls.__name__} cannot be decoded: {exc.errors()[0]['msg']}"
        ) from None


def _text(values: Sequence[bytes]) -> list[str]:
    return [v.decode() for v in values]


class RedisStore(TrajectoryStore):
    def __init__(self, url: str) -> None:
        self.url = url
        self.prefix, self.keep, self._redis_url = _parse_url(url)
        self._client: Any = None
        self._scripts: dict[str, Any] = {}

    # -- plumbing -----------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """The open ``redis.asyncio.Redis`` client (bytes in, bytes out)."""
        if self._client is None:
            raise StoreError("store is not open: use 'async with' or await open()")
        return self._client

    def _k(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Redis errors as corrigo's, in one line; ``what`` names the record involved."""
        try:
            yield
        except (rex.ConnectionError, rex.TimeoutError) as exc:
            raise StoreUnavailable(
                f"cannot reach store {redact_url(self.url)}: {_line(exc)}"
            ) from None
        except rex.ResponseError as exc:
            message = _line(exc)
            if "WRONGTYPE" in message:
                raise StoreError(
                    f"stored {what} cannot be decoded: a key under {self.prefix!r} holds "
                    "the wrong Redis type"
                ) from None
            if message.startswith(("NOAUTH", "WRONGPASS", "NOPERM")):
                raise StoreUnavailable(
                    f"cannot use store {redact_url(self.url)}: {message}"
                ) from None
            raise StoreError(f"store error: {message}") from None
        except rex.RedisError as exc:
            raise StoreError(f"store error: {type(exc).__name__}: {_line(exc)}") from None

    async def _script(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        return await self._scripts[name](keys=list(keys), args=list(args))

    async def open(self) -> None:
        if self._client is not None:
            return
        if aioredis is None:
            raise StoreUnavailable(
                f"cannot open store {redact_url(self.url)}: install corrigo[redis] "
                "(the redis package is missing)"
            )
        try:
            # A blocking pool: a burst of concurrent calls waits for a connection instead
            # of failing with "Too many connections". URL options (max_connections=...) win.
            pool = aioredis.BlockingConnectionPool.from_url(
                self._redis_url, max_connections=64, timeout=30, socket_connect_timeout=5
            )
            client = aioredis.Redis.from_pool(pool)
        except ValueError as exc:
            raise StoreUnavailable(
                f"cannot open store {redact_url(self.url)}: {_line(exc)}"
            ) from None
        try:
            await client.ping()
            meta = self._k("meta")
            await client.hsetnx(meta, "layout", LAYOUT)
            layout = await client.hget(meta, "layout")
        except rex.RedisError as exc:
            await client.aclose()
            raise StoreUnavailable(
                f"cannot open store {redact_url(self.url)}: {_line(exc)}"
            ) from None
        if layout != LAYOUT.encode():
            await client.aclose()
            raise StoreUnavailable(
                f"cannot open store {redact_url(self.url)}: its key layout "
                f"{layout!r} is not {LAYOUT} (written by another corrigo version)"
            )
        self._client = client
        for name, source in (
            ("insert", _INSERT),
            ("delete_run", _DELETE_RUN),
            ("append_step", _APPEND_STEP),
            ("count", _COUNT),
            ("set_status", _SET_STATUS),
        ):
            self._scripts[name] = client.register_script(source)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def _insert(
        self, key: str, value: str | dict[str, str], indexes: Sequence[tuple[str, int, str]]
    ) -> bool:
        """Store a new record and its index entries at once; False if ``key`` exists."""
        if isinstance(value, str):
            args: list[Any] = [0, value]
        else:
            args = [len(value)]
            for field, text in value.items():
                args += [field, text]
        for _, score, member in indexes:
            args += [score, member]
        stored = await self._script("insert", [key, *(k for k, _, _ in indexes)], args)
        return bool(stored)

    async def _resolve(self, index: str, key: str, what: str) -> str:
        """The full id for ``key`` (an id or a unique prefix of 6+ characters)."""
        with self._errors(_RECORDS[what]):
            if await self.client.zscore(index, key) is not None:
                return key
            found = []
            if len(key) >= 6:
                raw = key.encode()
                found = await self.client.zrangebylex(
                    index, b"[" + raw, b"[" + raw + b"\xff", start=0, num=2
                )
        if not found:
            raise RunNotFound(f"no {what} {key!r} in the store")
        if len(found) > 1:
            raise RunNotFound(f"{what} id prefix {key!r} is ambiguous")
        return str(found[0].decode())

    async def _strings(self, cls: type[M], keys: Sequence[str]) -> list[M]:
        """Records stored as strings, skipping keys deleted meanwhile."""
        if not keys:
            return []
        with self._errors(cls.__name__):
            raws = await self.client.mget(list(keys))
            missing = [key for key, raw in zip(keys, raws, strict=True) if raw is None]
            if missing:  # MGET reads a hash as nil: tell deleted from tampered
                async with self.client.pipeline(transaction=False) as pipe:
                    for key in missing:
                        pipe.type(key)
                    kinds = await pipe.execute()
                if any(kind != b"none" for kind in kinds):
                    raise StoreError(
                        f"stored {cls.__name__} cannot be decoded: a key under "
                        f"{self.prefix!r} holds the wrong Redis type"
                    )
        return [_decode(cls, raw) for raw in raws if raw is not None]

    async def _newest(
        self, groups: list[list[str]], limit: int, low: int | str = "-inf", high: int | str = "+inf"
    ) -> list[str]:
        """Ids newest first in every group (each group: ids in any of its sets)."""
        client = self.client
        if len(groups) == 1 and len(groups[0]) == 1:
            ids = await client.zrevrangebyscore(groups[0][0], high, low, start=0, num=limit)
            return _text(ids)
        tmp = self._k("tmp", uuid.uuid4().hex)
        async with client.pipeline(transaction=True) as pipe:
            sets = []
            for n, group in enumerate(groups):
                if len(group) == 1:
                    sets.append(group[0])
                else:
                    sets.append(f"{tmp}:{n}")
                    pipe.zunionstore(sets[-1], group, aggregate="MAX")
            pipe.zinterstore(tmp, sets, aggregate="MAX")
            pipe.zrevrangebyscore(tmp, high, low, start=0, num=limit)
            pipe.delete(tmp, *(s for s in sets if s.startswith(tmp)))
            results = await pipe.execute()
        return _text(results[-2])

    # -- runs ---------------------------------------------------------------------------

    def _run_indexes(self, record: RunRecord) -> list[tuple[str, int, str]]:
        score, run_id, spec = _score(record.created_at), record.id, record.spec
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
                        old = _decode(RunRecord, raw)
                        new: RunRecord = change(old)
                        pipe.multi()
                        pipe.set(key, new.model_dump_json())
                        if new.status != old.status:
                            pipe.zrem(self._k("runs", "status", old.status), full)
                            pipe.zadd(
                                self._k("runs", "status", new.status),
                                {full: _score(old.created_at)},
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
        old = _decode(Step, stored)
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
        return _decode(RunRecord, raw)

    async def get_steps(self, run_id: str) -> list[Step]:
        run = await self.get_run(run_id)
        with self._errors("Step"):
            fields = await self.client.hgetall(self._k("steps", run.id))
        try:
            ordered = sorted(fields.items(), key=lambda item: int(item[0]))
        except ValueError:
            raise StoreError("stored Step cannot be decoded: a seq is not a number") from None
        return [_decode(Step, raw) for _, raw in ordered]

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
                groups.append([self._k("runs", "task", t) for t in _text(tasks)])
            elif q.task_id is not None:
                groups.append([self._k("runs", "task", q.task_id)])
            low = _score(q.since) if q.since else "-inf"
            high = f"({_score(q.until)}" if q.until else "+inf"
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
                    record = _decode(RunRecord, raw) if raw is not None else None
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
                old = await self.client.zrangebyscore(finished, "-inf", f"({_score(older_than)}")
                doomed.update(dict.fromkeys(_text(old)))
            if keep is not None:
                doomed.update(dict.fromkeys(_text(await self.client.zrevrange(finished, keep, -1))))
        ids, count = list(doomed), 0
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            with self._errors("RunRecord"):
                raws = await self.client.mget([self._k("run", i) for i in chunk])
            count += await self._delete_runs(list(zip(chunk, raws, strict=True)))
        return count

    # -- lessons ------------------------------------------------------------------------

    async def add_reflection(self, reflection: Reflection) -> None:
        score, rid = _score(reflection.created_at), reflection.id
        fields = {
            "record": reflection.model_dump_json(),
            "uses": str(reflection.uses),
            "helped": str(reflection.helped),
            "status": reflection.status,
        }
        indexes = [
            (self._k("lessons"), score, rid),
            (self._k("lessons", "ids"), 0, rid),
            (self._k("lessons", "scope", reflection.scope_key), score, rid),
            (self._k("lessons", "status", reflection.status), score, rid),
        ]
        with self._errors("Reflection"):
            created = await self._insert(self._k("lesson", rid), fields, indexes)
        if not created:
            raise StoreError(f"lesson {rid} already exists")

    async def _lessons(self, ids: Sequence[str]) -> list[Reflection]:
        with self._errors("Reflection"):
            async with self.client.pipeline(transaction=False) as pipe:
                for rid in ids:
                    pipe.hgetall(self._k("lesson", rid))
                rows = await pipe.execute()
        return [_lesson(row) for row in rows if row]

    async def get_reflection(self, reflection_id: str) -> Reflection:
        full = await self._resolve(self._k("lessons", "ids"), reflection_id, "lesson")
        found = await self._lessons([full])
        if not found:
            raise RunNotFound(f"no lesson {reflection_id!r} in the store")
        return found[0]

    async def list_reflections(
        self,
        scope_keys: Sequence[str] | None = None,
        statuses: Sequence[LessonStatus] | None = None,
        limit: int = 100,
    ) -> list[Reflection]:
        groups = []
        if scope_keys is not None:
            groups.append([self._k("lessons", "scope", s) for s in scope_keys])
        if statuses is not None:
            groups.append([self._k("lessons", "status", s) for s in statuses])
        if any(not group for group in groups):
            return []
        with self._errors("Reflection"):
            ids = await self._newest(groups or [[self._k("lessons")]], limit)
        return await self._lessons(ids)

    async def search_reflections(
        self, query: str = "", scope_key: str | None = None, limit: int = 5
    ) -> list[Reflection]:
        words = query.lower().split()
        index = self._k("lessons", "scope", scope_key) if scope_key is not None else None
        found: list[Reflection] = []
        start, page = 0, 200
        while len(found) < limit:
            with self._errors("Reflection"):
                ids = await self.client.zrevrange(
                    index or self._k("lessons"), start, start + page - 1
                )
            if not ids:
                break
            for lesson in await self._lessons(_text(ids)):
                text = lesson.text.lower()
                if all(word in text for word in words) and len(found) < limit:
                    found.append(lesson)
            start += page
        return found

    async def record_lesson_outcome(
        self, scope_keys: Sequence[str], used: Sequence[str], passed: bool
    ) -> None:
        scopes = [self._k("scope", s) for s in dict.fromkeys(scope_keys)]
        lessons = [self._k("lesson", rid) for rid in dict.fromkeys(used)]
        with self._errors("Reflection"):
            await self._script("count", scopes + lessons, [len(scopes), int(passed)])

    async def scope_stats(self, scope_keys: Sequence[str]) -> dict[str, ScopeStats]:
        with self._errors("ScopeStats"):
            async with self.client.pipeline(transaction=False) as pipe:
                for key in scope_keys:
                    pipe.hmget(self._k("scope", key), ["runs", "passed"])
                rows = await pipe.execute()
        try:
            return {
                key: ScopeStats(scope_key=key, runs=int(runs or 0), passed=int(passed or 0))
                for key, (runs, passed) in zip(scope_keys, rows, strict=True)
            }
        except (ValueError, ValidationError):
            raise StoreError(
                "stored ScopeStats cannot be decoded: a counter is not a number"
            ) from None

    async def set_reflection_status(self, reflection_id: str, status: LessonStatus) -> None:
        full = await self._resolve(self._k("lessons", "ids"), reflection_id, "lesson")
        keys = [self._k("lesson", full), self._k("lessons"), self._k("lessons", "status", status)]
        keys += [self._k("lessons", "status", s) for s in _LESSON_STATUSES]
        with self._errors("Reflection"):
            done = await self._script("set_status", keys, [full, status])
        if not done:
            raise RunNotFound(f"no lesson {reflection_id!r} in the store")

    async def delete_reflections(self, reflection_ids: Sequence[str]) -> int:
        ids = list(dict.fromkeys(reflection_ids))
        with self._errors("Reflection"):
            async with self.client.pipeline(transaction=False) as pipe:
                for rid in ids:
                    pipe.hget(self._k("lesson", rid), "record")
                raws = await pipe.execute()
            deletes = []  # where each DEL's reply is in the transaction's replies
            async with self.client.pipeline(transaction=True) as pipe:
                for rid, raw in zip(ids, raws, strict=True):
                    deletes.append(len(pipe))
                    pipe.delete(self._k("lesson", rid))
                    sets = [self._k("lessons"), self._k("lessons", "ids")]
                    sets += [self._k("lessons", "status", s) for s in _LESSON_STATUSES]
                    # An undecodable lesson's scope index keeps a dangling id (read as gone).
                    with suppress(StoreError):
                        scope = _decode(Reflection, raw).scope_key if raw is not None else None
                        sets += [self._k("lessons", "scope", scope)] if scope is not None else []
                    for key in sets:
                        pipe.zrem(key, rid)
                results = await pipe.execute()
        return sum(int(results[i]) for i in deletes)

    # -- benches ------------------------------------------------------------------------

    async def save_bench(self, spec: BenchSpec) -> None:
        score = _score(spec.created_at)
        indexes = [(self._k("benches"), score, spec.id), (self._k("benches", "ids"), 0, spec.id)]
        key = self._k("bench", spec.id)
        with self._errors("BenchSpec"):
            if await self._insert(key, spec.model_dump_json(), indexes):
                return
            raw = await self.client.get(key)
        if raw is None or _decode(BenchSpec, raw) != spec:
            raise StoreError(f"bench {spec.id} is already stored with another spec")

    async def get_bench(self, bench_id: str) -> BenchSpec:
        if bench_id == "last":
            with self._errors("BenchSpec"):
                newest = _text(await self.client.zrevrange(self._k("benches"), 0, 0))
            if not newest:
                raise RunNotFound("no benches in the store yet")
            bench_id = newest[0]
        full = await self._resolve(self._k("benches", "ids"), bench_id, "bench")
        found = await self._strings(BenchSpec, [self._k("bench", full)])
        if not found:
            raise RunNotFound(f"no bench {bench_id!r} in the store")
        return found[0]

    async def list_benches(self, limit: int = 50) -> list[BenchSpec]:
        with self._errors("BenchSpec"):
            ids = _text(await self.client.zrevrange(self._k("benches"), 0, limit - 1))
        return await self._strings(BenchSpec, [self._k("bench", i) for i in ids])


def _lesson(fields: dict[bytes, bytes]) -> Reflection:
    """A lesson from its hash: the record as added, with its current counters and status."""
    try:
        added = Reflection.model_validate_json(fields[b"record"])
        return Reflection.model_validate(
            {
                **added.model_dump(),
                "uses": fields[b"uses"].decode(),
                "helped": fields[b"helped"].decode(),
                "status": fields[b"status"].decode(),
            }
        )
    except (KeyError, UnicodeDecodeError):
        raise StoreError(
            "stored Reflection cannot be decoded: a field is missing or not text"
        ) from None
    except ValidationError as exc:
        raise StoreError(f"stored Reflection cannot be decoded: {exc.errors()[0]['msg']}") from None


def _line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
