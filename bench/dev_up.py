"""How long `deploykit dev up` takes to a ready system, against its servers alone.

    .venv/bin/python bench/dev_up.py [--nodes 3] [--runs 3]

Prints (never asserts), for the reference deploykit.yaml:
- cold: `dev up` in an empty state folder (initdb, first JetStream apply) until every service
  is ready (RPC services and workers in NATS discovery, the gateway's /healthz);
- warm: `dev up` again after `dev down` (data kept);
- floor: nats-server (the same node count, the same template) and PostgreSQL alone, started
  together from the same kind of state, until healthy; cold and warm;
- ratio: dev up / floor. What is above 1.0 is the kit's own work: rendering, the permission
  compiler, the reconciler, starting four Python services and waiting for their readiness;
- the breakdown: each step of `dev up` (median seconds, cold and warm). PostgreSQL starts
  beside NATS and the JetStream apply, so the steps add up to more than the total.

Warm is slower than cold for the servers alone too: a restarted cluster recovers its JetStream
meta group from the Raft state on disk and elects a leader only after its election timeouts
(about 4 s here, measured on `/healthz`), while a new cluster elects within half a second.
After that each stream elects its own leader, a few seconds more, and `/healthz` does not wait
for it: the warm `jetstream` step is mostly that wait (no stream answers before its leader is
there), which the floor, with no streams, does not include. The `ready` step is the services'
own start (a Python process each, then NATS discovery or /healthz).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from deploykit.local.nats import plan_local_cluster
from deploykit.local.ports import free_ports
from deploykit.local.postgres import LocalPostgres
from deploykit.local.stack import LocalStack

ROOT = Path(__file__).resolve().parent.parent


def timed(action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


Phases = dict[str, float]


def dev_up(nodes: int) -> tuple[float, float, Phases, Phases]:
    with tempfile.TemporaryDirectory(prefix="bench-dev-") as tmp:
        stack = LocalStack(Path(tmp) / ".deploykit", ROOT / "deploykit.yaml", report=lambda _: None)
        try:
            cold = timed(lambda: stack.up(nodes=nodes))
            cold_phases = dict(stack.timings)
            stack.down()
            warm = timed(lambda: stack.up(nodes=nodes))
            warm_phases = dict(stack.timings)
        finally:
            stack.down()
    return cold, warm, cold_phases, warm_phases


def servers_alone(nodes: int) -> tuple[float, float]:
    """Both servers started at once, as `dev up` starts them, until healthy."""
    with tempfile.TemporaryDirectory(prefix="bench-servers-") as tmp:
        cluster = plan_local_cluster(Path(tmp) / "nats", nodes)
        postgres = LocalPostgres(Path(tmp) / "pg", free_ports(1)[0], "bench")

        def start() -> None:
            with ThreadPoolExecutor(max_workers=1) as beside:
                database = beside.submit(postgres.start)
                cluster.start()
                database.result()

        def stop() -> None:
            cluster.stop()
            postgres.stop()

        try:
            cold = timed(start)
            stop()
            warm = timed(start)
        finally:
            stop()
    return cold, warm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    kit = [dev_up(args.nodes) for _ in range(args.runs)]
    floor = [servers_alone(args.nodes) for _ in range(args.runs)]
    print(f"deploykit dev up, {args.nodes} NATS node(s), median of {args.runs} runs")
    print(f"{'':8}{'dev up':>10}{'servers':>10}{'ratio':>8}{'above':>9}")
    totals = {
        "cold": ([run[0] for run in kit], [run[0] for run in floor]),
        "warm": ([run[1] for run in kit], [run[1] for run in floor]),
    }
    for name, (kit_runs, floor_runs) in totals.items():
        ours, base = statistics.median(kit_runs), statistics.median(floor_runs)
        print(f"{name:8}{ours:>9.2f}s{base:>9.2f}s{ours / base:>8.2f}{ours - base:>+8.2f}s")
    print("\nper step (median seconds)")
    phases = {"cold": [run[2] for run in kit], "warm": [run[3] for run in kit]}
    steps = list(phases["cold"][0])
    print(f"{'':12}" + "".join(f"{step:>11}" for step in steps))
    for name, runs in phases.items():
        medians = [statistics.median(run[step] for run in runs) for step in steps]
        print(f"{name:12}" + "".join(f"{m:>10.2f}s" for m in medians))


if __name__ == "__main__":
    main()
