"""`python -m deploykit.backup.archiver`: the SQL copy's writer, one process per bus.

Built on the runtime (settings, connection, database, metrics, discovery) and run like a
service: the kit gives it `archiver-<bus>`'s NATS user, the archive database's URL and a
DEPLOYKIT_WIRING whose consumers are its durable `deploykit-archiver` on each archived stream.
Per stream it fetches a batch, inserts it in one transaction (`ON CONFLICT (stream, seq) DO
NOTHING`) and acks the batch only after the commit. A crash (kill -9) anywhere loses nothing:
what was not acked is delivered again after the consumer's ack wait, and what was committed but
not acked is delivered again and skipped by the key. It joins NATS Service discovery as
`archiver-<bus>` once bound to every consumer (ready); SIGTERM finishes the batch in hand.
Batches come through raw pull requests (`_Pull`) rather than the runtime's per-message queue
consumer: a copy is only as fast as its slowest step (`bench/backup.py` measures it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time

import nats.errors
import nats.js.errors
import psycopg
from nats.aio.client import Client
from nats.aio.msg import Msg

from deploykit.backup.archive import Record
from deploykit.backup.reader import ack_fields
from deploykit.backup.sqlcopy import INSERT, batch_of
from deploykit.laws.natsapi import API
from deploykit.runtime import connection, process
from deploykit.runtime.database import Database
from deploykit.runtime.endpoints import register
from deploykit.runtime.errors import Fatal
from deploykit.runtime.metrics import Metrics
from deploykit.runtime.settings import ConfigError, Settings

__all__ = ["BATCH", "archive", "main"]

log = logging.getLogger("deploykit.archiver")

BATCH = 1000  # messages per fetch, per transaction
FETCH_WAIT = 1.0  # seconds a fetch waits for messages before it looks for a stop
RETRY_MAX = 8.0  # seconds between attempts while PostgreSQL refuses a batch


async def archive(settings: Settings, stop: asyncio.Event) -> None:
    """Copy every archived stream of the bus until `stop`."""
    url = settings.require_database()
    metrics = Metrics(settings)
    nc = await connection.connect(settings)
    databases: list[Database] = []
    try:
        tasks = []
        for stream, wiring in settings.wiring.consumes.items():
            sub = await _bind(nc, stream, wiring.consumer)
            database = Database(url, metrics)  # one transaction at a time per connection
            databases.append(database)
            copier = _copy(sub, stream, wiring.consumer, database, metrics, stop)
            tasks.append(asyncio.create_task(copier, name=f"archive {stream}"))
        await register(nc, settings.service, "1.0.0", "deploykit archiver: the SQL copy", {}, [])
        stopping = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({stopping, *tasks}, return_when=asyncio.FIRST_COMPLETED)
        stop.set()
        await asyncio.wait(tasks)
        for task in done - {stopping}:
            task.result()  # a copier that failed (Fatal) ends the process with its error
    finally:
        stop.set()
        await connection.close(nc)
        for database in databases:
            await database.close()
        metrics.shutdown()


class _Pull:
    """Batches from one durable pull consumer through raw `CONSUMER.MSG.NEXT` requests whose
    messages land in a callback: nats-py's `fetch` waits on each message with a task and a
    timeout of its own, which caps a copy at a few thousand messages a second."""

    def __init__(self, nc: Client, stream: str, consumer: str) -> None:
        self.nc = nc
        self.next = f"{API}.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self.inbox = nc.new_inbox()
        self.msgs: list[Msg] = []
        self.wanted = 0
        self.over = asyncio.Event()

    async def start(self) -> None:
        self.sub = await self.nc.subscribe(self.inbox, cb=self._on_message)

    async def _on_message(self, msg: Msg) -> None:
        if msg.reply:  # a message of the stream; a status (404, 408, 409) has no reply
            self.msgs.append(msg)
            if len(self.msgs) < self.wanted:
                return
        self.over.set()

    async def fetch(self, batch: int, wait: float) -> list[Msg]:
        """What is there now (up to `batch`); when nothing is, what arrives within `wait`."""
        now = {"batch": batch, "no_wait": True}
        soon = {"batch": batch, "expires": int(wait * 1e9)}
        for request in (now, soon):
            self.msgs, self.wanted = [], batch
            self.over.clear()
            await self.nc.publish(self.next, json.dumps(request).encode(), reply=self.inbox)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.over.wait(), wait + 2)
            if self.msgs:
                return self.msgs
        return []

    async def close(self) -> None:
        with contextlib.suppress(nats.errors.Error):
            await self.sub.unsubscribe()


async def _bind(nc: Client, stream: str, consumer: str) -> _Pull:
    try:
        await nc.jetstream().consumer_info(stream, consumer)
    except nats.js.errors.NotFoundError:
        raise Fatal(
            f"consumer {stream}/{consumer} does not exist: it is created with the JetStream "
            "definitions when `backup.sql` is on (deploykit dev up, or the stack's reconcile)"
        ) from None
    pull = _Pull(nc, stream, consumer)
    await pull.start()
    return pull


async def _copy(
    pull: _Pull,
    stream: str,
    consumer: str,
    database: Database,
    metrics: Metrics,
    stop: asyncio.Event,
) -> None:
    wait = 0.5
    try:
        while not stop.is_set():
            try:
                msgs = await pull.fetch(BATCH, FETCH_WAIT)
            except nats.errors.ConnectionClosedError:
                return
            except nats.errors.Error as exc:
                log.warning("fetch %s: %s", stream, exc or type(exc).__name__)
                await asyncio.sleep(1)
                continue
            if not msgs:
                continue
            try:
                await _commit(database, metrics, stream, msgs)
            except psycopg.Error as exc:
                log.warning("%s: %d message(s) not stored, retried: %s", stream, len(msgs), exc)
                for msg in msgs:
                    with contextlib.suppress(nats.errors.Error):
                        await msg.nak(delay=wait)
                await asyncio.sleep(wait)
                wait = min(wait * 2, RETRY_MAX)
                continue
            wait = 0.5
            for msg in msgs:  # only now: the rows are committed
                with contextlib.suppress(nats.errors.Error):  # a lost ack is a redelivery
                    await msg.ack()
            metrics.lag(stream, consumer, ack_fields(msgs[-1].reply or "")[2])
            metrics.flush()
    finally:
        await pull.close()


async def _commit(database: Database, metrics: Metrics, stream: str, msgs: list[Msg]) -> None:
    records = []
    for msg in msgs:
        seq, nanos, _ = ack_fields(msg.reply or "")
        records.append(Record(seq, nanos, msg.subject, msg.headers, msg.data))
    started = time.perf_counter()
    conn = await database.connection()
    async with conn.transaction():
        await conn.execute(INSERT, batch_of(stream, records))
    metrics.database("INSERT", time.perf_counter() - started)


def _check(settings: Settings) -> None:
    settings.require_database()
    if not settings.wiring.consumes:
        raise ConfigError("DEPLOYKIT_WIRING: consumes names no stream to archive")


def main() -> None:
    """Archive until SIGTERM/SIGINT (exit 2: bad configuration, 1: cannot run, 0: stopped)."""
    process.run(archive, _check)


if __name__ == "__main__":
    main()
