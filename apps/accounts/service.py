"""The NATS Service `accounts`: endpoints `create` (accounts.rpc.create) and `get`
(accounts.rpc.get). `create` stores the row first, then publishes accounts.events.created with
`Nats-Msg-Id` = the account id, retrying before it replies: the stream's duplicate window turns
retries (and a client's repeated request for the same email) into one stored event."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import uuid
from typing import Any

import nats.errors
import psycopg
from nats.js.client import JetStreamContext
from nats.micro import Handler, Request
from nats.micro.request import ServiceError

from apps.accounts import store
from apps.runtime import Database, Settings, add_service, close_nats, connect_nats

log = logging.getLogger("apps.accounts")

CREATED = "accounts.events.created"
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PUBLISH_ATTEMPTS = 3
PUBLISH_TIMEOUT = 2.0  # seconds per attempt; the gateway waits longer than all attempts
STOP_GRACE = 10.0  # seconds a stop waits for requests in flight


def parse(data: bytes) -> dict[str, Any]:
    try:
        body = json.loads(data or b"null")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ServiceError("400", "the request must be a JSON object")
    return body


def parse_email(data: bytes) -> str:
    email = parse(data).get("email")
    if not isinstance(email, str) or len(email) > 254 or not EMAIL.match(email.strip()):
        raise ServiceError("400", "email must be an address like name@example.com")
    return email.strip().lower()


def parse_id(data: bytes) -> uuid.UUID:
    try:
        return uuid.UUID(str(parse(data).get("id")))
    except ValueError:
        raise ServiceError("400", "id must be a UUID") from None


async def publish_created(js: JetStreamContext, account: dict[str, str]) -> None:
    payload = json.dumps(account).encode()
    for attempt in range(1, PUBLISH_ATTEMPTS + 1):
        try:
            ack = await js.publish(
                CREATED, payload, timeout=PUBLISH_TIMEOUT, headers={"Nats-Msg-Id": account["id"]}
            )
        except nats.errors.Error as exc:
            log.warning(
                "publish %s for %s failed (attempt %d/%d): %s",
                CREATED,
                account["id"],
                attempt,
                PUBLISH_ATTEMPTS,
                exc or type(exc).__name__,
            )
            if attempt < PUBLISH_ATTEMPTS:
                await asyncio.sleep(0.25 * attempt)
            continue
        note = " (duplicate, already stored)" if ack.duplicate else ""
        log.info(
            "event %s for %s stored at %s/%d%s", CREATED, account["id"], ack.stream, ack.seq, note
        )
        return
    raise ServiceError("503", "account stored but its event was not published; retry the request")


class Accounts:
    """The endpoint handlers. They count requests in flight, because nats-py's `Service.stop()`
    unsubscribes and so cancels handlers still running: a stop waits for them first."""

    def __init__(self, db: Database, js: JetStreamContext) -> None:
        self.db = db
        self.js = js
        self.in_flight = 0
        self.idle = asyncio.Event()
        self.idle.set()

    def tracked(self, handler: Handler) -> Handler:
        async def run(request: Request) -> None:
            self.in_flight += 1
            self.idle.clear()
            try:
                await handler(request)
            finally:
                self.in_flight -= 1
                if not self.in_flight:
                    self.idle.set()

        return run

    async def create(self, request: Request) -> None:
        email = parse_email(request.data)
        try:
            account = await store.create(self.db, email)
        except psycopg.Error as exc:
            log.error("create failed in PostgreSQL: %s", exc)
            raise ServiceError("503", "database unavailable") from None
        await publish_created(self.js, account)
        await request.respond(json.dumps(account).encode())

    async def get(self, request: Request) -> None:
        account_id = parse_id(request.data)
        try:
            account = await store.get(self.db, account_id)
        except psycopg.Error as exc:
            log.error("get failed in PostgreSQL: %s", exc)
            raise ServiceError("503", "database unavailable") from None
        if account is None:
            raise ServiceError("404", "account not found")
        await request.respond(json.dumps(account).encode())


async def main(settings: Settings, stop: asyncio.Event) -> None:
    assert settings.database_url is not None
    db = Database(settings.database_url)
    await db.ensure_schema(store.SCHEMA)
    nc = await connect_nats(settings)
    try:
        accounts = Accounts(db, nc.jetstream())
        endpoints = [
            ("create", "accounts.rpc.create", accounts.tracked(accounts.create)),
            ("get", "accounts.rpc.get", accounts.tracked(accounts.get)),
        ]
        description = "owns accounts; emits accounts.events.created"
        service = await add_service(nc, settings, description, {}, endpoints)
        await stop.wait()
        log.info("stopping: finishing %d request(s) in flight", accounts.in_flight)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(accounts.idle.wait(), STOP_GRACE)
        await service.stop()
    finally:
        await close_nats(nc)
        await db.close()
