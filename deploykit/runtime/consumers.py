"""Consumers: the queue consumer (one durable pull consumer shared by every instance, explicit
ack) and the fanout consumer (one ephemeral consumer per instance, ack none, warm-up gate).

Queue: the reconciler creates the consumer; an instance only binds to it (`Fatal` if missing).
Each message is handled once at a time; the handler's emits are published (awaited acks) after
it returns and before the message is acknowledged. A handler that raises gets the message
again later (nak with a growing delay); after its last delivery (`max_deliver`) the message
goes to the consumer's `dead_letter` subject when the manifest names one (with the failure in
headers), and is terminated either way, so it is never lost silently nor retried forever.

Idempotency: a crash (kill -9) between any two steps redelivers the message after `ack_wait`,
so the handler runs again. Its effects must be idempotent (`INSERT ... ON CONFLICT`, upserts),
and its emits are: each carries a `Nats-Msg-Id` derived from the triggering message
(`<consumer>:<stream>:<stream seq>:<n>`, n counting the handler's emits) unless the handler
names one (`id=`, e.g. the business key `welcomed-<account id>`), so the stream stores it once
within its duplicate window. A key of the handler's own also de-duplicates the same business
event arriving twice as different messages.

A stream on another bus (`wiring.api`, e.g. the billing bus's worker on the core bus's stream) is
bound and read through the JetStream API that bus exports; emits and dead letters still go to
the service's own bus.

Fanout: each instance creates `<consumer>-<instance id>` (deliver all when it warms up, else
new only), notes how many messages it has to replay (everything the stream held at that
moment) and the service joins discovery only after the handler has applied them. Delivery is
in stream order, so the handler sees every historical message before any live one. A fanout
handler never emits (law F); an error is logged and counted, and the instance goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Generic

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext
from typing_extensions import TypeVar

from deploykit.manifest import naming
from deploykit.manifest.kinds import ConsumeMode
from deploykit.manifest.wiring import ConsumerWiring
from deploykit.runtime.emit import HANDLER_EMIT_BOUND, publish
from deploykit.runtime.errors import EmitFailed, Fatal
from deploykit.runtime.metrics import Metrics
from deploykit.runtime.payloads import Codec, PayloadError
from deploykit.runtime.typed import parser_for

__all__ = ["Event", "FanoutConsumer", "Handler", "QueueConsumer"]

log = logging.getLogger("deploykit.runtime")

FETCH_WAIT = 1.0  # seconds a fetch waits for messages before it checks for a stop
NAK_DELAY_MAX = 30.0
CREATE_WITHIN = 30.0  # seconds a fanout consumer's creation is asked again while unanswered

T = TypeVar("T", default=Any)


class Event(Generic[T]):
    """One message as a handler sees it. `emit` (queue consumers only) queues an event that the
    runtime publishes after the handler returns and before the ack. A handler that annotates
    `Event[Model]` gets `data` parsed into `Model` (see `typed.py`)."""

    __slots__ = (
        "_codec",
        "_emits",
        "_queue",
        "data",
        "delivered",
        "headers",
        "msg",
        "pending",
        "seq",
        "subject",
    )

    def __init__(self, msg: Msg, data: T, codec: Codec, queue: bool) -> None:
        self.msg = msg
        self.subject = msg.subject
        self.data: T = data
        self.headers = msg.headers or {}
        self.delivered, self.seq, self.pending = position(msg)
        self._codec = codec
        self._queue = queue
        self._emits: list[tuple[str, bytes, str | None]] = []

    @property
    def redelivered(self) -> bool:
        return self.delivered > 1

    def emit(self, subject: str, payload: Any, id: str | None = None) -> None:
        if not self._queue:
            raise RuntimeError(
                "a fanout handler never emits (law F): every instance would emit it again; "
                "emit from a queue consumer"
            )
        self._emits.append((subject, self._codec.encode(subject, payload), id))


Handler = Callable[[Event[Any]], Awaitable[None]]


def msg_seq(msg: Msg) -> int:
    return position(msg)[1]


def position(msg: Msg) -> tuple[int, int, int]:
    """(deliveries, stream sequence, pending) from the ack subject. The common form is read
    directly: nats-py's full metadata also builds a datetime, a cost on every message."""
    tokens = (msg.reply or "").split(".")
    if len(tokens) == 9:  # $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>
        return int(tokens[4]), int(tokens[5]), int(tokens[8])
    meta = msg.metadata
    return meta.num_delivered, meta.sequence.stream, meta.num_pending


class _Consumer:
    def __init__(
        self,
        wiring: ConsumerWiring,
        handler: Handler,
        js: JetStreamContext,
        metrics: Metrics,
        codec: Codec,
        check_emit: Callable[[str], None],
        source: JetStreamContext | None = None,
    ) -> None:
        self.wiring = wiring
        self.handler = handler
        self.parse = parser_for(handler, Event)
        self.js = js  # the service's own bus: emits and dead letters
        self.source = source or js  # the stream's bus: the consumer itself
        self.metrics = metrics
        self.codec = codec
        self.check_emit = check_emit
        self.name = wiring.consumer
        self.sub: JetStreamContext.PullSubscription | None = None
        self.in_flight = 0

    async def run(self, stop: asyncio.Event, batch: int) -> None:
        """Fetch and handle until `stop`; messages fetched but not begun go back (nak)."""
        assert self.sub is not None
        missing = 0
        try:
            while not stop.is_set():
                try:
                    msgs = await self.sub.fetch(batch, timeout=FETCH_WAIT)
                except TimeoutError:  # nats-py raises both its own and asyncio's
                    continue
                except nats.js.errors.ServiceUnavailableError:
                    missing += 1
                    if missing >= 3:
                        raise Fatal(
                            f"consumer {self.wiring.stream}/{self.name} no longer answers"
                        ) from None
                    await asyncio.sleep(1)
                    continue
                except nats.errors.ConnectionClosedError:
                    return
                except nats.errors.Error as exc:
                    log.warning("fetch %s: %s", self.name, exc or type(exc).__name__)
                    await asyncio.sleep(1)
                    continue
                missing = 0
                for index, msg in enumerate(msgs):
                    if stop.is_set():
                        await self.give_back(msgs[index:])
                        break
                    self.in_flight = 1
                    try:
                        await self.handle(msg)
                    finally:
                        self.in_flight = 0
                if msgs:
                    self.metrics.lag(self.wiring.stream, self.name, msgs[-1].metadata.num_pending)
                    self.metrics.flush()
        finally:
            # Before the connection drains: draining a pull subscription waits for its pending
            # queue, which fetch never marks done.
            with contextlib.suppress(nats.errors.Error):
                await self.sub.unsubscribe()

    async def give_back(self, msgs: list[Msg]) -> None:
        """Nothing to do without acks; a queue consumer naks them (redelivered at once)."""

    async def handle(self, msg: Msg) -> None:
        raise NotImplementedError

    def event(self, msg: Msg, queue: bool) -> Event[Any]:
        """The message decoded (and judged) by the codec, parsed when the handler names a type."""
        data = self.codec.decode(msg.subject, msg.data)
        return Event(msg, data if self.parse is None else self.parse(data), self.codec, queue)


class QueueConsumer(_Consumer):
    async def bind(self) -> None:
        """The existing consumer: the reconciler creates it, an instance never does."""
        stream, name = self.wiring.stream, self.name
        try:
            await self.source.consumer_info(stream, name)
        except nats.js.errors.NotFoundError:
            raise Fatal(
                f"consumer {stream}/{name} does not exist: it is created with the JetStream "
                "definitions (deploykit dev up, or the stack's reconcile), not by the service"
            ) from None
        self.sub = await self.source.pull_subscribe_bind(name, stream=stream)

    async def give_back(self, msgs: list[Msg]) -> None:
        for msg in msgs:
            with contextlib.suppress(nats.errors.Error):
                await msg.nak()

    async def handle(self, msg: Msg) -> None:
        started = time.perf_counter()
        delivered = position(msg)[0]
        error: str | None = None
        try:
            event = self.event(msg, True)
            await self.handler(event)
            if event._emits:
                await self.publish_emits(event)
        except PayloadError as exc:
            error = "PayloadError"
            await self.last_delivery(msg, f"payload: {exc}")
        except Exception as exc:
            error = type(exc).__name__
            reason = f"{error}: {exc}"
            if 0 < self.wiring.max_deliver <= delivered:
                await self.last_delivery(msg, reason)
            else:
                log.warning(
                    "%s: message %d failed (delivery %d), redelivering: %s",
                    self.name,
                    msg_seq(msg),
                    delivered,
                    reason,
                )
                with contextlib.suppress(nats.errors.Error):
                    await msg.nak(delay=min(0.5 * 2 ** (delivered - 1), NAK_DELAY_MAX))
        else:
            with contextlib.suppress(nats.errors.Error):  # a lost ack is a redelivery
                await msg.ack()
        self.metrics.processed(
            msg.subject, self.name, time.perf_counter() - started, error, delivered > 1
        )

    async def publish_emits(self, event: Event) -> None:
        base = f"{self.name}:{self.wiring.stream}:{event.seq}"
        for n, (subject, data, msg_id) in enumerate(event._emits):
            self.check_emit(subject)
            await publish(
                self.js, self.metrics, subject, data, msg_id or f"{base}:{n}", HANDLER_EMIT_BOUND
            )

    async def last_delivery(self, msg: Msg, reason: str) -> None:
        """Dead-letter (when named) and terminate: no further delivery of this message."""
        seq = msg_seq(msg)
        target = self.wiring.dead_letter
        if target:
            headers = {
                "Deploykit-Stream": self.wiring.stream,
                "Deploykit-Consumer": self.name,
                "Deploykit-Subject": msg.subject,
                "Deploykit-Sequence": str(seq),
                "Deploykit-Error": reason[:400].replace("\n", " "),
            }
            msg_id = f"dead:{self.wiring.stream}:{seq}"
            try:
                await publish(
                    self.js, self.metrics, target, msg.data, msg_id, HANDLER_EMIT_BOUND, headers
                )
            except EmitFailed as exc:  # keep it: a later delivery tries again
                log.error("%s: dead letter for %d not stored: %s", self.name, seq, exc)
                with contextlib.suppress(nats.errors.Error):
                    await msg.nak(delay=NAK_DELAY_MAX)
                return
            log.error("%s: message %d dead-lettered to %s: %s", self.name, seq, target, reason)
        else:
            log.error("%s: message %d dropped after its last delivery: %s", self.name, seq, reason)
        with contextlib.suppress(nats.errors.Error):
            await msg.term()


class FanoutConsumer(_Consumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.warmed = asyncio.Event()
        self.to_replay = 0
        self.replayed = 0
        self.started = time.monotonic()

    async def create(self) -> None:
        stream = self.wiring.stream
        self.name = naming.fanout_consumer_name(self.wiring.consumer, uuid.uuid4().hex[:12])
        config = ConsumerConfig(
            name=self.name,
            deliver_policy=DeliverPolicy.ALL if self.wiring.warmup else DeliverPolicy.NEW,
            ack_policy=AckPolicy.NONE,
            filter_subject=self.wiring.filter,
            inactive_threshold=naming.FANOUT_INACTIVE_THRESHOLD,
        )
        deadline = time.monotonic() + CREATE_WITHIN
        while True:  # unanswered while the stream, created a moment ago, elects its leader
            try:
                info = await self.source.add_consumer(stream, config)
                break
            except nats.js.errors.APIError as exc:
                raise Fatal(
                    f"cannot create consumer {stream}/{self.name}: {exc.description or exc}"
                ) from None
            except nats.errors.TimeoutError:
                if time.monotonic() > deadline:
                    raise Fatal(
                        f"cannot create consumer {stream}/{self.name}: JetStream did not answer "
                        f"within {CREATE_WITHIN:.0f} s"
                    ) from None
                log.warning(
                    "consumer %s/%s: JetStream did not answer; asking again", stream, self.name
                )
        self.to_replay = (info.num_pending or 0) if self.wiring.warmup else 0
        log.info("consumer %s/%s created; %d to replay", stream, self.name, self.to_replay)
        self.sub = await self.source.pull_subscribe_bind(self.name, stream=stream)
        if self.to_replay == 0:
            self.warmed.set()

    async def handle(self, msg: Msg) -> None:
        started = time.perf_counter()
        error: str | None = None
        pending = position(msg)[2]
        try:
            await self.handler(self.event(msg, False))
        except Exception as exc:
            error = type(exc).__name__
            log.error("%s: message %d failed, skipped: %s: %s", self.name, msg_seq(msg), error, exc)
        self.metrics.processed(
            msg.subject, self.wiring.consumer, time.perf_counter() - started, error
        )
        if not self.warmed.is_set():
            self.replayed += 1
            if self.replayed >= self.to_replay or pending == 0:
                log.info(
                    "%s: warm-up done, %d message(s) replayed in %.2fs",
                    self.name,
                    self.replayed,
                    time.monotonic() - self.started,
                )
                self.warmed.set()


def consumer_class(mode: ConsumeMode) -> type[QueueConsumer] | type[FanoutConsumer]:
    return QueueConsumer if mode is ConsumeMode.QUEUE else FanoutConsumer
