"""`deploykit bench` against the local stack, each figure beside the same figure measured with
the fewest layers possible, and their ratio.

    .venv/bin/python bench/bus.py [--nodes 3] [--clients N] [--rounds 5] [--mode M ...]
    .venv/bin/python bench/bus.py --outputs FILE      # any target instead of a fresh local stack

The floor of a figure is a bare nats-py (or psycopg) loop in as many processes as bench uses,
as the same smoke user, on subjects, keys and a table of its own, started together behind a
barrier and added up the same way (all operations over the span from the first start to the
last end). bench runs as the user runs it (`deploykit bench --json`), one mode at a time with
a fixed message count, so both sides do the same work. Each side runs `--rounds` times,
alternating, and the best round counts: the least disturbed one on a shared machine.
The goal is a ratio (bench / floor) of at least 0.9 on every figure. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from multiprocessing.synchronize import Barrier
from pathlib import Path
from time import perf_counter
from typing import Any

import nats
import psycopg
from nats.js.api import AckPolicy, ConsumerConfig

from deploykit.bench.settings import Mode, Names, Target
from deploykit.bench.stats import Timed, split, throughput
from deploykit.bench.target import bench_target
from deploykit.local.stack import LocalStack
from deploykit.stack.outputs import StackOutputs, load_outputs

ROOT = Path(__file__).resolve().parent.parent
DEPLOYKIT = str(Path(sys.executable).parent / "deploykit")
SPAWN = multiprocessing.get_context("spawn")

# Operations per mode: a second or more each on a laptop-sized local stack, so that a round
# outlasts the hiccups of a shared machine (the sub-second phases were the unsteady ones).
# js-pull and js-ordered read at most half the smoke stream (8 MiB), whatever the count.
# The cross-bus modes are not here: bench prints them beside their own same-bus baseline.
MSGS = {
    Mode.PUBSUB: 400_000,
    Mode.FANOUT: 200_000,
    Mode.SERVICE: 10_000,
    Mode.JS_PUB_SYNC: 5_000,
    Mode.JS_PUB_ASYNC: 100_000,
    Mode.JS_PULL: 50_000,
    Mode.JS_ORDERED: 50_000,
    Mode.KV_PUT: 5_000,
    Mode.KV_GET: 10_000,
    Mode.DB_INSERT: 10_000,
    Mode.DB_SELECT: 30_000,
}
SIZE = 128
REQUESTERS = 16
WINDOW = 500
BATCH = 500
KEYS = 1000

Share = tuple[int, float, float]  # operations, start, end


# -- the floor: bare loops, one per process -------------------------------------------------------


class Floor:
    """What every floor process gets: how to connect (bench's own connect keywords, nothing
    per message) and names of its own."""

    def __init__(self, target: Target, run: str) -> None:
        self.target = target
        self.database_url = target.database_url.get_secret_value() if target.database_url else ""
        self.names = Names(run)

    async def connect(self, index: int) -> nats.aio.client.Client:
        return await nats.connect(**self.target.nats_options(index))


def _process(
    fn: Callable[..., Any], floor: Floor, barrier: Barrier, results: Any, args: tuple
) -> None:
    results.put(asyncio.run(fn(floor, barrier, *args)))


def spread(
    floor: Floor,
    groups: list[tuple[Callable[..., Any], list[tuple]]],
    serve: tuple[Callable[..., Any], list[tuple]] | None = None,
) -> list[list[Share]]:
    """Run each (function, argument tuples) group as one process per tuple, all behind one
    barrier, and return each group's shares. `serve` processes (responders) pass the barrier
    too and run, given a stop event, until every group is done."""
    stop = SPAWN.Event()
    serving = serve[1] if serve else []
    barrier = SPAWN.Barrier(sum(len(args) for _, args in groups) + len(serving))
    runs = [(fn, SPAWN.Queue(), arg_list) for fn, arg_list in groups]
    if serve:
        runs.append((serve[0], SPAWN.Queue(), [(stop, *args) for args in serving]))
    processes = []
    for fn, queue, arg_list in runs:
        for args in arg_list:
            process = SPAWN.Process(target=_process, args=(fn, floor, barrier, queue, args))
            process.start()
            processes.append(process)
    shares = [
        [queue.get(timeout=300) for _ in arg_list] for _, queue, arg_list in runs[: len(groups)]
    ]
    stop.set()
    for process in processes:
        process.join(30)
    return shares


async def f_publish(floor: Floor, barrier: Barrier, index: int, subject: str, n: int) -> Share:
    nc = await floor.connect(index)
    payload = bytes(SIZE)
    barrier.wait()
    start = perf_counter()
    for _ in range(n):
        await nc.publish(subject, payload)
    await nc.flush(timeout=60)
    end = perf_counter()
    await nc.close()
    return n, start, end


async def f_subscribe(floor: Floor, barrier: Barrier, index: int, subject: str, n: int) -> Share:
    nc = await floor.connect(index)
    done = asyncio.Event()
    count, first, last = 0, 0.0, 0.0

    async def cb(_: Any) -> None:
        nonlocal count, first, last
        count += 1
        if count == 1:
            first = perf_counter()
        if count == n:
            last = perf_counter()
            done.set()

    await nc.subscribe(subject, cb=cb, pending_msgs_limit=n + 1, pending_bytes_limit=-1)
    await nc.flush()
    barrier.wait()
    await asyncio.wait_for(done.wait(), 120)
    await nc.close()
    return count, first, last


async def f_respond(floor: Floor, barrier: Barrier, stop: Any, index: int, subject: str) -> Share:
    nc = await floor.connect(index)

    async def cb(msg: Any) -> None:
        await msg.respond(msg.data)

    await nc.subscribe(subject, queue="q", cb=cb)
    await nc.flush()
    barrier.wait()
    await asyncio.to_thread(stop.wait)
    await nc.close()
    return 0, 0.0, 0.0


async def f_request(
    floor: Floor, barrier: Barrier, index: int, subject: str, n: int, concurrency: int, size: int
) -> Share:
    nc = await floor.connect(index)
    payload = bytes(size)
    left = n

    async def requester() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await nc.request(subject, payload, timeout=5)

    barrier.wait()
    start = perf_counter()
    await asyncio.gather(*(requester() for _ in range(concurrency)))
    end = perf_counter()
    await nc.close()
    return n, start, end


async def f_js_publish(floor: Floor, barrier: Barrier, index: int, subject: str, n: int) -> Share:
    nc = await floor.connect(index)
    js = nc.jetstream()
    payload = bytes(SIZE)
    barrier.wait()
    start = perf_counter()
    for _ in range(n):
        await js.publish(subject, payload)
    end = perf_counter()
    await nc.close()
    return n, start, end


async def f_js_publish_async(
    floor: Floor, barrier: Barrier, index: int, subject: str, n: int
) -> Share:
    nc = await floor.connect(index)
    js = nc.jetstream(publish_async_max_pending=WINDOW)
    payload = bytes(SIZE)
    barrier.wait()
    start = perf_counter()
    for _ in range(n):
        await js.publish_async(subject, payload)
    await js.publish_async_completed()
    end = perf_counter()
    await nc.close()
    return n, start, end


async def f_js_pull(
    floor: Floor, barrier: Barrier, index: int, stream: str, consumer: str
) -> Share:
    nc = await floor.connect(index)
    pull = await nc.jetstream().pull_subscribe_bind(durable=consumer, stream=stream)
    count, last = 0, 0.0
    barrier.wait()
    start = perf_counter()
    while True:
        try:
            batch = await pull.fetch(BATCH, timeout=1)
        except TimeoutError:
            if not (await pull.consumer_info()).num_pending:
                break
            continue
        for msg in batch:
            await msg.ack()
        count += len(batch)
        last = perf_counter()
    await nc.flush()
    await nc.close()
    return count, start, last


async def f_js_ordered(
    floor: Floor, barrier: Barrier, index: int, stream: str, subject: str, n: int
) -> Share:
    nc = await floor.connect(index)
    js = nc.jetstream()
    done = asyncio.Event()
    count, last = 0, 0.0

    async def cb(_: Any) -> None:
        nonlocal count, last
        count += 1
        if count == n:
            last = perf_counter()
            done.set()

    barrier.wait()
    start = perf_counter()
    await js.subscribe(subject, stream=stream, ordered_consumer=True, cb=cb)
    await asyncio.wait_for(done.wait(), 120)
    await nc.close()
    return count, start, last


async def f_kv(floor: Floor, barrier: Barrier, index: int, prefix: str, n: int, put: bool) -> Share:
    nc = await floor.connect(index)
    kv = await nc.jetstream().key_value(floor.names.bucket)
    keys = [f"{prefix}.{k}" for k in range(KEYS)]
    payload, pick = bytes(SIZE), random.Random(index).choice
    barrier.wait()
    start = perf_counter()
    if put:
        for i in range(n):
            await kv.put(keys[i % KEYS], payload)
    else:
        for _ in range(n):
            await kv.get(pick(keys))
    end = perf_counter()
    await nc.close()
    return n, start, end


async def f_db(
    floor: Floor, barrier: Barrier, index: int, table: str, n: int, insert: bool
) -> Share:
    pick = random.Random(index).randint
    payload = bytes(SIZE)
    with psycopg.connect(floor.database_url, autocommit=True) as conn, conn.cursor() as cur:
        barrier.wait()
        start = perf_counter()
        if insert:
            for i in range(n):
                cur.execute(
                    f"insert into {table} (client, n, payload) values (%s, %s, %s)",
                    (index, i, payload),
                )
        else:
            for _ in range(n):
                cur.execute(
                    f"select payload from {table} where id = %s", (pick(1, KEYS),)
                ).fetchone()
        end = perf_counter()
    return n, start, end


def rate(shares: list[Share]) -> float:
    return throughput([Timed(count=c, start=s, end=e) for c, s, e in shares]).rate


# -- the floor of each mode -------------------------------------------------------------------------


async def _admin(floor: Floor, action: Callable[[Any], Any]) -> Any:
    nc = await floor.connect(0)
    try:
        return await action(nc)
    finally:
        await nc.close()


def floor_figures(
    mode: Mode, floor: Floor, clients: int, msgs: int, seen: Seen
) -> dict[str, float]:
    names = floor.names
    counts = split(msgs, clients)
    if mode in (Mode.PUBSUB, Mode.FANOUT):
        if f"{mode.value} pub" in seen.refused:
            return {}
        if mode is Mode.PUBSUB:
            subs = [(i, names.core(i), n) for i, n in enumerate(counts)]
            pubs = subs
        else:
            subs = [(i, names.fanout(), msgs) for i in range(clients)]
            pubs = [(0, names.fanout(), msgs)]
        got_subs, got_pubs = spread(floor, [(f_subscribe, subs), (f_publish, pubs)])
        return {f"{mode.value} pub": rate(got_pubs), f"{mode.value} sub": rate(got_subs)}
    if mode is Mode.SERVICE:
        return floor_service(floor, clients, msgs, seen.direct)
    if mode is Mode.JS_PUB_SYNC or mode is Mode.JS_PUB_ASYNC:
        fn = f_js_publish if mode is Mode.JS_PUB_SYNC else f_js_publish_async
        (got,) = spread(floor, [(fn, [(i, names.js_publish, n) for i, n in enumerate(counts)])])
        asyncio.run(
            _admin(
                floor, lambda nc: nc.jetstream().purge_stream(names.stream, subject=names.js_all)
            )
        )
        return {mode.value: rate(got)}
    if mode is Mode.JS_PULL or mode is Mode.JS_ORDERED:
        seeded = asyncio.run(_admin(floor, lambda nc: seed_stream(nc, names, msgs)))
        if mode is Mode.JS_PULL:
            groups = [(f_js_pull, [(i, names.stream, names.consumer) for i in range(clients)])]
        else:
            groups = [
                (
                    f_js_ordered,
                    [(i, names.stream, names.js_consume, seeded) for i in range(clients)],
                )
            ]
        (got,) = spread(floor, groups)
        asyncio.run(_admin(floor, lambda nc: clean_stream(nc, names)))
        return {mode.value: rate(got)}
    if mode is Mode.KV_PUT or mode is Mode.KV_GET:
        put = mode is Mode.KV_PUT
        if not put:
            asyncio.run(_admin(floor, lambda nc: seed_keys(nc, names)))
        args = [
            (i, f"{names.kv_get}" if not put else names.kv_put(i), n, put)
            for i, n in enumerate(counts)
        ]
        (got,) = spread(floor, [(f_kv, args)])
        asyncio.run(
            _admin(
                floor,
                lambda nc: nc.jetstream().purge_stream(f"KV_{names.bucket}", subject=names.kv_all),
            )
        )
        return {mode.value: rate(got)}
    insert = mode is Mode.DB_INSERT
    with psycopg.connect(floor.database_url, autocommit=True) as conn:
        conn.execute(
            f"create table {names.table} (id bigserial primary key, client integer not null, n integer not null, payload bytea not null)"
        )
        conn.execute(
            f"insert into {names.table} (client, n, payload) select -1, g, %s from generate_series(1, %s) g",
            (bytes(SIZE), KEYS),
        )
        try:
            (got,) = spread(
                floor, [(f_db, [(i, names.table, n, insert) for i, n in enumerate(counts)])]
            )
        finally:
            conn.execute(f"drop table {names.table}")
    return {mode.value: rate(got)}


def floor_service(floor: Floor, clients: int, msgs: int, direct: bool) -> dict[str, float]:
    """With bare queue-subscriber responders, or, where the smoke user may not answer
    requests (bench then measures this too), bare direct gets of one KV key."""
    names = floor.names
    if direct:
        asyncio.run(_admin(floor, lambda nc: seed_keys(nc, names, 1)))
        subject, size, serve = names.direct_get(f"{names.kv_get}.0"), 0, None
    else:
        responders = [(i, names.service) for i in range(clients)]
        subject, size, serve = names.service, SIZE, (f_respond, responders)
    figures = {}
    for requesters in (1, REQUESTERS):
        procs = min(requesters, clients)
        shares = zip(split(msgs, procs), split(requesters, procs), strict=True)
        args = [(i, subject, n, c, size) for i, (n, c) in enumerate(shares)]
        (got,) = spread(floor, [(f_request, args)], serve)
        figures[f"service {requesters} requester{'s' if requesters > 1 else ''}"] = rate(got)
    purge = names.kv_all
    asyncio.run(
        _admin(floor, lambda nc: nc.jetstream().purge_stream(f"KV_{names.bucket}", subject=purge))
    )
    return figures


async def seed_stream(nc: Any, names: Names, msgs: int) -> int:
    js = nc.jetstream(publish_async_max_pending=1000)
    config = (await js.stream_info(names.stream)).config
    count = (
        min(msgs, config.max_bytes // 2 // (SIZE + len(names.js_consume) + 64))
        if config.max_bytes > 0
        else msgs
    )
    for _ in range(count):
        await js.publish_async(names.js_consume, bytes(SIZE))
    await js.publish_async_completed()
    info = await js.add_consumer(
        names.stream,
        ConsumerConfig(
            durable_name=names.consumer,
            filter_subject=names.js_consume,
            ack_policy=AckPolicy.EXPLICIT,
            max_ack_pending=-1,
        ),
    )
    return info.num_pending


async def clean_stream(nc: Any, names: Names) -> None:
    js = nc.jetstream()
    for info in await js.consumers_info(names.stream):
        if (info.config.filter_subject or "").startswith(names.js_all[:-1]):
            await js.delete_consumer(names.stream, info.name)
    await js.purge_stream(names.stream, subject=names.js_all)


async def seed_keys(nc: Any, names: Names, keys: int = KEYS) -> None:
    js = nc.jetstream(publish_async_max_pending=1000)
    for k in range(keys):
        await js.publish_async(f"$KV.{names.bucket}.{names.kv_get}.{k}", bytes(SIZE))
    await js.publish_async_completed()


# -- bench as the user runs it ----------------------------------------------------------------------


def bench_figures(outputs: Path, mode: Mode, clients: int, msgs: int) -> dict[str, Any]:
    """`deploykit bench --json` of one mode, as a user runs it."""
    argv = [DEPLOYKIT, "bench", "--outputs", str(outputs), "--mode", mode.value, "--json"]
    argv += ["--no-progress", "--clients", str(clients), "--msgs", str(msgs), "--duration", "120"]
    argv += ["--size", str(SIZE), "--requesters", str(REQUESTERS), "--window", str(WINDOW)]
    argv += ["--batch", str(BATCH), "--keys", str(KEYS)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode not in (0, 1):
        raise SystemExit(f"deploykit bench failed:\n{done.stderr}")
    return json.loads(done.stdout)


class Row:
    """One figure: every round's rate on each side, or why bench could not measure it."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.unit = ""
        self.refused = ""
        self.bench: list[float] = []
        self.floor: list[float] = []


class Seen:
    """What bench's run told the floor: its user, what it was refused, and whether it measured
    request/reply against the server instead of a service."""

    def __init__(self) -> None:
        self.user = ""
        self.refused: set[str] = set()
        self.direct = False


def compare(outputs_file: Path, modes: list[Mode], clients: int, rounds: int) -> list[Row]:
    """Per mode, `rounds` rounds of bench and the floor, in alternating order after the first
    (bench goes first once, to tell the floor what it may do)."""
    outputs = load_outputs(outputs_file)
    rows: dict[str, Row] = {}
    for mode in modes:
        seen = Seen()
        for round_ in range(rounds):
            if round_ % 2 == 0:
                run_bench(outputs_file, mode, clients, rows, seen)
                run_floor(outputs, mode, clients, rows, seen)
            else:
                run_floor(outputs, mode, clients, rows, seen)
                run_bench(outputs_file, mode, clients, rows, seen)
        print(f"  {mode.value}: done", file=sys.stderr)
    return list(rows.values())


def run_bench(
    outputs_file: Path, mode: Mode, clients: int, rows: dict[str, Row], seen: Seen
) -> None:
    result = bench_figures(outputs_file, mode, clients, MSGS[mode])
    seen.user = result["target"]["user"]
    for f in result["figures"]:
        label = f"{f['mode']} {f['name']}".strip()
        row = rows.setdefault(label, Row(label))
        if f["status"] == "refused":
            row.refused = f["refused"]
            seen.refused.add(label)
            continue
        if f["status"] != "ok":
            print(f"  {label}: counts do not add up: {f['error']}", file=sys.stderr)
        row.unit = f["unit"]
        row.bench.append(f["rate"])
        seen.direct = seen.direct or "answered by nats-server itself" in f["note"]


def run_floor(
    outputs: StackOutputs, mode: Mode, clients: int, rows: dict[str, Row], seen: Seen
) -> None:
    need_db = mode.needs_database
    with bench_target(outputs, seen.user, None, need_db) as (target, _):
        floor = Floor(target, f"floor{secrets.token_hex(3)}")
        for label, value in floor_figures(mode, floor, clients, MSGS[mode], seen).items():
            rows[label].floor.append(value)


def show(rows: list[Row], clients: int, rounds: int, where: str) -> None:
    print(f"{where}; {clients} client process(es) per role; {SIZE} B payloads")
    print(f"best of {rounds} rounds each; steadiness = worst round / best round (bench, floor);")
    print("paired = bench / floor of each round's pair (run one after the other): median [range]")
    print(
        f"{'figure':<22} {'bench':>10} {'floor':>10} {'ratio':>6}  {'unit':<7} "
        f"{'steadiness':<11} paired"
    )
    for row in rows:
        if row.refused:
            print(f"{row.label:<22} {'refused':>10}  {row.refused}")
            continue
        bench, floor = max(row.bench), max(row.floor, default=0.0)
        ratio = bench / floor if floor else 0.0
        steady = f"{min(row.bench) / bench:.2f}, {min(row.floor) / floor if floor else 0:.2f}"
        pairs = [b / f for b, f in zip(row.bench, row.floor, strict=False) if f]
        paired = (
            f"{statistics.median(pairs):.2f} [{min(pairs):.2f}, {max(pairs):.2f}]" if pairs else ""
        )
        print(
            f"{row.label:<22} {bench:>10,.0f} {floor:>10,.0f} {ratio:>6.2f}  {row.unit:<7} "
            f"{steady:<11} {paired}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--clients", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mode", action="append", choices=[m.value for m in MSGS])
    parser.add_argument(
        "--outputs", type=Path, help="measure this target instead of a fresh local stack"
    )
    args = parser.parse_args()
    modes = [Mode(m) for m in args.mode] if args.mode else list(MSGS)
    if args.outputs:
        rows = compare(args.outputs, modes, args.clients, args.rounds)
        show(rows, args.clients, args.rounds, f"target from {args.outputs}")
        return
    with tempfile.TemporaryDirectory(prefix="deploykit-bus-") as tmp:
        stack = LocalStack(
            Path(tmp) / ".deploykit",
            ROOT / "deploykit.yaml",
            report=lambda line: print(line, file=sys.stderr),
        )
        try:
            stack.up(nodes=args.nodes)
            rows = compare(stack.dir.outputs_file, modes, args.clients, args.rounds)
        finally:
            stack.down()
    show(rows, args.clients, args.rounds, f"local stack ({args.nodes} NATS node(s), PostgreSQL)")


if __name__ == "__main__":
    main()
