"""A run's event stream as a response, and the limit on how many may be open at once.

:mod:`corrigo.serve.events` makes the frames; this module decides where a stream
starts (``after``, or a reconnecting client's ``Last-Event-ID``) and counts the open
ones in the app's :class:`Streams`, so one caller cannot hold every connection. The
route itself is ``GET /v1/runs/{id}/events`` in :mod:`corrigo.serve.routes.runs`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from fastapi import Request
from fastapi.responses import Response, StreamingResponse

from corrigo.records import RunRecord
from corrigo.serve import events
from corrigo.serve.schemas import ApiError


class Streams:
    """Open event streams, counted per caller and in all: a new one past a limit is 429."""

    def __init__(self, total: int, per_caller: int) -> None:
        self.total, self.per_caller = total, per_caller
        self.open_by: dict[str, int] = {}

    def open(self, caller: str) -> None:
        if sum(self.open_by.values()) >= self.total:
            raise ApiError(
                429,
                "too_many_streams",
                "too many event streams are open",
                headers={"Retry-After": "5"},
            )
        if self.open_by.get(caller, 0) >= self.per_caller:
            raise ApiError(
                429,
                "too_many_streams",
                f"this token has {self.per_caller} event streams open already",
                headers={"Retry-After": "5"},
            )
        self.open_by[caller] = self.open_by.get(caller, 0) + 1

    def counted(self, caller: str, body: AsyncIterator[bytes]) -> Counted:
        return Counted(self, caller, body)

    def close(self, caller: str) -> None:
        self.open_by[caller] -= 1
        if not self.open_by[caller]:
            del self.open_by[caller]


class Counted:
    """A stream's body that gives its slot back when it ends, fails, is cancelled, or is
    dropped without ever being read (a client gone before the first byte)."""

    def __init__(self, streams: Streams, caller: str, body: AsyncIterator[bytes]) -> None:
        self.streams, self.caller, self.body = streams, caller, body
        self.closed = False

    def __aiter__(self) -> Counted:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self.body.__anext__()
        except BaseException:
            self._close()
            raise

    def _close(self) -> None:
        if not self.closed:
            self.closed = True
            self.streams.close(self.caller)

    def __del__(self) -> None:
        self._close()


def respond(request: Request, record: RunRecord, caller: str, after: int | None) -> Response:
    """The stream of ``record`` for ``caller``: 204 when the client saw the outcome
    already, 422 for a ``Last-Event-ID`` that is no step's seq, 429 past the limits."""
    last = request.headers.get("last-event-id")
    if last is not None and last.strip() == events.OUTCOME_ID:
        return Response(status_code=204)
    start = after or 0
    if last is not None and last.strip():
        if not re.fullmatch(r"[0-9]{1,9}", last.strip()):
            raise ApiError(422, "invalid_request", "Last-Event-ID must be a step's seq")
        start = int(last.strip())
    state = request.app.state
    streams: Streams = state.streams
    streams.open(caller)
    body = events.stream(
        state.store,
        record.id,
        start,
        waiters=state.waiters,
        poll_seconds=state.config.poll_seconds,
        keepalive_seconds=state.config.keepalive_seconds,
        scrub=state.scrub,
    )
    return StreamingResponse(
        streams.counted(caller, body),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
