"""The model interface every provider implements: :class:`ChatModel` and its :class:`Reply`.

A reply is never an error because of what it says: an empty reply, a refusal or a
reply cut off at the token limit comes back as a :class:`Reply` whose ``flags`` say
so (``"empty"``, ``"refusal"``, ``"truncated"``), for the caller to record in the step.
Only a call that could not be made or answered raises, and then only
:class:`~corrigo.errors.ModelError` subclasses.
"""

from __future__ import annotations

import asyncio
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from corrigo.records import Message, Usage

if TYPE_CHECKING:
    from corrigo.models.pricing import Price

ROLES = ("solver", "reviewer", "refiner", "test_designer", "reflector", "checker")
DEFAULT_LOCAL = "qwen2.5-coder-1.5b"  # the local model used when none is configured

# What ``temperature=None`` / ``seed=None`` mean for every model: deterministic decoding.
DEFAULT_TEMPERATURE = 0.0
DEFAULT_SEED = 0


@dataclass(frozen=True)
class Reply:
    text: str
    usage: Usage
    model: str
    finish_reason: str | None = None
    flags: tuple[str, ...] = ()


class ChatModel(ABC):
    """A model that can be asked for one reply to a list of messages.

    ``concurrency`` bounds the calls in flight on one model object; providers take a
    slot with ``async with self.slot():`` around each call. ``max_tokens`` is the most a
    reply may be when a call sets no limit (None: the model has no cap of its own);
    ``price`` what its tokens cost (set by :func:`corrigo.models.get_model`; None: unknown).
    """

    spec: str
    concurrency: int = 1
    max_tokens: int | None = None
    price: Price | None = None
    _slots: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None

    @abstractmethod
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
        """One reply; ``None`` means the model's default (temperature 0, seed 0).

        Raises ModelError subclasses only.
        """

    async def check(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Raise ModelUnavailable if the model cannot be used (reachability, files)."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release connections; the model stays usable (a later call reconnects)."""

    @property
    def calls_network(self) -> bool:
        return False

    def slot(self) -> asyncio.Semaphore:
        """The semaphore bounding this model's calls in the running event loop.

        Made on first use inside a loop (never in ``__init__``), and made again when the
        object is used from another loop, as ``run_sync`` does once per call.
        """
        loop = asyncio.get_running_loop()
        slots = self._slots
        if slots is None or slots[0] is not loop:
            slots = self._slots = (loop, asyncio.Semaphore(self.concurrency))
        return slots[1]


_REFUSAL = re.compile(
    r"^(?:(?:i'?m sorry|i am sorry|sorry|i apologi[sz]e)[,.!]?\s+(?:but\s+)?)?"
    r"(?:i can'?t|i cannot|i can not|i won'?t|i'?m (?:not able|unable)|i am (?:not able|unable))"
    r" (?:to )?(?:help|assist|comply|provide|do that|write|fulfil|create|complete|answer)"
)


def looks_like_refusal(text: str) -> bool:
    """An obvious refusal at the start of a reply ("I'm sorry, but I can't ...")."""
    head = text.strip()[:200].lower().replace("\u2019", "'")
    return bool(_REFUSAL.match(head))


def reply_flags(
    text: str, finish_reason: str | None, refusal: str | None = None
) -> tuple[str, ...]:
    """Classify a reply: ``empty``, ``refusal`` (API field or obvious text), ``truncated``."""
    flags: list[str] = []
    if not text.strip():
        flags.append("empty")
    if refusal or (text and looks_like_refusal(text)):
        flags.append("refusal")
    if finish_reason == "length":
        flags.append("truncated")
    return tuple(flags)


def estimate_tokens(text: str) -> int:
    """A rough token count (4 characters a token), for models that report none."""
    return max(1, len(text) // 4) if text else 0


def public_url(url: str) -> str:
    """``url`` without credentials, safe for logs and stored records."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
