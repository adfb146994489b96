"""A fault-injecting OpenAI-compatible server on loopback, for tests.

``replies`` are served in order to chat-completion requests; ``fault`` makes every
completion request fail in a chosen way instead. Requests are kept for assertions.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class ServerState:
    replies: list[str] = field(default_factory=list)
    fault: str | None = None  # "http500", "garbage", "empty_choices"
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)


def _handler(state: ServerState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _send(self, code: int, body: bytes, kind: str = "application/json") -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path.endswith("/models"):
                self._send(
                    200,
                    json.dumps(
                        {"object": "list", "data": [{"id": "fake", "object": "model"}]}
                    ).encode(),
                )
            else:
                self._send(404, b"{}")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            state.requests.append(body)
            state.headers.append(dict(self.headers))
            if state.fault == "http500":
                self._send(500, b'{"error": {"message": "injected failure"}}')
                return
            if state.fault == "garbage":
                self._send(200, b"this is not json{")
                return
            text = state.replies.pop(0) if state.replies else ""
            reply = {
                "id": "cmpl-1",
                "object": "chat.completion",
                "created": 0,
                "model": body.get("model", "fake"),
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": text},
                    }
                ],
                "usage": {"prompt_tokens": 111, "completion_tokens": 22, "total_tokens": 133},
            }
            if state.fault == "empty_choices":
                reply["choices"] = []
            self._send(200, json.dumps(reply).encode())

    return Handler


@contextmanager
def model_server(state: ServerState) -> Iterator[str]:
    """Serve on 127.0.0.1 on a free port; yields the ``/v1`` base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
