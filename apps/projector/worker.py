"""Each instance creates its own ephemeral pull consumer `projector-<instance id>` on ACCOUNTS
(deliver all, ack none, inactive threshold from deploykit.manifest.naming), replays the stream into its
read model, and registers the NATS Service `projector` only once it has applied the events that
were pending when it started (warm-up): discovery answering is the readiness signal.

The read model is shown, read-only, in the service's metadata, which every discovery answer
(`$SRV.PING|INFO|STATS.projector`) carries: `accounts`, `welcomed`, `last_seq`, `last_account`
and `consumer` (which names the instance). That needs no NATS rights beyond the discovery subjects every
service already answers.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence

import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext
from nats.micro.service import Service

from apps.projector.model import ReadModel
from apps.runtime import Fatal, Settings, add_service, close_nats, connect_nats, consume
from deploykit.manifest import naming

log = logging.getLogger("apps.projector")

STREAM = "ACCOUNTS"
CONSUMER = "projector"


class Projector:
    def __init__(self, nc: Client, settings: Settings, consumer: str, pending: int) -> None:
        self.nc = nc
        self.settings = settings
        self.model = ReadModel()
        self.pending_at_start = pending
        self.metadata = {"consumer": consumer, **self.model.summary()}
        self.service: Service | None = None
        self.started = time.monotonic()

    async def handle(self, msgs: Sequence[Msg]) -> None:
        for msg in msgs:
            self.model.apply(msg.subject, msg.data, msg.metadata.sequence.stream)
        self.metadata.update(self.model.summary())
        caught_up = msgs[-1].metadata.num_pending == 0
        if self.service is None and (self.model.applied >= self.pending_at_start or caught_up):
            await self.ready()

    async def ready(self) -> None:
        log.info(
            "warm-up done: %d event(s) replayed in %.2fs, %s account(s)",
            self.model.applied,
            time.monotonic() - self.started,
            self.metadata["accounts"],
        )
        description = "in-memory read model of accounts; see metadata"
        self.service = await add_service(self.nc, self.settings, description, self.metadata)


async def main(settings: Settings, stop: asyncio.Event) -> None:
    nc = await connect_nats(settings)
    try:
        name = naming.fanout_consumer_name(CONSUMER, uuid.uuid4().hex[:12])
        pending = await create_consumer(nc.jetstream(), name)
        projector = Projector(nc, settings, name, pending)
        sub = await nc.jetstream().pull_subscribe_bind(name, stream=STREAM)
        if pending == 0:
            await projector.ready()
        await consume(sub, stop, projector.handle, batch=256)
    finally:
        await close_nats(nc)


async def create_consumer(js: JetStreamContext, name: str) -> int:
    """This instance's own consumer; how many events it has to replay before it is ready."""
    config = ConsumerConfig(
        name=name,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.NONE,
        inactive_threshold=naming.FANOUT_INACTIVE_THRESHOLD,
    )
    try:
        info = await js.add_consumer(STREAM, config)
    except nats.js.errors.APIError as exc:
        raise Fatal(f"cannot create consumer {STREAM}/{name}: {exc.description or exc}") from None
    log.info("consumer %s/%s created; replaying %d event(s)", STREAM, name, info.num_pending)
    return info.num_pending
