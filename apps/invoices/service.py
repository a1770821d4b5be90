"""NATS Service `invoices` on the billing bus: `get` answers on `billing.rpc.invoice`.

The core bus's gateway calls it across buses (an import of exactly this subject). It keeps no
state of its own: the answer names the account and the bus that answered, which is what the
three-bus example shows; an invoice store is the application's business, not the kit's.
"""

from __future__ import annotations

import asyncio
import json
import logging

from nats.micro import Request

from apps.runtime import Settings, add_service, close_nats, connect_nats

log = logging.getLogger("apps.invoices")

SUBJECT = "billing.rpc.invoice"


async def get(request: Request) -> None:
    try:
        account = json.loads(request.data)["account"]
    except (ValueError, KeyError, TypeError):
        await request.respond_error("400", 'expected {"account": "<id>"}')
        return
    await request.respond(json.dumps({"account": account, "bus": "billing"}).encode())


async def main(settings: Settings, stop: asyncio.Event) -> None:
    nc = await connect_nats(settings)
    try:
        service = await add_service(
            nc, settings, "answers invoice requests on the billing bus", {}, [("get", SUBJECT, get)]
        )
        await stop.wait()
        await service.stop()
    finally:
        await close_nats(nc)
