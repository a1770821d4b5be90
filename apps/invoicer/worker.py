"""Queue worker `invoicer` on the billing bus: reads the core bus's ACCOUNTS stream through its
consumer `invoicer`, and for each created account emits `billing.events.invoiced`.

The consumer lives on the core bus (the reconciler of that bus creates it); the billing bus
imports exactly its info, next-message and ack subjects, the API ones under
`deploykit.bus.core.API`, which is the JetStream prefix this worker binds with. Its own events
go to the billing bus's JetStream, as usual.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from apps.runtime import Fatal, Settings, add_service, close_nats, connect_nats, consume
from deploykit.manifest.naming import crossbus_api

log = logging.getLogger("apps.invoicer")

STREAM = "ACCOUNTS"
CONSUMER = "invoicer"
SOURCE_BUS = "core"
INVOICED = "billing.events.invoiced"


class Invoicer:
    def __init__(self, js: JetStreamContext) -> None:
        self.js = js

    async def handle(self, msgs: Sequence[Msg]) -> None:
        for msg in msgs:
            await self.one(msg)

    async def one(self, msg: Msg) -> None:
        try:
            account = json.loads(msg.data)["id"]
        except (ValueError, KeyError, TypeError):
            log.warning("event %s is not an account; acknowledged and skipped", msg.subject)
            await msg.ack()
            return
        payload = json.dumps({"account": account}).encode()
        try:
            await self.js.publish(INVOICED, payload, headers={"Nats-Msg-Id": f"invoiced-{account}"})
        except nats.errors.Error as exc:
            log.warning("invoice of %s failed, redelivering later: %s", account, exc)
            await msg.nak(delay=1)
            return
        await msg.ack()
        log.info("account %s invoiced (%s)", account, INVOICED)


async def main(settings: Settings, stop: asyncio.Event) -> None:
    nc = await connect_nats(settings)
    try:
        source = nc.jetstream(prefix=crossbus_api(SOURCE_BUS))
        try:
            await source.consumer_info(STREAM, CONSUMER)
        except nats.js.errors.NotFoundError:
            raise Fatal(
                f"consumer {STREAM}/{CONSUMER} does not exist on bus {SOURCE_BUS}: it is created "
                "with that bus's JetStream definitions, not by this worker"
            ) from None
        sub = await source.pull_subscribe_bind(CONSUMER, stream=STREAM)
        metadata = {"stream": STREAM, "consumer": CONSUMER, "bus": SOURCE_BUS}
        await add_service(nc, settings, "invoices each new account of the core bus", metadata)
        await consume(sub, stop, Invoicer(nc.jetstream()).handle)
    finally:
        await close_nats(nc)
