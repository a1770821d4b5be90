"""The base of every API fake: a real HTTP server on 127.0.0.1, in a thread, recording requests.

A fake routes each request to `handle` (written per API, following its published reference) and
lets a test inject failures for the next matching requests (429 with Retry-After, 5xx, ...), so
clients are exercised over their real transport, sockets included.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["FakeServer", "Reply", "Request", "ids", "json_reply", "text_reply"]


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(status: int, data: Any, **headers: str) -> Reply:
    return Reply(status, json.dumps(data).encode(), {"Content-Type": "application/json", **headers})


def text_reply(status: int, text: str, **headers: str) -> Reply:
    return Reply(status, text.encode(), {"Content-Type": "text/plain", **headers})


@dataclass
class _Failure:
    reply: Reply
    times: int
    method: str | None
    path_contains: str | None

    def matches(self, request: Request) -> bool:
        return (self.method is None or request.method == self.method) and (
            self.path_contains is None or self.path_contains in request.path
        )


class FakeServer:
    """Subclasses implement `handle(request) -> Reply`; this class serves and records."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._failures: list[_Failure] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail_next(
        self,
        reply: Reply,
        *,
        times: int = 1,
        method: str | None = None,
        path_contains: str | None = None,
    ) -> None:
        """Answer the next `times` matching requests with `reply` instead of handling them."""
        with self._lock:
            self._failures.append(_Failure(reply, times, method, path_contains))

    def calls(self, method: str, path_contains: str = "") -> list[Request]:
        return [r for r in self.requests if r.method == method and path_contains in r.path]

    def handle(self, request: Request) -> Reply:
        raise NotImplementedError

    def _dispatch(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            for failure in self._failures:
                if failure.times > 0 and failure.matches(request):
                    failure.times -= 1
                    return failure.reply
            return self.handle(request)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms stalls

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                parts = urlsplit(self.path)
                request = Request(
                    method=self.command,
                    path=parts.path,
                    query={k: v[-1] for k, v in parse_qs(parts.query).items()},
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                reply = fake._dispatch(request)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

            def log_message(self, *_: Any) -> None:
                pass

        return Handler


def ids(prefix: str) -> Iterator[str]:
    """Deterministic ids shaped like the API's own (`br-...`, `ep-...`)."""
    number = 0
    while True:
        number += 1
        yield f"{prefix}{number:04d}"
