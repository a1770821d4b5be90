"""The runtime's overhead: one handler on the runtime against the same handler on bare nats-py.

    .venv/bin/python bench/runtime.py [--messages 20000] [--rounds 3]

A real nats-server (one node, loopback) holds `--messages` JSON events; each side drains them
through a fresh durable pull consumer with explicit acks, the same batch size and the same
handler (decode the JSON, add a number up, and with `--work-ms` await that long, as a handler
that calls a database would). The bare side is nats-py's fetch/ack loop; the
runtime side is `Service` with `@service.consumer`, metrics on (served as Prometheus text), so
its Event, decode, ack, metrics and lag gauge are all counted. Sides alternate, the best round
of each counts (the least disturbed one on a shared machine), and the ratio runtime / bare is
printed, with the median ratio of the paired rounds (each pair ran back to back, under the same
load). The goal is a ratio of at least 0.9. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path

import nats
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig
from nats.js.client import JetStreamContext

from deploykit.local.nats import local_cluster
from deploykit.local.ports import free_ports
from deploykit.manifest.model import ConsumeMode, Role
from deploykit.manifest.wiring import ConsumerWiring, Wiring
from deploykit.runtime import Event, Service
from deploykit.runtime.settings import Exporter, Settings

STREAM, SUBJECT, CONSUMER, BATCH = "BENCH", "bench.in", "work", 64


async def fill(js: JetStreamContext, messages: int) -> None:
    await js.add_stream(StreamConfig(name=STREAM, subjects=["bench.>"]))
    for i in range(messages):
        await js.publish_async(SUBJECT, json.dumps({"n": i, "pad": "x" * 64}).encode())
    await js.publish_async_completed()


async def fresh_consumer(js: JetStreamContext) -> None:
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await js.delete_consumer(STREAM, CONSUMER)
    config = ConsumerConfig(
        durable_name=CONSUMER, ack_policy=AckPolicy.EXPLICIT, max_ack_pending=10_000
    )
    await js.add_consumer(STREAM, config)


async def bare(url: str, messages: int, work: float = 0) -> float:
    nc = await nats.connect(url)
    js = nc.jetstream()
    await fresh_consumer(js)
    sub = await js.pull_subscribe_bind(CONSUMER, stream=STREAM)
    total = handled = 0
    started = time.perf_counter()
    while handled < messages:
        for msg in await sub.fetch(BATCH, timeout=5):
            total += json.loads(msg.data)["n"]
            if work:
                await asyncio.sleep(work)
            await msg.ack()
            handled += 1
    elapsed = time.perf_counter() - started
    await nc.close()
    return messages / elapsed


async def runtime(
    url: str, messages: int, work: float = 0, exporter: Exporter = Exporter.PROMETHEUS
) -> float:
    nc = await nats.connect(url)
    await fresh_consumer(nc.jetstream())
    await nc.close()
    service = Service("bench", batch=BATCH)
    done = asyncio.Event()
    state = {"handled": 0, "total": 0, "started": 0.0}

    @service.consumer(CONSUMER)
    async def handle(event: Event) -> None:
        if not state["handled"]:
            state["started"] = time.perf_counter()
        state["total"] += event.data["n"]
        if work:
            await asyncio.sleep(work)
        state["handled"] += 1
        if state["handled"] == messages:
            done.set()

    wiring = Wiring(
        role=Role.WORKER,
        consumes={
            CONSUMER: ConsumerWiring(stream=STREAM, consumer=CONSUMER, mode=ConsumeMode.QUEUE)
        },
    )
    settings = Settings(
        service="bench",
        nats_urls=[url],
        inbox_prefix="_INBOX_bench",
        wiring=wiring,
        exporter=exporter,
        metrics_addr=("127.0.0.1", free_ports(1)[0]),
    )
    stop = asyncio.Event()
    serving = asyncio.create_task(service.serve(settings, stop))
    await asyncio.wait({serving, asyncio.create_task(done.wait())}, return_when="FIRST_COMPLETED")
    # The first message starts the clock (the bare side's first fetch does too, give or take
    # one round trip); the stop comes after the last one.
    elapsed = time.perf_counter() - state["started"]
    stop.set()
    await serving
    return (messages - 1) / elapsed


async def main(messages: int, rounds: int, exporter: Exporter, work: float) -> None:
    with tempfile.TemporaryDirectory() as tmp, local_cluster(Path(tmp), size=1) as cluster:
        nc = await nats.connect(cluster.url)
        await fill(nc.jetstream(), messages)
        await nc.close()
        best = {"bare": 0.0, "runtime": 0.0}
        ratios = []
        for round_ in range(1, rounds + 1):
            rates = {}
            sides = (("bare", bare), ("runtime", partial(runtime, exporter=exporter)))
            for side, run in sides:
                rates[side] = await run(cluster.url, messages, work)
                best[side] = max(best[side], rates[side])
            ratios.append(rates["runtime"] / rates["bare"])
            print(
                f"round {round_}: bare {rates['bare']:>8,.0f} msg/s, runtime "
                f"{rates['runtime']:>8,.0f} msg/s, ratio {ratios[-1]:.2f}"
            )
    ratio = best["runtime"] / best["bare"]
    print(
        f"queue handler ({work * 1000:g} ms of awaited work), {messages} messages, batch {BATCH}: bare nats-py {best['bare']:,.0f} "
        f"msg/s, runtime {best['runtime']:,.0f} msg/s (best rounds), ratio {ratio:.2f}; "
        f"median of the paired rounds {statistics.median(ratios):.2f} (goal >= 0.9)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--metrics",
        choices=[e.value for e in Exporter],
        default=Exporter.PROMETHEUS.value,
        help="the runtime side's exporter (none: metrics off, to see what they cost)",
    )
    parser.add_argument(
        "--work-ms",
        type=float,
        default=0,
        help="milliseconds each handler awaits (a database call, say); 0: the bare minimum",
    )
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.rounds, Exporter(args.metrics), args.work_ms / 1000))
