"""What message contracts cost: the runtime's emit and consume rates with and without a schema.

    .venv/bin/python bench/contracts.py [--messages 5000] [--rounds 3]

A real nats-server (one node, loopback) with one stream. Each side is the kit's `Service`, the
same code, told by its wiring whether the subject has a contract:

- emit: `service.emit(subject, payload, id=...)` one after another, each awaiting its ack
  (what an RPC handler does), so the encode and the schema check are in the measured path; the
  two sides serve at once and take turns, a chunk of emits each;
- consume: a queue consumer drains the stream (explicit acks, batch 64), decoding each message
  and, with the contract, judging it; "typed" also parses it into the generated pydantic model
  (`Event[Model]`).

The payload is a typical event: eight fields, a UUID, a date-time, an enum, a number and a
small array of objects, under a schema that checks all of them (formats included). The best
round of each side counts (the least disturbed one on a shared machine), and the ratio with /
without is printed, with the median of the paired rounds; then the codec's CPU cost per message
alone, without the network's noise. The goal is a ratio of at least 0.8. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import statistics
import sys
import tempfile
import time
import timeit
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
from jsonschema.validators import Draft202012Validator
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

from deploykit.local.nats import local_cluster
from deploykit.local.ports import free_ports
from deploykit.manifest.model import ConsumeMode, Role
from deploykit.manifest.wiring import ConsumerWiring, Wiring
from deploykit.runtime import Event, Service
from deploykit.runtime.codegen import load_models
from deploykit.runtime.payloads import ContractCodec
from deploykit.runtime.settings import Exporter, Settings

STREAM, SUBJECT, CONSUMER, BATCH = "ORDERS", "orders.events.placed", "work", 64
CHUNK = 250  # emits a side makes before the other takes its turn
WITHOUT, WITH, TYPED = "without schema", "with schema", "schema + typed model"

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "account", "placed_at", "currency", "total", "lines"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "account": {"type": "string", "format": "uuid"},
        "email": {"type": "string", "maxLength": 254},
        "placed_at": {"type": "string", "format": "date-time"},
        "currency": {"enum": ["EUR", "USD", "GBP"]},
        "total": {"type": "number", "minimum": 0},
        "lines": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["sku", "quantity"],
                "properties": {
                    "sku": {"type": "string", "maxLength": 40},
                    "quantity": {"type": "integer", "minimum": 1},
                },
            },
        },
        "note": {"type": ["string", "null"]},
    },
}

Placed = load_models({SUBJECT: {"schema": SCHEMA}})["OrdersEventsPlaced"]


def payload(n: int) -> dict[str, Any]:
    return {
        "id": str(uuid.UUID(int=n)),
        "account": "6f1c2a7e-3b9d-4c1e-9a2f-0d8e5b7c4a31",
        "email": "someone@example.com",
        "placed_at": "2026-12-06T07:00:00Z",
        "currency": "EUR",
        "total": 42.5,
        "lines": [{"sku": "A-100", "quantity": 2}, {"sku": "B-7", "quantity": 1}],
        "note": None,
    }


def wiring(contract: bool, consume: bool) -> Wiring:
    consumes = {CONSUMER: ConsumerWiring(stream=STREAM, consumer=CONSUMER, mode=ConsumeMode.QUEUE)}
    return Wiring(
        role=Role.WORKER,
        emits=[] if consume else [SUBJECT],
        consumes=consumes if consume else {},
        contracts={SUBJECT: {"version": 1, "schema": SCHEMA}} if contract else {},
    )


def settings(url: str, wired: Wiring) -> Settings:
    return Settings(
        service="bench",
        nats_urls=[url],
        inbox_prefix="_INBOX_bench",
        wiring=wired,
        exporter=Exporter.PROMETHEUS,
        metrics_addr=("127.0.0.1", free_ports(1)[0]),
    )


@contextlib.asynccontextmanager
async def served(service: Service, wired: Settings) -> AsyncIterator[Service]:
    """`service` serving until the block ends."""
    stop = asyncio.Event()
    task = asyncio.create_task(service.serve(wired, stop))
    ready = asyncio.create_task(service.ready.wait())
    await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()
    try:
        yield service
    finally:
        stop.set()
        await task


async def emit_rates(url: str, messages: int) -> dict[str, float]:
    """Both sides serve at once and take turns, a chunk of emits each, so a change in the
    machine's load falls on both alike."""
    data = [payload(n) for n in range(messages)]
    elapsed = {WITHOUT: 0.0, WITH: 0.0}
    async with contextlib.AsyncExitStack() as stack:
        sides = {
            side: await stack.enter_async_context(
                served(Service("bench"), settings(url, wiring(side == WITH, consume=False)))
            )
            for side in elapsed
        }
        for start in range(0, messages, CHUNK):
            order = list(sides) if start % (2 * CHUNK) == 0 else list(reversed(sides))
            for side in order:
                service = sides[side]
                began = time.perf_counter()
                for item in data[start : start + CHUNK]:
                    await service.emit(SUBJECT, item, id=uuid.uuid4().hex)
                elapsed[side] += time.perf_counter() - began
    return {side: messages / seconds for side, seconds in elapsed.items()}


def cpu_costs() -> dict[str, float]:
    """Microseconds per message of the codec alone (no network): decode without and with the
    contract, with the typed model, and what the pure-Python validator would add."""
    plain = Service("cpu").codec
    judged = ContractCodec(wiring(True, consume=False))
    data = plain.encode(SUBJECT, payload(1))
    python = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
    value = payload(1)
    runs = {
        "decode": lambda: plain.decode(SUBJECT, data),
        "decode + contract": lambda: judged.decode(SUBJECT, data),
        "decode + contract + model": lambda: Placed.model_validate(judged.decode(SUBJECT, data)),
        "pure-Python jsonschema alone": lambda: list(python.iter_errors(value)),
    }
    return {
        what: min(timeit.repeat(run, number=2000, repeat=5)) / 2000 * 1e6
        for what, run in runs.items()
    }


async def consume_rate(url: str, messages: int, contract: bool, typed: bool) -> float:
    nc = await nats.connect(url)
    js = nc.jetstream()
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await js.delete_consumer(STREAM, CONSUMER)
    config = ConsumerConfig(
        durable_name=CONSUMER, ack_policy=AckPolicy.EXPLICIT, max_ack_pending=10_000
    )
    await js.add_consumer(STREAM, config)
    await nc.close()
    service = Service("bench", batch=BATCH)
    done = asyncio.Event()
    state = {"handled": 0, "started": 0.0}

    def count() -> None:
        if not state["handled"]:
            state["started"] = time.perf_counter()
        state["handled"] += 1
        if state["handled"] == messages:
            done.set()

    if typed:

        @service.consumer(CONSUMER)
        async def parsed(event: Event[Placed]) -> None:
            count()

    else:

        @service.consumer(CONSUMER)
        async def plain(event: Event) -> None:
            count()

    async def body() -> float:
        await done.wait()
        # The first message starts the clock; the last one stops it.
        return (messages - 1) / (time.perf_counter() - state["started"])

    async with served(service, settings(url, wiring(contract, consume=True))):
        return await body()


async def fill(url: str, messages: int) -> None:
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name=STREAM, subjects=["orders.>"], duplicate_window=1))
    await js.purge_stream(STREAM)
    codec = Service("fill").codec
    for n in range(messages):
        await js.publish_async(SUBJECT, codec.encode(SUBJECT, payload(n)))
    await js.publish_async_completed()
    await nc.close()


def report(what: str, rounds: list[dict[str, float]], sides: list[str]) -> None:
    """Best rates (the least disturbed round), their ratio to no schema, and the median ratio
    of the paired rounds (each pair ran back to back)."""
    best = {side: max(r[side] for r in rounds) for side in [WITHOUT, *sides]}
    parts = [f"{WITHOUT} {best[WITHOUT]:,.0f}/s"]
    for side in sides:
        ratio = best[side] / best[WITHOUT]
        median = statistics.median(r[side] / r[WITHOUT] for r in rounds)
        parts.append(f"{side} {best[side]:,.0f}/s, ratio {ratio:.2f} (median {median:.2f})")
    print(f"{what}: " + "; ".join(parts) + " (goal >= 0.8)")


async def main(messages: int, rounds: int) -> None:
    logging.getLogger("deploykit.runtime").setLevel(logging.ERROR)  # each stop logs a disconnect
    with tempfile.TemporaryDirectory() as tmp, local_cluster(Path(tmp), size=1) as cluster:
        url = cluster.url
        emits: list[dict[str, float]] = []
        consumes: list[dict[str, float]] = []
        for n in range(1, rounds + 1):
            await fill(url, messages)
            kinds = [WITHOUT, WITH, TYPED]
            rates = {}
            for kind in kinds[n % 3 :] + kinds[: n % 3]:  # each goes first in turn
                rates[kind] = await consume_rate(url, messages, kind != WITHOUT, kind == TYPED)
            consumes.append(rates)
            emits.append(await emit_rates(url, messages))
            shown = [f"{k} {v:,.0f}/s" for k, v in {**emits[-1]}.items()]
            shown2 = [f"{k} {consumes[-1][k]:,.0f}/s" for k in kinds]
            print(
                f"round {n}: emit {', '.join(shown)}; consume {', '.join(shown2)}", file=sys.stderr
            )
    fields = len(SCHEMA["properties"])
    print(f"{messages} messages of a typical event ({fields} fields) a round, {rounds} rounds:")
    report("emit (awaited acks, sides taking turns)", emits, [WITH])
    report("consume (queue, batch 64)", consumes, [WITH, TYPED])
    costs = cpu_costs()
    print("CPU per message, codec alone: " + ", ".join(f"{k} {v:.1f} µs" for k, v in costs.items()))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.rounds))
