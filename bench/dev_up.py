"""How long `deploykit dev up` takes to a ready system, against its servers alone, run by run.

    .venv/bin/python bench/dev_up.py [--nodes 3] [--runs 5]

Prints (never asserts), for the reference deploykit.yaml, `deploykit dev up` run as a user runs
it (the command itself, so its start-up and exit count) until every service is ready (RPC
services and workers in NATS discovery, the gateway's /healthz), beside the floor measured in
the same run, just before or after it:
- cold: `dev up` in an empty state folder (a new data directory, first JetStream apply),
  against nats-server (the same node count, the same template) and PostgreSQL started together
  from nothing (initdb, then the server) until healthy. `dev up` copies the data directory
  initdb made once into the kit's cache instead of running initdb (deploykit/local/postgres.py):
  that is the kit's own saving, so the floor keeps initdb;
- cold+: the same `dev up` against a floor that also does what it creates on its servers: both
  servers from nothing, then the reference manifest's streams and consumers (straight through
  the JetStream API, streams at once, then consumers) and its roles and databases (side by
  side), no kit code on the way. What is above this floor is the kit alone: its command, the
  launcher of the services, their start and readiness;
- warm: `dev up` again after `dev down` (data kept), against the same servers restarted from
  the very data `dev up` left (its configs, its JetStream state, its database) until healthy:
  `/healthz` on every node, every stream and consumer led (`/jsz`), PostgreSQL accepting.
  Also shown: the servers restarted from an empty cluster (no streams), the floor this bench
  used before. The difference between those two floors is the servers' own: after a restart
  each replicated stream and consumer is a Raft group that elects its leader only when an
  election timer fires, 4 to 9 s after the start (a constant in nats-server), and no service
  can bind to a stream or a consumer before its leader is there;
- ratio: dev up / floor of the same run; the median and the spread [lowest, highest] of the runs.
  What is above 1.0 is the kit's own work: its start-up, rendering, the permission compiler,
  the reconciler, the launcher of the Python services (it imports the runtime once and forks
  each service at its turn) and waiting for their readiness;
- CPU-seconds (median): what cold `dev up` spent by the time it was ready (the command with
  what it ran and waited for, e.g. initdb; the services; the servers), beside its floor's (both
  servers from start to stop). On 2 shared cores a cold start is bound by CPU, not by waiting;
- the breakdown: each step `dev up` reports, when it finished (seconds from the command's start)
  and how long it took, median of the runs; `exit` is the command's end after its last line.
  PostgreSQL starts beside NATS and the JetStream apply, so the steps overlap.

On a shared machine, runs differ by more than the kit's share: read the ratios (each against
its own floor) rather than the seconds, and more runs (`--runs`) for a steadier median.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from deploykit.jetstream.desired import Desired, desired_state
from deploykit.local.nats import LocalNats, plan_local_cluster
from deploykit.local.ports import free_ports
from deploykit.local.postgres import LocalPostgres
from deploykit.local.state import StateDir
from deploykit.manifest.load import load_manifest

ROOT = Path(__file__).resolve().parent.parent
DEPLOYKIT = str(Path(sys.executable).parent / "deploykit")
STEP = re.compile(r"✓ (\S+(?: users)?)\s.*\((\d+(?:\.\d+)?)s\)$")


@dataclass
class Up:
    """One `dev up`: its total and, per step, (finished at, took) in seconds."""

    total: float
    steps: dict[str, tuple[float, float]] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)  # command, services, servers


def children_cpu() -> float:
    """CPU-seconds of the children this process has waited for (and of theirs)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def process_cpu(pid: int) -> float:
    """CPU-seconds a running process has used so far (/proc/PID/stat utime + stime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stack_cpu(state: Path) -> dict[str, float]:
    """The running services' and servers' CPU-seconds, from the pid files `dev up` wrote."""
    folder = StateDir(state)
    cpu = {"services": 0.0, "servers": 0.0}
    for proc in folder.recorded_processes():
        pid = proc.pid()
        if pid is not None:
            kind = "services" if proc.pid_file.parent == folder.services_dir else "servers"
            cpu[kind] += process_cpu(pid)
    return cpu


def dev(state: Path, *args: str) -> list[str]:
    return [DEPLOYKIT, "dev", *args, "-f", str(ROOT / "deploykit.yaml"), "--dir", str(state)]


def dev_up(state: Path, nodes: int) -> Up:
    """The command, its report lines stamped as they arrive."""
    started, spent = time.monotonic(), children_cpu()
    command = dev(state, "up", "--nodes", str(nodes))
    with subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    ) as p:
        assert p.stderr is not None
        lines, steps = [], {}
        for line in p.stderr:
            lines.append(line)
            if match := STEP.search(line.rstrip()):
                steps[match[1]] = (time.monotonic() - started, float(match[2]))
        code = p.wait()
    if code != 0:
        raise SystemExit(f"deploykit dev up failed ({code}):\n{''.join(lines)}")
    steps["exit"] = (
        time.monotonic() - started,
        time.monotonic() - started - max((at for at, _ in steps.values()), default=0.0),
    )
    total = time.monotonic() - started
    return Up(total, steps, {"command": children_cpu() - spent, **stack_cpu(state)})


def dev_down(state: Path) -> None:
    subprocess.run(dev(state, "down"), check=True, capture_output=True)


def timed(action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def start_together(cluster: LocalNats, postgres: LocalPostgres, *, configs: bool) -> None:
    """Both servers at once, as `dev up` starts them, until ready: `/healthz` on every node
    (the meta group and every stream and consumer current), every stream and consumer led
    (`/jsz`), PostgreSQL accepting."""
    with ThreadPoolExecutor(max_workers=1) as beside:
        database = beside.submit(postgres.start)
        if configs:
            cluster.write_configs()
        for node in cluster.nodes:
            cluster.start_node(node)
        cluster.wait_ready()
        cluster.wait_led()
        database.result()


def stack_objects(nodes: int) -> tuple[list[Desired], list[tuple[str, str]]]:
    """What `dev up` creates on its servers for the reference manifest: the JetStream streams
    and consumers of every bus (one account here, so a name is created once), and the
    databases with their owners."""
    manifest = load_manifest(ROOT / "deploykit.yaml")
    objects = {
        o.name: o for bus in manifest.buses for o in desired_state(manifest, bus, nodes).objects
    }
    databases = [
        (manifest.database_name(k), manifest.database_owner(k)) for k in manifest.databases
    ]
    return list(objects.values()), databases


async def create_objects(url: str, objects: list[Desired]) -> None:
    """Streams at once, then consumers at once, straight through the JetStream API."""
    import nats

    nc = await nats.connect(url)

    async def create(o: Desired) -> None:
        if o.kind == "stream":
            subject, body = f"STREAM.CREATE.{o.name}", o.config
        else:
            subject = f"CONSUMER.CREATE.{o.stream}.{o.consumer}"
            body = {"stream_name": o.stream, "config": o.config}
        reply = await nc.request(f"$JS.API.{subject}", json.dumps(body).encode(), timeout=30)
        if error := json.loads(reply.data).get("error"):
            raise SystemExit(f"{subject}: {error}")

    try:
        for kind in ("stream", "consumer"):
            await asyncio.gather(*(create(o) for o in objects if o.kind == kind))
    finally:
        await nc.close()


def create_databases(postgres: LocalPostgres, databases: list[tuple[str, str]]) -> None:
    """Each owner role and its database, side by side, as the superuser."""
    import psycopg

    def create(name: str, owner: str) -> None:
        with psycopg.connect(postgres.url(), autocommit=True) as conn:
            conn.execute(f'create role "{owner}" login')
            conn.execute(f'create database "{name}" owner "{owner}"')

    with ThreadPoolExecutor(max_workers=4) as each:
        for done in [each.submit(create, name, owner) for name, owner in databases]:
            done.result()


def start_with_objects(
    cluster: LocalNats,
    postgres: LocalPostgres,
    objects: tuple[list[Desired], list[tuple[str, str]]],
) -> None:
    """Both servers from nothing, then the stack's streams, consumers and databases: the work
    any tool does to give the reference manifest its servers, without the kit."""
    streams, databases = objects
    with ThreadPoolExecutor(max_workers=1) as beside:
        database = beside.submit(lambda: (postgres.start(), create_databases(postgres, databases)))
        cluster.write_configs()
        for node in cluster.nodes:
            cluster.start_node(node)
        cluster.wait_ready()
        asyncio.run(create_objects(cluster.urls[0], streams))
        database.result()


def stop(cluster: LocalNats, postgres: LocalPostgres) -> None:
    cluster.stop()
    postgres.stop()


def servers_of(state: Path) -> tuple[LocalNats, LocalPostgres]:
    """The servers of a local stack folder, with the configs and data `dev up` left there."""
    folder = StateDir(state)
    recorded = folder.load()
    assert recorded is not None
    cluster = plan_local_cluster(
        folder.nats_dir, recorded.nodes, name=recorded.cluster_name, ports=recorded.nats_ports
    )
    postgres = LocalPostgres(
        folder.postgres_dir, recorded.postgres_port, recorded.password("pg:postgres")
    )
    return cluster, postgres


@dataclass
class Run:
    cold: Up
    warm: Up
    floor_cold: float
    floor_objects: float  # the servers and what dev up creates on them, without the kit
    floor_cold_cpu: float  # CPU-seconds of both servers, from start to stop
    floor_warm: float  # the stack's own data
    floor_empty: float  # an empty cluster restarted


def one_run(nodes: int) -> Run:
    with tempfile.TemporaryDirectory(prefix="bench-dev-") as tmp:
        servers = Path(tmp) / "servers"
        cluster = plan_local_cluster(servers / "nats", nodes)
        postgres = LocalPostgres(servers / "pg", free_ports(1)[0], "bench", template=False)
        spent = children_cpu()
        try:
            floor_cold = timed(lambda: start_together(cluster, postgres, configs=True))
        finally:
            stop(cluster, postgres)
        floor_cold_cpu = children_cpu() - spent
        state = Path(tmp) / ".deploykit"
        try:
            cold = dev_up(state, nodes)
            dev_down(state)
            own_cluster, own_postgres = servers_of(state)
            try:
                floor_warm = timed(lambda: start_together(own_cluster, own_postgres, configs=False))
            finally:
                stop(own_cluster, own_postgres)
            warm = dev_up(state, nodes)
        finally:
            dev_down(state)
        try:
            floor_empty = timed(lambda: start_together(cluster, postgres, configs=False))
        finally:
            stop(cluster, postgres)
        with_objects = plan_local_cluster(Path(tmp) / "objects" / "nats", nodes)
        own_pg = LocalPostgres(
            Path(tmp) / "objects" / "pg", free_ports(1)[0], "bench", template=False
        )
        try:
            objects = stack_objects(nodes)
            floor_objects = timed(lambda: start_with_objects(with_objects, own_pg, objects))
        finally:
            stop(with_objects, own_pg)
    return Run(cold, warm, floor_cold, floor_objects, floor_cold_cpu, floor_warm, floor_empty)


def spread(values: list[float], fmt: str) -> str:
    return f"{statistics.median(values):{fmt}} [{min(values):{fmt}}, {max(values):{fmt}}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    runs = []
    for i in range(args.runs):
        runs.append(one_run(args.nodes))
        r = runs[-1]
        print(
            f"  run {i + 1}: cold {r.cold.total:.2f}s / {r.floor_cold:.2f}s, "
            f"warm {r.warm.total:.2f}s / {r.floor_warm:.2f}s (empty cluster {r.floor_empty:.2f}s)",
            file=sys.stderr,
        )
    print(
        f"deploykit dev up, {args.nodes} NATS node(s), {args.runs} runs: median [lowest, highest]"
    )
    print(f"{'':6}{'dev up':>22}{'servers':>22}{'ratio':>20}{'above':>23}")
    rows = {
        "cold": ([r.cold.total for r in runs], [r.floor_cold for r in runs]),
        "cold+": ([r.cold.total for r in runs], [r.floor_objects for r in runs]),
        "warm": ([r.warm.total for r in runs], [r.floor_warm for r in runs]),
    }
    for name, (kit, floor) in rows.items():
        ratios = [k / f for k, f in zip(kit, floor, strict=True)]
        above = [k - f for k, f in zip(kit, floor, strict=True)]
        print(
            f"{name:6}{spread(kit, '.2f'):>22}{spread(floor, '.2f'):>22}"
            f"{spread(ratios, '.2f'):>20}{spread(above, '+.2f'):>23}"
        )
    print(
        "cold+: against the servers started from nothing with what dev up creates on them "
        "(its streams, consumers, roles and databases), straight through their APIs"
    )
    empty = [r.floor_empty for r in runs]
    print(
        f"warm floor of an empty cluster (meta leader only): {spread(empty, '.2f')} s; "
        f"the stack's streams and consumers add {spread([r.floor_warm - e for r, e in zip(runs, empty, strict=True)], '+.2f')} s"
    )
    cpu = {k: statistics.median(r.cold.cpu[k] for r in runs) for k in runs[0].cold.cpu}
    print(
        f"CPU-seconds, cold: dev up {sum(cpu.values()):.2f} at ready ("
        + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items())
        + f"), its floor {statistics.median(r.floor_cold_cpu for r in runs):.2f} (start to stop)"
    )
    print("\nper step: finished at / took (seconds from the command's start, median)")
    steps = list(dict.fromkeys(s for r in runs for s in r.cold.steps))
    print(f"{'':6}" + "".join(f"{step:>14}" for step in steps))
    for name in ("cold", "warm"):
        ups = [getattr(r, name) for r in runs]
        cells = []
        for step in steps:
            seen = [u.steps[step] for u in ups if step in u.steps]
            at = statistics.median(s[0] for s in seen)
            took = statistics.median(s[1] for s in seen)
            cells.append(f"{at:>7.2f} /{took:>5.2f}")
        print(f"{name:6}" + "".join(f"{c:>14}" for c in cells))


if __name__ == "__main__":
    main()
