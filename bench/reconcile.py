"""Reconcile 100 streams with a queue consumer each on a 3-node cluster, against the floor.

    .venv/bin/python bench/reconcile.py [--streams 100] [--replicas 3] [--concurrency 32]

Prints (never asserts) four figures:
- apply: `plan` + `apply` of the manifest on the cluster, from connected to done;
- floor: the same creations as plain sequential nats-py calls (`add_stream`, `add_consumer`);
- their ratio (apply / floor; at most 1.0 is the target);
- no-op: `plan` + `apply` again once everything exists (under a second is the target).

Both runs start from the same warmed cluster (the meta leader elected, deploykit's own smoke
assets already there) and create the same names; the floor's streams are deleted before the
reconciler's run.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import nats
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

from deploykit.jetstream import apply, plan
from deploykit.jetstream.api import JetStreamApi
from deploykit.local.nats import local_cluster
from deploykit.manifest.model import Manifest


def manifest(streams: int, replicas: int) -> Manifest:
    return Manifest.model_validate(
        {
            "version": 1,
            "system": "bench",
            "buses": {"core": {"core": True}},
            "streams": {
                f"BENCH{i}": {"subjects": [f"bench.{i}.>"], "replicas": replicas}
                for i in range(streams)
            },
            "services": {
                "worker": {
                    "role": "worker",
                    "consumes": [
                        {"stream": f"BENCH{i}", "consumer": f"work{i}", "mode": "queue"}
                        for i in range(streams)
                    ],
                }
            },
        }
    )


async def floor(conn: Client, streams: int, replicas: int) -> float:
    """The same creations, one after another, the way a script with nats-py would do them."""
    js = conn.jetstream(timeout=30)
    start = time.perf_counter()
    for i in range(streams):
        await js.add_stream(
            StreamConfig(name=f"BENCH{i}", subjects=[f"bench.{i}.>"], num_replicas=replicas)
        )
        await js.add_consumer(
            f"BENCH{i}",
            ConsumerConfig(durable_name=f"work{i}", ack_policy=AckPolicy.EXPLICIT),
        )
    return time.perf_counter() - start


async def reconcile_once(conn: Client, m: Manifest, concurrency: int) -> tuple[float, int, int]:
    """(seconds, steps, mutating API calls) of one plan + apply."""
    start = time.perf_counter()
    p = await plan(conn, m, "core")
    result = await apply(conn, p, concurrency=concurrency)
    return time.perf_counter() - start, len(p.steps), result.mutations


async def bench(urls: list[str], streams: int, replicas: int, concurrency: int) -> None:
    conn = await nats.connect(urls)
    try:
        await reconcile_once(conn, manifest(0, replicas), concurrency)  # warm: smoke assets
        m = manifest(streams, replicas)
        sequential = await floor(conn, streams, replicas)
        api = JetStreamApi(conn, timeout=30)
        await asyncio.gather(*(api.delete_stream(f"BENCH{i}") for i in range(streams)))
        applied, steps, mutations = await reconcile_once(conn, m, concurrency)
        noop, noop_steps, noop_mutations = await reconcile_once(conn, m, concurrency)
    finally:
        await conn.close()
    print(f"cluster: {len(urls)} nodes; {streams} streams (R{replicas}) with a consumer each")
    print(f"apply (plan + apply, {steps} steps, {mutations} calls): {applied:8.3f} s")
    print(f"floor (sequential nats-py calls):                  {sequential:8.3f} s")
    print(f"ratio apply / floor:                                {applied / sequential:8.3f}")
    print(
        f"no-op re-apply ({noop_steps} steps, {noop_mutations} mutating calls):       {noop:8.3f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="deploykit-bench-") as tmp,
        local_cluster(Path(tmp), size=args.nodes) as cluster,
    ):
        asyncio.run(bench(cluster.urls, args.streams, args.replicas, args.concurrency))


if __name__ == "__main__":
    main()
