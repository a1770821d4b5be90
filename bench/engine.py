"""A no-op `pulumi up` of the JetStream definitions beside the reconciler's own no-op plan.

    .venv/bin/python bench/engine.py [--streams 100] [--nodes 1] [--replicas 1] [--rounds 3]

The same manifest (100 streams with a queue consumer each, and deploykit's own smoke assets)
is deployed once through the real Pulumi engine (`components/jetstream.py`, inline program,
file backend), then timed when nothing changes, beside the reconciler's `plan` over the same
server. Prints (never asserts) the best of `--rounds` for each, and their ratio. Needs the
Pulumi CLI that scripts/bootstrap gets or builds.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import nats
from reconcile import manifest

from components.jetstream import JetStream
from deploykit.jetstream import plan
from deploykit.local.nats import local_cluster
from deploykit.manifest.model import Manifest
from deploykit.testing.engine import pulumi_engine


def reconciler_noop(urls: list[str], m: Manifest, size: int) -> tuple[float, int]:
    """(seconds, steps) of one `plan` from connected to done, as `deploykit nats plan` runs."""

    async def once() -> tuple[float, int]:
        conn = await nats.connect(urls)
        try:
            start = time.perf_counter()
            planned = await plan(conn, m, "core", cluster_size=size)
            return time.perf_counter() - start, len(planned.steps)
        finally:
            await conn.close()

    return asyncio.run(once())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--nodes", type=int, default=1)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    m = manifest(args.streams, args.replicas)

    with (
        tempfile.TemporaryDirectory(prefix="deploykit-bench-engine-") as tmp,
        local_cluster(Path(tmp) / "nats", size=args.nodes) as cluster,
    ):

        def program() -> None:
            JetStream("js", m, "core", {"url": cluster.url}, cluster_size=args.nodes)

        with pulumi_engine(Path(tmp) / "engine", report=print) as engine:
            stack = engine.stack("bench", program)
            start = time.perf_counter()
            created = stack.up()
            first = time.perf_counter() - start
            resources = sum((created.summary.resource_changes or {}).values())
            engine_times = []
            for _ in range(args.rounds):
                start = time.perf_counter()
                stack.expect_no_changes()  # compares with the stack's state: no server reads
                engine_times.append(time.perf_counter() - start)
        plans = [reconciler_noop(cluster.urls, m, args.nodes) for _ in range(args.rounds)]

    best_engine = min(engine_times)
    best_plan, steps = min(plans)
    print(f"cluster: {args.nodes} node(s); {args.streams} streams (R{args.replicas}) + consumers")
    print(f"pulumi up, creating ({resources} resources):      {first:8.3f} s")
    print(f"pulumi up --expect-no-changes (best of {args.rounds}): {best_engine:8.3f} s")
    print(f"reconciler no-op plan ({steps} steps, best of {args.rounds}):  {best_plan:8.3f} s")
    print(f"ratio pulumi up / reconciler plan:            {best_engine / best_plan:8.1f}")


if __name__ == "__main__":
    main()
