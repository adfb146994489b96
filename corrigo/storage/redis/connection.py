"""The ``redis`` store's client: opening, key names, errors, and shared reads.

``open()`` pings the server, checks the key layout under the prefix (``P:meta``) and
registers the Lua scripts of :mod:`.scripts`. Redis errors become corrigo's here and
nowhere else: a connection that fails or times out is StoreUnavailable, a key of the
wrong type a StoreError naming the record involved, anything else a StoreError.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import BaseModel, ValidationError

from corrigo.errors import RunNotFound, StoreError, StoreUnavailable
from corrigo.storage.redis.scripts import SCRIPTS
from corrigo.storage.urls import redact_url

try:
    import redis.asyncio as aioredis
    from redis import exceptions as rex
except ModuleNotFoundError:  # the redis extra is not installed
    aioredis = None  # type: ignore[assignment]

M = TypeVar("M", bound=BaseModel)

#: The key layout this code reads and writes (``P:meta`` says which one a prefix holds).
LAYOUT = "1"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RECORDS = {"run": "RunRecord", "lesson": "Lesson", "bench": "BenchSpec"}


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


def score_of(moment: datetime) -> int:
    """Microseconds since 1970 (exact in a sorted set's double up to year 2255)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1)


def decode(cls: type[M], raw: bytes | str) -> M:
    """A stored record; StoreError naming its type when the JSON does not decode."""
    try:
        return cls.model_validate_json(raw)
    except ValidationError as exc:
        raise StoreError(
            f"stored {cls.__name__} cannot be decoded: {exc.errors()[0]['msg']}"
        ) from None


def as_text(values: Sequence[bytes]) -> list[str]:
    """Redis replies (bytes) as text."""
    return [v.decode() for v in values]


class RedisConnection:
    """The client of one ``redis`` store URL, made by ``open()`` and dropped by ``close()``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.prefix, self.keep, self._redis_url = _parse_url(url)
        self._client: Any = None
        self._scripts: dict[str, Any] = {}

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
        for name, source in SCRIPTS.items():
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
        for _, rank, member in indexes:
            args += [rank, member]
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
        return [decode(cls, raw) for raw in raws if raw is not None]

    async def _newest(
        self, groups: list[list[str]], limit: int, low: int | str = "-inf", high: int | str = "+inf"
    ) -> list[str]:
        """Ids newest first in every group (each group: ids in any of its sets)."""
        client = self.client
        if len(groups) == 1 and len(groups[0]) == 1:
            ids = await client.zrevrangebyscore(groups[0][0], high, low, start=0, num=limit)
            return as_text(ids)
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
        return as_text(results[-2])


def _line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
