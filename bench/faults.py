"""Run every fault scenario of the reliability suite and print their figures in one table.

    .venv/bin/python bench/faults.py [--skip-dev] [--publish-seconds 1.0]

The same scenarios as `tests/reliability/` (the code is `deploykit/testing/faults.py`), on
servers of its own, all on loopback: a 3-node NATS cluster rendered from the kit's template
(kill -9 a follower, kill -9 the stream leader, SIGSTOP the leader), two welcome workers on a
one-node NATS with the compiled accounts (one killed mid-batch), PostgreSQL killed -9 during
writes, and `deploykit dev` (its processes killed in three orders, then `up`). Prints figures,
never asserts: the tests hold the invariants.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import uuid
from pathlib import Path

from deploykit.local.nats import local_cluster
from deploykit.local.ports import free_ports
from deploykit.local.postgres import LocalPostgres
from deploykit.local.stack import LocalStack
from deploykit.testing.faults import (
    CLUSTER_FAULTS,
    KILL_ORDERS,
    Figures,
    cluster_fault,
    format_table,
    local_stack_fault,
    postgres_fault,
    worker_fault,
    worker_system,
)

ROOT = Path(__file__).resolve().parents[1]


def progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def nats_scenarios(base: Path, publish_s: float) -> list[Figures]:
    rows = []
    with local_cluster(base / "cluster", size=3) as cluster:
        for victim, fault in CLUSTER_FAULTS:
            progress(f"nats: {fault} {victim} ...")
            stream = f"BENCH_{fault.upper()}_{victim.upper()}"
            run = asyncio.run(
                cluster_fault(cluster, stream, victim=victim, fault=fault, publish_s=publish_s)
            )
            rows.append(run.figures)
    return rows


def database_scenarios(base: Path) -> list[Figures]:
    """PostgreSQL killed under writes, then (on the restarted server) the worker scenario."""
    server = LocalPostgres(base / "postgres", free_ports(1)[0], uuid.uuid4().hex)
    server.start()
    try:
        progress("postgres: kill -9 during writes ...")
        rows = [postgres_fault(server).figures]
        progress("worker: kill -9 mid-batch ...")
        url = server.ensure_database("faults", "faults", uuid.uuid4().hex)
        with worker_system(base / "worker", url) as system:
            rows.append(asyncio.run(worker_fault(system)).figures)
        return rows
    finally:
        server.stop()


def dev_scenarios(base: Path) -> list[Figures]:
    stack = LocalStack(base / ".deploykit", ROOT / "deploykit.yaml", report=lambda _: None)
    progress("dev: up ...")
    stack.up(nodes=3)
    try:
        rows = []
        for label, order in KILL_ORDERS.items():
            progress(f"dev: kill -9 {label} ...")
            rows.append(local_stack_fault(stack, label, order).figures)
        return rows
    finally:
        stack.down()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skip-dev", action="store_true", help="Skip the local stack scenarios.")
    parser.add_argument(
        "--publish-seconds", type=float, default=1.0, help="Publishing before and after a fault."
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="deploykit-faults-") as tmp:
        base = Path(tmp)
        rows = nats_scenarios(base, args.publish_seconds)
        rows += database_scenarios(base)
        if not args.skip_dev:
            rows += dev_scenarios(base)
    print(format_table(rows))


if __name__ == "__main__":
    main()
