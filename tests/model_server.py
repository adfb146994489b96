"""A fault-injecting OpenAI-compatible server on loopback, for tests and benchmarks.

Each chat-completion request takes the next behaviour from ``script`` (``"ok"`` once it
runs out), or ``fault`` for every request:

- ``"ok"``: a normal answer; ``"length"``: the same with ``finish_reason: "length"``;
  ``"empty"``: empty content; ``"refusal"``: no content and the API's ``refusal`` field.
- ``"429"``, ``"500"``, ``"400"``, any status, optionally ``"429:1"`` for ``Retry-After: 1``.
- ``"drip"``: headers, then one byte every ``drip_interval`` seconds, never a full body.
- ``"garbage"``: a 200 whose body is not JSON; ``"empty_choices"``: no choices.
- ``"http500"``: the older name of ``"500"``.

The reply text is ``reply_by(messages)`` when given, else the next of ``replies`` (else
empty). ``latency`` delays every completion by that many seconds (requests are served
concurrently). Requests, headers, arrival times and the peak of requests in flight are
kept for assertions.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class ServerState:
    replies: list[str] = field(default_factory=list)
    fault: str | None = None
    script: list[str] = field(default_factory=list)
    latency: float = 0.0
    reply_by: Callable[[list[dict[str, Any]]], str] | None = None
    drip_interval: float = 1.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    in_flight: int = 0
    peak_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    stopping: threading.Event = field(default_factory=threading.Event, repr=False)

    def next_behaviour(self) -> str:
        with self.lock:
            behaviour = self.fault or (self.script.pop(0) if self.script else "ok")
        return {"http500": "500"}.get(behaviour, behaviour)  # the older name

    def reply_text(self, messages: list[dict[str, Any]]) -> str:
        if self.reply_by is not None:
            return self.reply_by(messages)
        with self.lock:
            return self.replies.pop(0) if self.replies else ""


def _completion(model: str, text: str | None, finish: str, refusal: str | None) -> bytes:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if refusal is not None:
        message["refusal"] = refusal
    return json.dumps(
        {
            "id": "cmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [{"index": 0, "finish_reason": finish, "message": message}],
            "usage": {"prompt_tokens": 111, "completion_tokens": 22, "total_tokens": 133},
        }
    ).encode()


def _handler(state: ServerState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _send(self, code: int, body: bytes, extra: dict[str, str] | None = None) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path.endswith("/models"):
                listing = {"object": "list", "data": [{"id": "fake", "object": "model"}]}
                self._send(200, json.dumps(listing).encode())
            else:
                self._send(404, b"{}")

        def _drip(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            try:
                for _ in range(120):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    if state.stopping.wait(state.drip_interval):
                        break
            except OSError:
                pass  # the client gave up: what a drip test wants
            self.close_connection = True

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            with state.lock:
                state.requests.append(body)
                state.headers.append(dict(self.headers))
                state.arrivals.append(time.monotonic())
                state.in_flight += 1
                state.peak_in_flight = max(state.peak_in_flight, state.in_flight)
            try:
                self._answer(body)
            finally:
                with state.lock:
                    state.in_flight -= 1

        def _answer(self, body: dict[str, Any]) -> None:
            behaviour = state.next_behaviour()
            if state.latency:
                time.sleep(state.latency)
            code, _, after = behaviour.partition(":")
            if code.isdigit():
                error = {"error": {"message": f"injected {code}", "type": "injected"}}
                extra = {"Retry-After": after} if after else {}
                self._send(int(code), json.dumps(error).encode(), extra)
                return
            if behaviour == "drip":
                self._drip()
                return
            if behaviour == "garbage":
                self._send(200, b"this is not json{")
                return
            model = str(body.get("model", "fake"))
            if behaviour == "empty_choices":
                self._send(200, json.dumps({"id": "x", "model": model, "choices": []}).encode())
                return
            if behaviour == "empty":
                self._send(200, _completion(model, "", "stop", None))
                return
            if behaviour == "refusal":
                self._send(200, _completion(model, None, "stop", "I can't help with that."))
                return
            if behaviour not in ("ok", "length"):
                raise ValueError(f"unknown behaviour {behaviour!r}")
            text = state.reply_text(body.get("messages", []))
            finish = "length" if behaviour == "length" else "stop"
            self._send(200, _completion(model, text, finish, None))

    return Handler


class _Server(ThreadingHTTPServer):
    # The default backlog (5) overflows when many clients connect at once, and a refused
    # connect is resent only after a second.
    request_queue_size = 128


@contextmanager
def model_server(state: ServerState) -> Iterator[str]:
    """Serve on 127.0.0.1 on a free port; yields the ``/v1`` base URL."""
    server = _Server(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        state.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
