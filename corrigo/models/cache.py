"""A reply cache for deterministic calls, shared by the runs of a bench.

Greedy decoding (temperature 0) and seeded sampling give the same reply to the same
request, so a bench that runs several strategies over one model need not pay again
for a call another strategy already made (every strategy's first solver call is the
same). A reply is cached only when the request pins its randomness (a seed is given,
or the temperature is 0), keyed by the model spec, the messages, temperature, seed and
token limit. A cached reply keeps the usage of the call that produced it, so token
counts stay what each strategy would have spent alone; it is flagged ``cached``, and
it takes no wall time.

The cache is a JSON Lines file (one ``{"key", "text", "usage", "model", "finish_reason",
"flags"}`` object a line), read once and appended to: data, never code.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from corrigo.errors import ConfigError
from corrigo.models.base import DEFAULT_SEED, DEFAULT_TEMPERATURE, ChatModel, Reply
from corrigo.records import Message, Usage


class ReplyCache:
    """Replies by request key, in memory and in a JSON Lines file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._replies: dict[str, Reply] | None = None
        self.hits = 0

    def _load(self) -> dict[str, Reply]:
        if self._replies is not None:
            return self._replies
        replies: dict[str, Reply] = {}
        if self.path.exists():
            for number, line in enumerate(self.path.read_text("utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                    replies[str(data["key"])] = Reply(
                        text=str(data["text"]),
                        usage=Usage.model_validate(data["usage"]),
                        model=str(data["model"]),
                        finish_reason=data.get("finish_reason"),
                        flags=tuple(str(f) for f in data.get("flags", [])),
                    )
                except (ValueError, KeyError, TypeError):
                    raise ConfigError(
                        f"reply cache {self.path}:{number} is not a cached reply"
                    ) from None
        self._replies = replies
        return replies

    def get(self, key: str) -> Reply | None:
        with self._lock:
            return self._load().get(key)

    def put(self, key: str, reply: Reply) -> None:
        record: dict[str, Any] = {
            "key": key,
            "text": reply.text,
            "usage": reply.usage.model_dump(mode="json"),
            "model": reply.model,
            "finish_reason": reply.finish_reason,
            "flags": list(reply.flags),
        }
        with self._lock:
            self._load()[key] = reply
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(json.dumps(record) + "\n")


def request_key(
    spec: str,
    messages: Sequence[Message],
    temperature: float | None,
    seed: int | None,
    max_tokens: int | None,
) -> str | None:
    """The cache key of a request, or None when its reply is not reproducible."""
    temperature = DEFAULT_TEMPERATURE if temperature is None else temperature
    seed = DEFAULT_SEED if seed is None and temperature == 0 else seed
    if seed is None and temperature != 0:
        return None
    payload = json.dumps(
        [spec, [[m.role, m.content] for m in messages], temperature, seed, max_tokens]
    )
    return hashlib.sha256(payload.encode()).hexdigest()


class CachedModel(ChatModel):
    """``inner`` behind a :class:`ReplyCache`."""

    def __init__(self, inner: ChatModel, cache: ReplyCache) -> None:
        self.inner = inner
        self.cache = cache
        self.spec = inner.spec
        self.concurrency = inner.concurrency
        self.max_tokens = inner.max_tokens
        self.price = inner.price

    @property
    def calls_network(self) -> bool:
        return self.inner.calls_network

    async def check(self) -> None:
        await self.inner.check()

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        role: str,
        task_id: str,
        temperature: float | None = None,
        seed: int | None = None,
        max_tokens: int | None = None,
    ) -> Reply:
        key = request_key(self.spec, messages, temperature, seed, max_tokens)
        if key is not None:
            hit = self.cache.get(key)
            if hit is not None:
                self.cache.hits += 1
                usage = hit.usage.model_copy(update={"latency_ms": 0.0})
                flags = (*hit.flags, "cached")
                return Reply(hit.text, usage, hit.model, hit.finish_reason, flags)
        reply = await self.inner.complete(
            messages,
            role=role,
            task_id=task_id,
            temperature=temperature,
            seed=seed,
            max_tokens=max_tokens,
        )
        if key is not None and not reply.flags:
            self.cache.put(key, reply)
        return reply
