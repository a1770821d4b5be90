"""Each accounts.events.created becomes a row in `welcomes` and one accounts.events.welcomed.

Delivery is at least once (a crash before the ack redelivers), so both effects are idempotent:
the row is `INSERT ... ON CONFLICT DO NOTHING` on the account id, and the follow-up event carries
`Nats-Msg-Id: welcomed-<account id>`, which the stream stores once within its duplicate window.
The ack comes last. The consumer is durable and shared by all replicas; the reconciler creates
it, this worker only binds to it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Sequence

import nats.errors
import nats.js.errors
import psycopg
from nats.aio.msg import Msg
from nats.js.client import JetStreamContext

from apps.runtime import Database, Fatal, Settings, add_service, close_nats, connect_nats, consume

log = logging.getLogger("apps.welcome")

STREAM = "ACCOUNTS"
CONSUMER = "welcome"
WELCOMED = "accounts.events.welcomed"

SCHEMA = """
CREATE TABLE IF NOT EXISTS welcomes (
    account_id uuid PRIMARY KEY,
    email text NOT NULL,
    welcomed_at timestamptz NOT NULL DEFAULT now()
)
"""
INSERT = "INSERT INTO welcomes (account_id, email) VALUES (%s, %s) ON CONFLICT DO NOTHING"


class Welcome:
    def __init__(self, db: Database, js: JetStreamContext) -> None:
        self.db = db
        self.js = js

    async def handle(self, msgs: Sequence[Msg]) -> None:
        for msg in msgs:
            await self.welcome(msg)

    async def welcome(self, msg: Msg) -> None:
        seq = msg.metadata.sequence.stream
        try:
            event = json.loads(msg.data)
            account_id, email = uuid.UUID(event["id"]), str(event["email"])
        except (ValueError, KeyError, TypeError):
            log.error("event %s/%d is not an account, dropping it", STREAM, seq)
            await msg.term()
            return
        try:
            new = await self.db.execute(INSERT, (account_id, email))
            payload = json.dumps({"id": str(account_id), "email": email}).encode()
            headers = {"Nats-Msg-Id": f"welcomed-{account_id}"}
            ack = await self.js.publish(WELCOMED, payload, headers=headers)
        except (psycopg.Error, nats.errors.Error) as exc:
            log.warning("event %s/%d failed, redelivering later: %s", STREAM, seq, exc)
            await msg.nak(delay=1)
            return
        await msg.ack()
        what = "welcomed" if new else "already welcomed (redelivery)"
        dup = ", duplicate event dropped by the stream" if ack.duplicate else ""
        log.info("account %s %s; %s at %s/%d%s", account_id, what, WELCOMED, STREAM, ack.seq, dup)


async def main(settings: Settings, stop: asyncio.Event) -> None:
    assert settings.database_url is not None
    db = Database(settings.database_url)
    await db.ensure_schema(SCHEMA)
    nc = await connect_nats(settings)
    try:
        js = nc.jetstream()
        sub = await bind(js)
        metadata = {"stream": STREAM, "consumer": CONSUMER}
        await add_service(nc, settings, "welcomes each new account, once", metadata)
        await consume(sub, stop, Welcome(db, js).handle)
    finally:
        await close_nats(nc)
        await db.close()


async def bind(js: JetStreamContext) -> JetStreamContext.PullSubscription:
    """The existing queue consumer: the reconciler creates it, this worker never does."""
    try:
        await js.consumer_info(STREAM, CONSUMER)
    except nats.js.errors.NotFoundError:
        raise Fatal(
            f"consumer {STREAM}/{CONSUMER} does not exist: it is created with the JetStream "
            "definitions (deploykit dev up, or the stack's reconcile), not by this worker"
        ) from None
    return await js.pull_subscribe_bind(CONSUMER, stream=STREAM)
