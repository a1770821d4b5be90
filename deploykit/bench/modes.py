"""One function per client role, run inside a worker process: set up, report ready, wait
for "go", run the load until `count` operations or `duration` seconds, return a Tally.

The loops are kept as bare as the nats-py (or psycopg) loop a person would write to measure
the same thing, so that what bench adds is a deadline check, a progress report a few times a
second and, where the figure has one, a latency sample per operation. `bench/bus.py` compares
each of them with such a bare loop.
"""

from __future__ import annotations

import asyncio
import random
from array import array
from collections import deque
from collections.abc import Awaitable, Callable
from functools import partial
from time import perf_counter
from typing import Any

import nats
import psycopg
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.micro import add_service
from nats.micro.request import Request
from psycopg import sql

from deploykit.bench.jobs import Job, Role, Tally
from deploykit.bench.link import Link
from deploykit.bench.settings import SERVICE_NAME, Target
from deploykit.bench.stats import pack
from deploykit.laws.natsapi import API

__all__ = ["ROLES", "Run"]

Run = Callable[[Link, Target, Job], Awaitable[Tally]]

CHECK_EVERY = 255  # mask: fast loops look at the clock every 256 operations
SAMPLE_EVERY = 7  # mask: js-pub-async times the acknowledgement of every 8th message
DRAIN = 2.0  # seconds a subscriber waits for a message before it counts the rest as lost
FINISH = 30.0  # seconds to flush or to collect outstanding acknowledgements


async def _connect(link: Link, target: Target, job: Job) -> Client:
    return await nats.connect(error_cb=link.error, **target.nats_options(job.index))


async def publish(link: Link, target: Target, job: Job) -> Tally:
    nc = await _connect(link, target, job)
    payload, subject, send = bytes(job.size), job.subject, nc.publish
    start = await link.ready()
    deadline, sent, cut = start + job.duration, 0, False
    while sent < job.count and not cut:
        await send(subject, payload)
        sent += 1
        if not sent & CHECK_EVERY:
            now = perf_counter()
            link.progress(sent, now)
            cut = now >= deadline
    await nc.flush(timeout=FINISH)  # type: ignore[arg-type]  # nats-py annotates int, takes seconds as float
    end = perf_counter()
    await nc.close()
    return link.tally(job, sent, start, end, cut=cut)


async def subscribe(link: Link, target: Target, job: Job) -> Tally:
    """Counts messages from the first to the last (as `nats bench sub` does) until the runner
    says how many were sent and that many arrived, or none came for DRAIN seconds."""
    nc = await _connect(link, target, job)
    received, first, last, goal = 0, 0.0, 0.0, -1
    complete = asyncio.Event()

    async def on_message(_: Msg) -> None:
        nonlocal received, first, last
        last = perf_counter()
        if not received:
            first = last
        received += 1
        if received == goal:
            complete.set()
        elif not received & CHECK_EVERY:
            link.progress(received, last)

    limit = max(512 * 1024, job.count + 1)
    await nc.subscribe(job.subject, cb=on_message, pending_msgs_limit=limit, pending_bytes_limit=-1)
    await nc.flush()
    await link.ready()
    goal = await link.expect()
    seen = -1
    while received < goal and received != seen:
        seen = received
        try:
            await asyncio.wait_for(complete.wait(), DRAIN)
        except TimeoutError:
            continue
    await nc.close()
    lost = max(goal - received, 0)
    return link.tally(
        job, received, first, last, errors=lost, error=f"{lost} message(s) lost" if lost else ""
    )


async def respond(link: Link, target: Target, job: Job) -> Tally:
    """A NATS Service (micro) echoing each request, in the queue group every instance shares."""
    nc = await _connect(link, target, job)
    handled = 0

    async def echo(request: Request) -> None:
        nonlocal handled
        handled += 1
        await request.respond(request.data)

    service = await add_service(nc, name=SERVICE_NAME, version="1.0.0")
    await service.add_endpoint(name="echo", subject=job.subject, handler=echo)
    await nc.flush()
    start = await link.ready()
    await link.stopped()
    end = perf_counter()
    await service.stop()
    await nc.close()
    return link.tally(job, handled, start, end)


async def request(link: Link, target: Target, job: Job) -> Tally:
    """`concurrency` requesters, each waiting for its reply before the next request. A reply
    with a Status header (no message, no responders) is an error."""
    nc = await _connect(link, target, job)
    payload, subject, ask = bytes(job.size), job.subject, nc.request
    latencies = array("d")
    record = latencies.append
    issued, done, errors, first_error, cut = 0, 0, 0, "", False
    start = await link.ready()
    deadline = start + job.duration

    async def requester() -> None:
        nonlocal issued, done, errors, first_error, cut
        while issued < job.count and not cut:
            issued += 1
            t0 = perf_counter()
            try:
                reply = await ask(subject, payload, timeout=5)
            except Exception as exc:  # a timeout or no responders: count it, go on
                errors += 1
                first_error = first_error or f"{type(exc).__name__}: {exc}"
                continue
            t1 = perf_counter()
            if reply.headers and reply.headers.get("Status"):
                errors += 1
                first_error = first_error or f"reply status {reply.headers['Status']}"
                continue
            record(t1 - t0)
            done += 1
            link.progress(done, t1)
            cut = t1 >= deadline

    await asyncio.gather(*(requester() for _ in range(job.concurrency)))
    end = perf_counter()
    await nc.close()
    return link.tally(
        job, done, start, end, errors=errors, error=first_error, latencies=pack(latencies), cut=cut
    )


async def js_publish(link: Link, target: Target, job: Job) -> Tally:
    """Synchronous JetStream publish: each publish waits for its PubAck."""
    nc = await _connect(link, target, job)
    js = nc.jetstream(timeout=5)
    payload, subject = bytes(job.size), job.subject
    return await _timed_loop(link, job, nc, lambda _: js.publish(subject, payload))


async def js_publish_async(link: Link, target: Target, job: Job) -> Tally:
    """Windowed asynchronous publish: at most `concurrency` PubAcks outstanding (nats-py's
    publish_async). Every PubAck is counted, from a queue of futures swept as the loop goes;
    the latency (publish to PubAck) is sampled on every 8th message, because a callback on
    every future costs the loop about a tenth of its rate."""
    nc = await _connect(link, target, job)
    js = nc.jetstream(timeout=5, publish_async_max_pending=job.concurrency)
    payload, subject, send = bytes(job.size), job.subject, js.publish_async
    latencies = array("d")
    record = latencies.append
    futures: deque[asyncio.Future[Any]] = deque()
    keep = futures.append
    acked, failed, first_error = 0, 0, ""

    def on_ack(t0: float, future: asyncio.Future[Any]) -> None:
        if not future.cancelled() and future.exception() is None:
            record(perf_counter() - t0)

    def sweep(everything: bool = False) -> None:
        nonlocal acked, failed, first_error
        while futures and (everything or futures[0].done()):
            future = futures.popleft()
            if not future.done() or future.cancelled() or future.exception() is not None:
                failed += 1
                first_error = first_error or (
                    repr(future.exception())
                    if future.done() and not future.cancelled()
                    else "no acknowledgement"
                )
            else:
                acked += 1

    start = await link.ready()
    deadline, sent, cut = start + job.duration, 0, False
    while sent < job.count and not cut:
        future = await send(subject, payload)
        sent += 1
        keep(future)
        if not sent & SAMPLE_EVERY:
            future.add_done_callback(partial(on_ack, perf_counter()))
        if not sent & CHECK_EVERY:
            sweep()
            now = perf_counter()
            link.progress(acked, now)
            cut = now >= deadline
    try:
        await asyncio.wait_for(js.publish_async_completed(), FINISH)
    except TimeoutError:
        first_error = first_error or "acknowledgements still outstanding"
    end = perf_counter()
    sweep(everything=True)
    await nc.close()
    return link.tally(
        job,
        acked,
        start,
        end,
        errors=failed,
        error=first_error,
        latencies=pack(latencies),
        cut=cut,
    )


async def js_pull(link: Link, target: Target, job: Job) -> Tally:
    """Fetch batches from a durable pull consumer shared by every client, acking each message,
    until the consumer has nothing pending (or `count`, or the deadline). Under `job.api` the
    consumer is another bus's, reached through the imports of its API."""
    nc = await _connect(link, target, job)
    js = nc.jetstream(timeout=5, prefix=job.api or API)
    pull = await js.pull_subscribe_bind(durable=job.consumer, stream=job.stream)
    received, last, cut = 0, 0.0, False
    start = await link.ready()
    deadline = start + job.duration
    while received < job.count and not cut:
        try:
            batch = await pull.fetch(job.concurrency, timeout=1)
        except TimeoutError:
            if not (await pull.consumer_info()).num_pending:
                break
            cut = perf_counter() >= deadline
            continue
        for message in batch:
            await message.ack()
        received += len(batch)
        last = perf_counter()
        link.progress(received, last)
        cut = last >= deadline
    await nc.flush(timeout=FINISH)  # type: ignore[arg-type]  # nats-py annotates int, takes seconds as float
    await nc.close()
    return link.tally(job, received, start, last or start, cut=cut)


async def js_ordered(link: Link, target: Target, job: Job) -> Tally:
    """An ordered consumer of its own over the stream's bench messages, read to the end."""
    nc = await _connect(link, target, job)
    js = nc.jetstream(timeout=5)
    received, last = 0, 0.0
    complete = asyncio.Event()

    async def on_message(_: Msg) -> None:
        nonlocal received, last
        received += 1
        last = perf_counter()
        if received >= job.count:
            complete.set()
        elif not received & CHECK_EVERY:
            link.progress(received, last)

    start = await link.ready()
    sub = await js.subscribe(job.subject, stream=job.stream, ordered_consumer=True, cb=on_message)
    try:
        await asyncio.wait_for(complete.wait(), job.duration)
    except TimeoutError:
        cut = True
    else:
        cut = False
    await sub.unsubscribe()
    await nc.close()
    return link.tally(job, received, start, last or start, cut=cut)


async def kv_put(link: Link, target: Target, job: Job) -> Tally:
    nc = await _connect(link, target, job)
    kv = await nc.jetstream(timeout=5).key_value(job.bucket)
    keys = [f"{job.subject}.{k}" for k in range(job.keys)]
    payload, put = bytes(job.size), kv.put
    return await _timed_loop(link, job, nc, lambda i: put(keys[i % len(keys)], payload))


async def kv_get(link: Link, target: Target, job: Job) -> Tally:
    nc = await _connect(link, target, job)
    kv = await nc.jetstream(timeout=5).key_value(job.bucket)
    keys = [f"{job.subject}.{k}" for k in range(job.keys)]
    get, pick = kv.get, random.Random(job.index).choice
    return await _timed_loop(link, job, nc, lambda _: get(pick(keys)))


async def _timed_loop(
    link: Link, job: Job, nc: Client, operation: Callable[[int], Awaitable[object]]
) -> Tally:
    """One awaited operation after another, each timed; a failed one is counted, not fatal."""
    latencies = array("d")
    record = latencies.append
    done, errors, first_error, cut = 0, 0, "", False
    start = await link.ready()
    deadline = start + job.duration
    while done + errors < job.count and not cut:
        t0 = perf_counter()
        try:
            await operation(done)
        except Exception as exc:
            errors += 1
            first_error = first_error or f"{type(exc).__name__}: {exc}"
            continue
        t1 = perf_counter()
        record(t1 - t0)
        done += 1
        link.progress(done, t1)
        cut = t1 >= deadline
    end = perf_counter()
    await nc.close()
    return link.tally(
        job, done, start, end, errors=errors, error=first_error, latencies=pack(latencies), cut=cut
    )


async def db_insert(link: Link, target: Target, job: Job) -> Tally:
    """One autocommitted insert per transaction into the run's own table."""
    statement = sql.SQL("insert into {} (client, n, payload) values (%s, %s, %s)")
    payload = bytes(job.size)
    return await _database(
        link,
        target,
        job,
        statement,
        lambda cur, query, i: cur.execute(query, (job.index, i, payload)),
    )


async def db_select(link: Link, target: Target, job: Job) -> Tally:
    """One autocommitted primary-key select per transaction, of a random seeded row."""
    statement = sql.SQL("select payload from {} where id = %s")
    pick = random.Random(job.index).randint

    def select(cur: psycopg.Cursor[Any], query: str, _: int) -> None:
        if cur.execute(query, (pick(1, job.keys),)).fetchone() is None:
            raise LookupError("a seeded row was not found")

    return await _database(link, target, job, statement, select)


async def _database(
    link: Link,
    target: Target,
    job: Job,
    statement: sql.SQL,
    operation: Callable[[psycopg.Cursor[Any], str, int], object],
) -> Tally:
    """psycopg's plain synchronous loop, in a thread so that the worker's loop stays free.

    `statement` names the run's table ({}); it is composed into a string once, before the
    loop, as a bare loop holds its query: psycopg composes an `sql.Composed` again on every
    execute (quoting the table name through libpq each time), a few percent of db-select's
    rate on one connection."""
    if target.database_url is None:
        raise RuntimeError("no database URL")
    url = target.database_url.get_secret_value()
    conn: psycopg.Connection[tuple[Any, ...]] = await asyncio.to_thread(
        lambda: psycopg.connect(url, autocommit=True)
    )
    query = statement.format(sql.Identifier(job.subject)).as_string(conn)
    start = await link.ready()

    def loop() -> Tally:
        latencies = array("d")
        record = latencies.append
        done, errors, first_error, cut = 0, 0, "", False
        deadline = start + job.duration
        with conn, conn.cursor() as cur:
            while done + errors < job.count and not cut:
                t0 = perf_counter()
                try:
                    operation(cur, query, done)
                except (psycopg.Error, LookupError) as exc:
                    errors += 1
                    first_error = first_error or f"{type(exc).__name__}: {exc}"
                    continue
                t1 = perf_counter()
                record(t1 - t0)
                done += 1
                link.progress(done, t1)
                cut = t1 >= deadline
        return link.tally(
            job,
            done,
            start,
            perf_counter(),
            errors=errors,
            error=first_error,
            latencies=pack(latencies),
            cut=cut,
        )

    return await asyncio.to_thread(loop)


ROLES: dict[Role, Run] = {
    Role.PUBLISH: publish,
    Role.SUBSCRIBE: subscribe,
    Role.RESPOND: respond,
    Role.REQUEST: request,
    Role.JS_PUBLISH: js_publish,
    Role.JS_PUBLISH_ASYNC: js_publish_async,
    Role.JS_PULL: js_pull,
    Role.JS_ORDERED: js_ordered,
    Role.KV_PUT: kv_put,
    Role.KV_GET: kv_get,
    Role.DB_INSERT: db_insert,
    Role.DB_SELECT: db_select,
}
