"""A LangGraph checkpointer on plain Redis types: hashes, sets and sorted sets.

LangGraph's own ``langgraph-checkpoint-redis`` needs the RedisJSON and RediSearch
modules; this saver needs neither, so it runs on any Redis 6.2+ (Debian's included).
It follows :class:`langgraph.checkpoint.memory.InMemorySaver`: a checkpoint is stored
without its channel values, and each channel's value is stored once per version in a
blob hash, so a step that changes one channel writes one blob. Values go through the
serializer (:class:`~corrigo.storage.serde.JsonSerde` by default: JSON, no pickle).

Key layout (P is the prefix; ``T``, ``N``, ``C`` are the thread id, checkpoint
namespace and checkpoint id, percent-encoded so that none holds a ``:``):

================  ===========  ======================================================
P:cp:threads      set          thread ids that have checkpoints
P:cp:T:keys       set          every key written for thread T (what a delete removes)
P:cp:T:ns         set          T's checkpoint namespaces ("" is the root graph)
P:cp:T:N:ids      sorted set   checkpoint ids, score 0: lexical order is time order
P:cp:T:N:blobs    hash         ``<channel>\\0<version>`` → a channel value
P:cp:T:N:c:C      hash         ``type``/``checkpoint``, ``metadata_type``/``metadata``,
                               ``parent`` (the parent checkpoint's id, or empty)
P:cp:T:N:w:C      hash         ``<task id>\\0<idx>`` → a pending write
================  ===========  ======================================================

A value in ``blobs`` is ``<type>\\n<bytes>``; a pending write is a JSON line
``[channel, type, task_path]``, a newline, then the bytes. Each ``aput`` and
``aput_writes`` is one MULTI transaction; regular writes use ``HSETNX`` (a retried task
does not overwrite what it wrote) and the special channels of ``WRITES_IDX_MAP``
(errors, interrupts) overwrite, as LangGraph's savers do. ``adelete_thread`` is one
Lua script. The client must return bytes (redis-py's default, ``decode_responses``
off). Only the async API is implemented: LangGraph calls it from ``ainvoke``/``astream``.
"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn
from urllib.parse import quote

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    PendingWrite,
    SerializerProtocol,
    get_checkpoint_id,
    get_checkpoint_metadata,
    writes_sort_key,
)
from redis import exceptions as rex

from corrigo.errors import StoreError, StoreUnavailable, UsageError

# KEYS[1] the thread's set of keys, KEYS[2] the set of threads; ARGV[1] the thread id.
_DELETE_THREAD = """
local keys = redis.call('SMEMBERS', KEYS[1])
for i = 1, #keys, 500 do
  redis.call('DEL', unpack(keys, i, math.min(i + 499, #keys)))
end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
return #keys
"""


def _q(text: str) -> str:
    return quote(text, safe="")


class RedisSaver(BaseCheckpointSaver[str]):
    """Checkpoints of LangGraph graphs in Redis, under ``<prefix>:cp:``."""

    def __init__(
        self, client: Any, *, prefix: str = "corrigo", serde: SerializerProtocol | None = None
    ) -> None:
        if serde is None:
            from corrigo.storage.serde import JsonSerde

            serde = JsonSerde()
        super().__init__(serde=serde)
        kwargs = getattr(getattr(client, "connection_pool", None), "connection_kwargs", {})
        if kwargs.get("decode_responses"):
            raise UsageError("RedisSaver needs a Redis client with decode_responses off")
        self.client = client
        self.prefix = prefix
        self._delete_thread = client.register_script(_DELETE_THREAD)

    # -- keys and encodings -------------------------------------------------------------

    def _k(self, thread_id: str, *parts: str) -> str:
        return ":".join((self.prefix, "cp", _q(thread_id), *parts))

    def _ns_key(self, thread_id: str, ns: str, kind: str, checkpoint_id: str = "") -> str:
        parts = [_q(ns), kind] + ([_q(checkpoint_id)] if checkpoint_id else [])
        return self._k(thread_id, *parts)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except (rex.ConnectionError, rex.TimeoutError) as exc:
            raise StoreUnavailable(f"cannot reach the checkpoint store: {_line(exc)}") from None
        except rex.ResponseError as exc:
            if "WRONGTYPE" in str(exc):
                _undecodable("a key holds the wrong Redis type")
            raise StoreError(f"checkpoint store error: {_line(exc)}") from None
        except rex.RedisError as exc:
            raise StoreError(f"checkpoint store error: {_line(exc)}") from None

    def _loads(self, type_: bytes, data: bytes) -> Any:
        try:
            return self.serde.loads_typed((type_.decode(), data))
        except StoreError:
            raise
        except Exception as exc:  # another serializer's own decoding error
            _undecodable(f"{type(exc).__name__}: {_line(exc)}")

    # -- the async API ------------------------------------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        thread_id = str(config["configurable"]["thread_id"])
        ns = config["configurable"].get("checkpoint_ns", "")
        checkpoint_id = get_checkpoint_id(config)
        if not checkpoint_id:
            with self._errors():
                latest = await self.client.zrevrange(self._ns_key(thread_id, ns, "ids"), 0, 0)
            if not latest:
                return None
            checkpoint_id = latest[0].decode()
            config = {
                "configurable": {
                    "thread_id": thread_id,
                    "checkpoint_ns": ns,
                    "checkpoint_id": checkpoint_id,
                }
            }
        return await self._load(config, thread_id, ns, checkpoint_id)

    async def _load(
        self, config: RunnableConfig, thread_id: str, ns: str, checkpoint_id: str
    ) -> CheckpointTuple | None:
        with self._errors():
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.hgetall(self._ns_key(thread_id, ns, "c", checkpoint_id))
                pipe.hgetall(self._ns_key(thread_id, ns, "w", checkpoint_id))
                stored, writes = await pipe.execute()
        if not stored:
            return None
        try:
            checkpoint: Checkpoint = self._loads(stored[b"type"], stored[b"checkpoint"])
            metadata: CheckpointMetadata = self._loads(
                stored[b"metadata_type"], stored[b"metadata"]
            )
            parent = stored[b"parent"].decode()
            versions = checkpoint["channel_versions"]
        except (KeyError, TypeError, UnicodeDecodeError):
            _undecodable("a checkpoint field is missing or malformed")
        return CheckpointTuple(
            config=config,
            checkpoint={
                **checkpoint,
                "channel_values": await self._values(thread_id, ns, versions),
            },
            metadata=metadata,
            parent_config=(
                {
                    "configurable": {
                        "thread_id": thread_id,
                        "checkpoint_ns": ns,
                        "checkpoint_id": parent,
                    }
                }
                if parent
                else None
            ),
            pending_writes=self._pending(writes),
        )

    async def _values(self, thread_id: str, ns: str, versions: ChannelVersions) -> dict[str, Any]:
        """The channel values at these versions, as ``InMemorySaver._load_blobs`` reads them."""
        channels = list(versions)
        if not channels:
            return {}
        fields = [f"{channel}\0{versions[channel]}" for channel in channels]
        with self._errors():
            blobs = await self.client.hmget(self._ns_key(thread_id, ns, "blobs"), fields)
        values: dict[str, Any] = {}
        for channel, blob in zip(channels, blobs, strict=True):
            if blob is None:
                continue
            type_, newline, data = blob.partition(b"\n")
            if not newline:
                _undecodable("a channel value has no type")
            if type_ != b"empty":
                values[channel] = self._loads(type_, data)
        return values

    def _pending(self, writes: dict[bytes, bytes]) -> list[PendingWrite]:
        rows = []
        for field, raw in writes.items():
            try:
                task_id, _, idx = field.decode().rpartition("\0")
                head, _, data = raw.partition(b"\n")
                channel, type_, task_path = json.loads(head)
                rows.append((task_path, task_id, int(idx), channel, type_.encode(), data))
            except (ValueError, TypeError, AttributeError):
                _undecodable("a pending write is malformed")
        rows.sort(key=lambda r: writes_sort_key(r[0], r[1], r[2]))
        return [(task_id, channel, self._loads(t, d)) for _, task_id, _, channel, t, d in rows]

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """Checkpoints newest first (by checkpoint id, across threads as SQLite's saver)."""
        only_ns = config["configurable"].get("checkpoint_ns") if config else None
        only_id = get_checkpoint_id(config) if config else None
        before_id = get_checkpoint_id(before) if before else None
        high = b"(" + before_id.encode() if before_id else b"+"
        found: list[tuple[str, str, str]] = []
        with self._errors():
            if config is not None:
                threads = [str(config["configurable"]["thread_id"])]
            else:
                members = await self.client.smembers(f"{self.prefix}:cp:threads")
                threads = sorted(m.decode() for m in members)
            for thread_id in threads:
                if only_ns is not None:
                    namespaces = [only_ns]
                else:
                    members = await self.client.smembers(self._k(thread_id, "ns"))
                    namespaces = sorted(m.decode() for m in members)
                for ns in namespaces:
                    ids = await self.client.zrevrangebylex(
                        self._ns_key(thread_id, ns, "ids"), high, b"-"
                    )
                    found += [(i.decode(), thread_id, ns) for i in ids]
        found.sort(key=lambda item: item[0], reverse=True)
        for checkpoint_id, thread_id, ns in found:
            if limit is not None and limit <= 0:
                break
            if only_id and checkpoint_id != only_id:
                continue
            item = await self._load(
                {
                    "configurable": {
                        "thread_id": thread_id,
                        "checkpoint_ns": ns,
                        "checkpoint_id": checkpoint_id,
                    }
                },
                thread_id,
                ns,
                checkpoint_id,
            )
            if item is None:  # deleted meanwhile
                continue
            if filter and not all(item.metadata.get(k) == v for k, v in filter.items()):
                continue
            if limit is not None:
                limit -= 1
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        thread_id = str(config["configurable"]["thread_id"])
        ns = config["configurable"].get("checkpoint_ns", "")
        stored = checkpoint.copy()
        values: dict[str, Any] = stored.pop("channel_values")  # type: ignore[misc]
        blobs = {}
        for channel, version in new_versions.items():
            type_, data = (
                self.serde.dumps_typed(values[channel]) if channel in values else ("empty", b"")
            )
            blobs[f"{channel}\0{version}"] = type_.encode() + b"\n" + data
        type_, data = self.serde.dumps_typed(stored)
        meta_type, meta = self.serde.dumps_typed(get_checkpoint_metadata(config, metadata))
        keys = [
            self._ns_key(thread_id, ns, "blobs"),
            self._ns_key(thread_id, ns, "c", checkpoint["id"]),
            self._ns_key(thread_id, ns, "ids"),
            self._k(thread_id, "ns"),
        ]
        with self._errors():
            async with self.client.pipeline(transaction=True) as pipe:
                if blobs:
                    pipe.hset(keys[0], mapping=blobs)
                pipe.hset(
                    keys[1],
                    mapping={
                        "type": type_,
                        "checkpoint": data,
                        "metadata_type": meta_type,
                        "metadata": meta,
                        "parent": config["configurable"].get("checkpoint_id") or "",
                    },
                )
                pipe.zadd(keys[2], {checkpoint["id"]: 0})
                pipe.sadd(keys[3], ns)
                pipe.sadd(self._k(thread_id, "keys"), *keys)
                pipe.sadd(f"{self.prefix}:cp:threads", thread_id)
                await pipe.execute()
        return {
            "configurable": {
                "thread_id": thread_id,
                "checkpoint_ns": ns,
                "checkpoint_id": checkpoint["id"],
            }
        }

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        thread_id = str(config["configurable"]["thread_id"])
        ns = config["configurable"].get("checkpoint_ns", "")
        key = self._ns_key(thread_id, ns, "w", config["configurable"]["checkpoint_id"])
        with self._errors():
            async with self.client.pipeline(transaction=True) as pipe:
                for idx, (channel, value) in enumerate(writes):
                    type_, data = self.serde.dumps_typed(value)
                    head = json.dumps([channel, type_, task_path]).encode()
                    slot = WRITES_IDX_MAP.get(channel, idx)
                    field, raw = f"{task_id}\0{slot}", head + b"\n" + data
                    if slot >= 0:
                        pipe.hsetnx(key, field, raw)
                    else:
                        pipe.hset(key, field, raw)
                pipe.sadd(self._k(thread_id, "keys"), key)
                pipe.sadd(f"{self.prefix}:cp:threads", thread_id)
                await pipe.execute()

    async def adelete_thread(self, thread_id: str) -> None:
        thread_id = str(thread_id)
        with self._errors():
            await self._delete_thread(
                keys=[self._k(thread_id, "keys"), f"{self.prefix}:cp:threads"], args=[thread_id]
            )

    def get_next_version(self, current: str | None, channel: None) -> str:
        """As LangGraph's savers: ``<counter, 32 digits>.<random>``, increasing."""
        if current is None:
            current_v = 0
        elif isinstance(current, int):
            current_v = current
        else:
            current_v = int(current.split(".")[0])
        return f"{current_v + 1:032}.{random.random():016}"

    # -- the sync API: not offered ------------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        _async_only()

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        _async_only()

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        _async_only()

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        _async_only()

    def delete_thread(self, thread_id: str) -> None:
        _async_only()


def _async_only() -> NoReturn:
    raise NotImplementedError(
        "RedisSaver is async-only: run the graph with ainvoke/astream and use "
        "aget_state/aget_tuple/alist, or compile with another checkpointer for sync use"
    )


def _undecodable(why: str) -> NoReturn:
    raise StoreError(f"stored checkpoint cannot be decoded: {why}")


def _line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
