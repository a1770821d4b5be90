"""HTTP routes as one ASGI app, each a NATS request to the accounts service whose reply becomes
the response.

- `POST /accounts` forwards the body to accounts.rpc.create (201 with the account), unless the
  feature flag `signup_enabled` in KV bucket `flags` is "false" (403);
- `GET /accounts/{id}` asks accounts.rpc.get (200);
- `GET /invoices/{id}` asks billing.rpc.invoice, on the billing bus of the three-bus example
  (where the manifest's gateway calls `invoices.get`; elsewhere the server refuses it: 504);
- `GET /healthz` is 200 while connected to NATS (the frontend's readiness signal).

A service error (`Nats-Service-Error-Code` 400-599) keeps its code; no responder is 503, no
reply in time 504. The body is forwarded untouched: validating it is the service's job.

The same `Gateway` object runs everywhere, unchanged, because ASGI is what every host calls:
- a local process or a container command (`python -m apps.gateway`: Railway, Kubernetes,
  systemd): `apps.gateway.serve` connects first (a refused or unreachable NATS stops the
  process at once) and serves it with uvicorn on HOST:PORT, 127.0.0.1 by default;
- a Vercel Python function (`vercel/api/index.py` exports `app`): nothing runs before the first
  request, so the connection is made then, from the environment, and kept in the module for
  the requests the warm instance serves next. A connection bound to another event loop, or
  closed, is replaced: a cold start or a new loop reconnects instead of failing.

Either way its settings and its NATS connection are the kit's runtime's (`deploykit.runtime`:
the environment, credentials, inbox, TLS CA and reconnects of every service).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.kv import KeyValue

from deploykit.runtime import ConfigError, Fatal, Settings, connection
from deploykit.runtime.metrics import Metrics

log = logging.getLogger("apps.gateway")

REQUEST_TIMEOUT = 10.0  # seconds; longer than the accounts service's publish retries
FLAGS_BUCKET = "flags"
SIGNUP_FLAG = "signup_enabled"
ACCOUNT = re.compile(r"^/accounts/([^/]+)$")
INVOICE = re.compile(r"^/invoices/([^/]+)$")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class Response:
    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self.body = body

    @classmethod
    def json(cls, data: Any, status: int) -> Response:
        return cls(status, json.dumps(data).encode())

    async def send(self, send: Send) -> None:
        headers = [
            (b"content-type", b"application/json; charset=utf-8"),
            (b"content-length", str(len(self.body)).encode()),
        ]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


class Flags:
    """Feature flags read from KV at each use (a flag flip applies at once); a missing bucket or
    key means the default."""

    def __init__(self, nc: Client) -> None:
        self.js = nc.jetstream()
        self.kv: KeyValue | None = None

    async def enabled(self, key: str, default: bool = True) -> bool:
        try:
            if self.kv is None:
                self.kv = await self.js.key_value(FLAGS_BUCKET)
            entry = await self.kv.get(key)
        except nats.js.errors.NotFoundError:  # no bucket, or no such key
            return default
        value = (entry.value or b"").decode(errors="replace").strip().lower()
        return value != "false"


def to_response(msg: Msg, ok: int) -> Response:
    code = (msg.headers or {}).get("Nats-Service-Error-Code")
    if code:
        status = int(code) if code.isdigit() and 400 <= int(code) < 600 else 502
        error = (msg.headers or {}).get("Nats-Service-Error", "error")
        return Response.json({"error": error}, status)
    return Response(ok, msg.data)


class Connection:
    """The NATS connection of this process, made on first use and kept while it is usable."""

    def __init__(self, settings: Callable[[], Settings], nc: Client | None = None) -> None:
        self._settings = settings
        self._nc = nc
        self._loop = asyncio.get_running_loop() if nc is not None else None
        self._flags: Flags | None = Flags(nc) if nc is not None else None
        self._lock: asyncio.Lock | None = None

    def usable(self) -> bool:
        loop = asyncio.get_running_loop()
        return self._nc is not None and not self._nc.is_closed and self._loop is loop

    async def get(self) -> tuple[Client, Flags]:
        if not self.usable():
            loop = asyncio.get_running_loop()
            if self._lock is None or self._loop is not loop:
                # a connection of a loop that is gone cannot be used or closed from this one
                self._lock, self._loop, self._nc = asyncio.Lock(), loop, None
            async with self._lock:
                if not self.usable():
                    self._nc = await connection.connect(self._settings())
                    self._flags = Flags(self._nc)
        assert self._nc is not None and self._flags is not None
        return self._nc, self._flags

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    async def close(self) -> None:
        if self._nc is not None:
            await connection.close(self._nc)


class Gateway:
    """The ASGI application; `connection` is shared by every request it serves. With `metrics`
    (a process), the duration of each request is recorded by method, route and status."""

    def __init__(self, connection: Connection, metrics: Metrics | None = None) -> None:
        self.connection = connection
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        try:
            response = await self.route(scope["method"], scope["path"], receive)
        except ConfigError as exc:
            log.error("bad configuration: %s", exc)
            response = Response.json({"error": "the gateway is misconfigured"}, 500)
        except Fatal as exc:
            log.error("%s", exc)
            response = Response.json({"error": "NATS is unreachable"}, 503)
        await response.send(send)
        if self.metrics is not None:
            elapsed = time.perf_counter() - started
            self.metrics.http(scope["method"], route_of(scope["path"]), response.status, elapsed)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        """Nothing to prepare (the first request connects); close the connection at shutdown."""
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.connection.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def route(self, method: str, path: str, receive: Receive) -> Response:
        if path == "/healthz":
            return await self.healthz() if method == "GET" else not_allowed()
        if path == "/accounts":
            if method != "POST":
                return not_allowed()
            return await self.create_account(await body(receive))
        if match := ACCOUNT.match(path):
            return await self.get_account(match[1]) if method == "GET" else not_allowed()
        if match := INVOICE.match(path):
            return await self.get_invoice(match[1]) if method == "GET" else not_allowed()
        return Response.json({"error": f"no route {path}"}, 404)

    async def forward(self, subject: str, payload: bytes, ok: int) -> Response:
        nc, _ = await self.connection.get()
        try:
            reply = await nc.request(subject, payload, timeout=REQUEST_TIMEOUT)
        except nats.errors.NoRespondersError:
            return Response.json({"error": f"no service answers {subject}"}, 503)
        except nats.errors.TimeoutError:
            return Response.json({"error": f"no reply from {subject} in time"}, 504)
        return to_response(reply, ok)

    async def create_account(self, payload: bytes) -> Response:
        _, flags = await self.connection.get()
        try:
            signup = await flags.enabled(SIGNUP_FLAG)
        except nats.errors.Error as exc:
            log.warning("cannot read flag %s: %s", SIGNUP_FLAG, exc or type(exc).__name__)
            return Response.json({"error": "feature flags unavailable"}, 503)
        if not signup:
            return Response.json({"error": "signups are disabled"}, 403)
        return await self.forward("accounts.rpc.create", payload, 201)

    async def get_account(self, account: str) -> Response:
        payload = json.dumps({"id": account}).encode()
        return await self.forward("accounts.rpc.get", payload, 200)

    async def get_invoice(self, account: str) -> Response:
        """On the billing bus: a request that crosses buses (examples/three-buses)."""
        payload = json.dumps({"account": account}).encode()
        return await self.forward("billing.rpc.invoice", payload, 200)

    async def healthz(self) -> Response:
        await self.connection.get()
        connected = self.connection.connected
        return Response.json({"nats": connected}, 200 if connected else 503)


def route_of(path: str) -> str:
    """The route a path matched, as metrics label it (ids would make a label per account)."""
    if ACCOUNT.match(path):
        return "/accounts/{id}"
    if INVOICE.match(path):
        return "/invoices/{id}"
    return path if path in ("/healthz", "/accounts") else "(unmatched)"


def not_allowed() -> Response:
    return Response.json({"error": "method not allowed"}, 405)


async def body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def from_environment() -> Gateway:
    """The gateway a function host imports: settings are read, and NATS reached, on first use."""
    return Gateway(Connection(lambda: Settings.from_env(os.environ)))
