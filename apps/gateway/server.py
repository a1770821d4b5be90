"""HTTP routes, each a NATS request to the accounts service whose reply becomes the response.

- `POST /accounts` forwards the body to accounts.rpc.create (201 with the account), unless the
  feature flag `signup_enabled` in KV bucket `flags` is "false" (403);
- `GET /accounts/{id}` asks accounts.rpc.get (200);
- `GET /invoices/{id}` asks billing.rpc.invoice, on the billing bus of the three-bus example
  (where the manifest's gateway calls `invoices.get`; elsewhere the server refuses it: 504);
- `GET /healthz` is 200 while connected to NATS (the frontend's readiness signal).

A service error (`Nats-Service-Error-Code` 400-599) keeps its code; no responder is 503, no
reply in time 504. The body is forwarded untouched: validating it is the service's job.
"""

from __future__ import annotations

import asyncio
import json
import logging

import nats.errors
import nats.js.errors
from aiohttp import web
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.kv import KeyValue

from apps.runtime import Fatal, Settings, close_nats, connect_nats

log = logging.getLogger("apps.gateway")

REQUEST_TIMEOUT = 10.0  # seconds; longer than the accounts service's publish retries
FLAGS_BUCKET = "flags"
SIGNUP_FLAG = "signup_enabled"


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


def to_response(msg: Msg, ok: int) -> web.Response:
    code = (msg.headers or {}).get("Nats-Service-Error-Code")
    if code:
        status = int(code) if code.isdigit() and 400 <= int(code) < 600 else 502
        error = (msg.headers or {}).get("Nats-Service-Error", "error")
        return web.json_response({"error": error}, status=status)
    return web.Response(body=msg.data, status=ok, content_type="application/json")


class Gateway:
    def __init__(self, nc: Client) -> None:
        self.nc = nc
        self.flags = Flags(nc)

    async def forward(self, subject: str, payload: bytes, ok: int) -> web.Response:
        try:
            reply = await self.nc.request(subject, payload, timeout=REQUEST_TIMEOUT)
        except nats.errors.NoRespondersError:
            return web.json_response({"error": f"no service answers {subject}"}, status=503)
        except nats.errors.TimeoutError:
            return web.json_response({"error": f"no reply from {subject} in time"}, status=504)
        return to_response(reply, ok)

    async def create_account(self, request: web.Request) -> web.Response:
        try:
            signup = await self.flags.enabled(SIGNUP_FLAG)
        except nats.errors.Error as exc:
            log.warning("cannot read flag %s: %s", SIGNUP_FLAG, exc or type(exc).__name__)
            return web.json_response({"error": "feature flags unavailable"}, status=503)
        if not signup:
            return web.json_response({"error": "signups are disabled"}, status=403)
        return await self.forward("accounts.rpc.create", await request.read(), 201)

    async def get_account(self, request: web.Request) -> web.Response:
        payload = json.dumps({"id": request.match_info["id"]}).encode()
        return await self.forward("accounts.rpc.get", payload, 200)

    async def get_invoice(self, request: web.Request) -> web.Response:
        """On the billing bus: a request that crosses buses (examples/three-buses)."""
        payload = json.dumps({"account": request.match_info["id"]}).encode()
        return await self.forward("billing.rpc.invoice", payload, 200)

    async def healthz(self, request: web.Request) -> web.Response:
        connected = self.nc.is_connected
        return web.json_response({"nats": connected}, status=200 if connected else 503)

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes(
            [
                web.post("/accounts", self.create_account),
                web.get("/accounts/{id}", self.get_account),
                web.get("/invoices/{id}", self.get_invoice),
                web.get("/healthz", self.healthz),
            ]
        )
        return app


async def main(settings: Settings, stop: asyncio.Event) -> None:
    nc = await connect_nats(settings)
    runner = web.AppRunner(Gateway(nc).app())
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, "0.0.0.0", settings.port).start()
        except OSError as exc:
            raise Fatal(f"cannot listen on port {settings.port}: {exc.strerror}") from None
        log.info("listening on :%d", settings.port)
        await stop.wait()
        log.info("stopping: finishing requests in flight")
    finally:
        await runner.cleanup()
        await close_nats(nc)
