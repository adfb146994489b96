"""One model served by several OpenAI-compatible servers (one vLLM server per GPU node).

The spec names the servers, each with the calls it takes at once::

    openai:Qwen2.5-Coder-7B(http://gpu1:8000/v1*16, http://gpu2:8000/v1*16)

(without ``*N`` a server takes ``CORRIGO_MODEL_CONCURRENCY`` calls). A call goes to the
server with the most free slots; one that fails (unreachable, or out of retries) is
tried on the others before the run sees the error. The API key is the settings' (the
environment's), never part of the spec, which is stored with each run.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from corrigo.config import Settings
from corrigo.errors import ConfigError, ModelCallFailed
from corrigo.models.base import ChatModel, Reply
from corrigo.records import Message

_SERVERS = re.compile(r"^(?P<name>[^()]+)\((?P<servers>[^()]*)\)$")


def split_servers(name: str) -> tuple[str, list[tuple[str, int | None]]] | None:
    """``NAME(URL*N, URL)`` as the name and its (url, slots or None) servers; None when
    the name lists no servers. Raises ConfigError for a malformed list."""
    found = _SERVERS.match(name.strip())
    if found is None:
        return None
    servers: list[tuple[str, int | None]] = []
    for part in found["servers"].split(","):
        url, star, count = part.strip().partition("*")
        url = url.strip()
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"model server {url!r} must be an http:// or https:// URL")
        if star and not (count.strip().isdigit() and int(count) >= 1):
            raise ConfigError(f"model server {part.strip()!r}: '*N' takes a whole number ≥ 1")
        servers.append((url, int(count) if star else None))
    if not servers:
        raise ConfigError(f"model spec {name!r} lists no servers")
    if len({u for u, _ in servers}) != len(servers):
        raise ConfigError(f"model spec {name!r} lists a server twice")
    return found["name"].strip(), servers


def priced_spec(spec: str) -> str:
    """The spec a price is looked up by: without its server list."""
    provider, _, name = spec.partition(":")
    split = split_servers(name) if provider == "openai" else None
    return f"{provider}:{split[0]}" if split else spec


class ServerPool(ChatModel):
    """Calls spread over the servers of one model, most free slots first."""

    def __init__(self, spec: str, members: Sequence[ChatModel]) -> None:
        self.spec = spec
        self.members = list(members)
        self.concurrency = sum(m.concurrency for m in self.members)
        self.max_tokens = self.members[0].max_tokens
        self._busy = [0] * len(self.members)

    @classmethod
    def from_servers(
        cls, spec: str, model: str, servers: Sequence[tuple[str, int | None]], settings: Settings
    ) -> ServerPool:
        """The pool for ``spec``: ``model`` on each of :func:`split_servers`' servers."""
        from corrigo.models.openai import OpenAIModel

        members = []
        for url, slots in servers:
            member = OpenAIModel.from_settings(model, settings, base_url=url, spec=spec)
            if slots is not None:
                member.concurrency = slots
            members.append(member)
        return cls(spec, members)

    @property
    def calls_network(self) -> bool:
        return True

    def _order(self) -> list[int]:
        free = [m.concurrency - busy for m, busy in zip(self.members, self._busy, strict=True)]
        return sorted(range(len(self.members)), key=lambda i: (-free[i], i))

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
        failed: ModelCallFailed | None = None
        for index in self._order():
            member = self.members[index]
            self._busy[index] += 1
            try:
                return await member.complete(
                    messages,
                    role=role,
                    task_id=task_id,
                    temperature=temperature,
                    seed=seed,
                    max_tokens=max_tokens,
                )
            except ModelCallFailed as exc:
                failed = exc  # the next server may answer
            finally:
                self._busy[index] -= 1
        assert failed is not None
        raise failed

    async def check(self) -> None:
        for member in self.members:
            await member.check()

    async def aclose(self) -> None:
        for member in self.members:
            await member.aclose()
