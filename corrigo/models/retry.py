"""Retries with a total deadline, for model calls over the network.

One policy for every call: up to ``retries`` more attempts after the first, only for
failures worth repeating (HTTP 429, 5xx, a dropped connection), waiting a jittered
exponential backoff (``backoff`` seconds, doubling, capped at ``max_wait``) or what
the server's ``Retry-After`` asks. Everything, waits included, happens inside one
deadline: an attempt still running when it passes is cancelled, and a wait that would
outlast it is not started.

The OpenAI client's own retries are turned off, because they know neither the deadline
nor a configurable backoff, and a server that drips bytes defeats its read timeout.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 4
    deadline: float = 300.0
    backoff: float = 0.5
    max_wait: float = 8.0

    def wait(self, attempt: int, rng: random.Random | None = None) -> float:
        """Jittered backoff before retry number ``attempt`` (1-based): between half and
        all of ``backoff * 2**(attempt - 1)``, capped at ``max_wait``."""
        ceiling = min(self.max_wait, self.backoff * (2 ** (attempt - 1)))
        return (rng or random).uniform(ceiling / 2, ceiling)


@dataclass(frozen=True)
class Retryable:
    """What the caller's classifier says about a failure that may be tried again."""

    reason: str  # "HTTP 429", "HTTP 503", "connection failed"
    retry_after: float | None = None


class DeadlineExceeded(Exception):
    """The call's deadline passed; ``last`` is the last retryable failure, if any."""

    def __init__(self, deadline: float, attempts: int, last: Retryable | None) -> None:
        super().__init__(f"no reply within the {deadline:g} s deadline")
        self.deadline = deadline
        self.attempts = attempts
        self.last = last


class RetriesExhausted(Exception):
    def __init__(self, attempts: int, last: Retryable, error: BaseException) -> None:
        super().__init__(last.reason)
        self.attempts = attempts
        self.last = last
        self.error = error


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds asked by ``Retry-After`` (seconds or an HTTP date) or ``retry-after-ms``."""
    if not headers:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


async def call_with_retries(
    attempt: Callable[[float], Awaitable[T]],
    classify: Callable[[BaseException], Retryable | None],
    policy: RetryPolicy,
) -> T:
    """Run ``attempt(seconds_left)`` until it succeeds, within ``policy``.

    ``classify`` returns a :class:`Retryable` for failures worth repeating and None for
    the rest, which propagate at once. Raises :class:`DeadlineExceeded` or
    :class:`RetriesExhausted` when the policy gives up.
    """
    end = time.monotonic() + policy.deadline
    last: Retryable | None = None
    tries = 0
    while True:
        left = end - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded(policy.deadline, tries, last)
        tries += 1
        try:
            async with asyncio.timeout(left):
                return await attempt(left)
        except Exception as exc:
            if isinstance(exc, TimeoutError) and time.monotonic() >= end:
                raise DeadlineExceeded(policy.deadline, tries, last) from None
            verdict = classify(exc)
            if verdict is None:
                raise
            last = verdict
            if tries > policy.retries:
                raise RetriesExhausted(tries, verdict, exc) from None
        pause = policy.wait(tries)
        if last.retry_after is not None:
            pause = last.retry_after
        if time.monotonic() + pause >= end:
            raise DeadlineExceeded(policy.deadline, tries, last)
        await asyncio.sleep(pause)
