"""Fault scenarios on real processes, shared by the test suite and `bench/faults.py`.

Each scenario starts (or is given) real servers on loopback, drives a bounded workload, injects
one fault with a real signal (SIGKILL, SIGSTOP/SIGCONT), heals it, and returns what it observed:
raw evidence for the tests to assert invariants on, and `Figures` for the table. Nothing here
asserts; nothing sleeps for a fixed time where a real signal exists; every loop has a cap.

    cluster_fault      a publisher with Nats-Msg-Id against an R3 stream; a node killed or paused
    worker_fault       two welcome workers on one queue consumer; one killed mid-handling
    postgres_fault     committed inserts while PostgreSQL is killed -9 and restarted
    local_stack_fault  every process of `deploykit dev` killed in a given order, then `up`
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import nats
import nats.errors
import psycopg
import yaml
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig, ConsumerInfo, StreamConfig
from nats.js.client import JetStreamContext

from deploykit.configs.nats import NatsNode
from deploykit.jetstream import reconcile
from deploykit.local.nats import LocalNats
from deploykit.local.postgres import LocalPostgres
from deploykit.local.processes import Proc, pid_alive
from deploykit.local.stack import LocalStack
from deploykit.manifest import naming
from deploykit.manifest.load import load_manifest, parse_manifest
from deploykit.manifest.model import Manifest
from deploykit.manifest.wiring import wiring_for
from deploykit.smoke.results import Status
from deploykit.smoke.runner import run_smoke
from deploykit.stack.discovery import discover
from deploykit.stack.outputs import NatsCredential, StackOutputs, load_outputs
from deploykit.testing.natsusers import NatsUsers, nats_with_users
from deploykit.testing.polling import TimedOut, retry_async, wait_until, wait_until_async

__all__ = [
    "CLUSTER_FAULTS",
    "KILL_ORDERS",
    "ClusterRun",
    "Figures",
    "PgRun",
    "StackRun",
    "WorkerRun",
    "cluster_fault",
    "format_table",
    "local_stack_fault",
    "postgres_fault",
    "worker_fault",
    "worker_system",
]

ROOT = Path(__file__).resolve().parents[2]  # the checkout: its deploykit.yaml and apps/
T = TypeVar("T")


@dataclass(frozen=True)
class Figures:
    """One row of the table: what a scenario sent, got acknowledged, found afterwards."""

    scenario: str
    sent: int
    acknowledged: int
    found: int
    duplicates_absorbed: int
    unavailable_s: float
    note: str = ""


COLUMNS = ("scenario", "sent", "acked", "found", "dups absorbed", "unavailable s", "note")


def format_table(rows: Iterable[Figures]) -> str:
    cells = [
        (
            f.scenario,
            str(f.sent),
            str(f.acknowledged),
            str(f.found),
            str(f.duplicates_absorbed),
            f"{f.unavailable_s:.2f}",
            f.note,
        )
        for f in rows
    ]
    widths = [max(len(c[i]) for c in [COLUMNS, *cells]) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [COLUMNS, tuple("-" * w for w in widths), *cells]
    ]
    return "\n".join(lines)


def longest_gap(times: Sequence[float]) -> float:
    """The longest stretch without a success: seconds of unavailability seen by the client."""
    ordered = sorted(times)
    return max((b - a for a, b in itertools.pairwise(ordered)), default=0.0)


def _settle(check: Callable[[], object], timeout: float, what: str, poll: float = 0.02) -> bool:
    """Wait for `check`; running out of time is the scenario's evidence, not its failure."""
    try:
        return bool(wait_until(check, timeout, what, poll=poll))
    except TimedOut:
        return False


async def _settle_async(
    check: Callable[[], Awaitable[object]], timeout: float, what: str, poll: float = 0.05
) -> bool:
    """`_settle` for an async check, whose errors (a server away) count as not yet."""
    try:
        return bool(await wait_until_async(check, timeout, what, poll=poll, ignoring=(Exception,)))
    except TimedOut:
        return False


async def _quiet(_exc: Exception) -> None:
    """nats-py reports every reconnect attempt; the scenario's figures say what matters."""


async def connect(urls: list[str], **options: Any) -> Client:
    """A client that notices a dead or paused server within about 3 s and reconnects forever."""
    return await nats.connect(
        urls,
        ping_interval=1,
        max_outstanding_pings=2,
        reconnect_time_wait=0.2,
        max_reconnect_attempts=-1,
        error_cb=_quiet,
        **options,
    )


def signal_and_wait(proc: Proc, sig: int) -> int:
    """Send `sig` to the process group; for SIGKILL, wait until the process is really gone."""
    pid = proc.pid()
    if pid is None:
        raise RuntimeError(f"{proc.name} is not running")
    proc.send(sig)
    if sig == signal.SIGKILL:
        wait_until(lambda: not pid_alive(pid), 10, f"{proc.name} (pid {pid}) to die", poll=0.01)
    return pid


# -- a steady publisher with message ids -----------------------------------------------------


@dataclass
class Publisher:
    """Publishes `<worker>-<n>` ids one after another per worker, retrying each until acked."""

    js: JetStreamContext
    subject: str
    workers: int = 4
    pace: float = 0.002
    timeout: float = 1.0
    tried: set[str] = field(default_factory=set)
    acked: dict[str, int] = field(default_factory=dict)
    ack_times: list[float] = field(default_factory=list)
    sent: int = 0
    attempts: int = 0
    duplicates: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    def acks_since(self, moment: float) -> int:
        return sum(1 for t in self.ack_times if t >= moment)

    async def wait_for_acks(self, count: int, since: float, timeout: float) -> None:
        """At least `count` acks since `since` (monotonic time), or `timeout` seconds passed:
        a publisher that stays unavailable is the scenario's finding, not its failure."""

        async def enough() -> bool:
            return self.acks_since(since) >= count

        await _settle_async(enough, timeout, f"{count} acks", poll=0.02)

    async def run(self, give_up: float = 10.0) -> None:
        await asyncio.gather(*(self._worker(w, give_up) for w in range(self.workers)))

    async def _worker(self, worker: int, give_up: float) -> None:
        n = 0
        while not self.stop.is_set():
            msg_id = f"{worker}-{n}"
            self.sent += 1
            self.tried.add(msg_id)
            await self._until_acked(msg_id, give_up)
            n += 1
            await asyncio.sleep(self.pace)

    async def _until_acked(self, msg_id: str, give_up: float) -> None:
        """Retry with the same id: a retry of a message that was stored is a duplicate."""
        stopped_at: float | None = None
        while True:
            self.attempts += 1
            try:
                ack = await self.js.publish(
                    self.subject,
                    msg_id.encode(),
                    timeout=self.timeout,
                    headers={"Nats-Msg-Id": msg_id},
                )
            except (nats.errors.Error, TimeoutError) as exc:
                self.errors[type(exc).__name__] += 1
                if self.stop.is_set():
                    stopped_at = stopped_at or time.monotonic()
                    if time.monotonic() - stopped_at > give_up:
                        return  # in doubt: maybe stored, never acknowledged
                await asyncio.sleep(0.05)
                continue
            self.acked[msg_id] = ack.seq
            self.ack_times.append(time.monotonic())
            self.duplicates += bool(ack.duplicate)
            return


async def stored_ids(js: JetStreamContext, stream: str) -> Counter[str]:
    """How many times each Nats-Msg-Id is stored in `stream`, read with a throwaway consumer."""
    sub = await js.pull_subscribe(
        "", stream=stream, config=ConsumerConfig(ack_policy=AckPolicy.NONE, inactive_threshold=30)
    )
    try:
        total = (await sub.consumer_info()).num_pending
        if total is None:  # the server always sends it; nats-py types every field optional
            raise RuntimeError(f"stream {stream}: the consumer info has no num_pending")
        found: Counter[str] = Counter()
        read = 0
        while read < total:
            msgs = await sub.fetch(min(1000, total - read), timeout=5)
            read += len(msgs)
            found.update((m.headers or {}).get("Nats-Msg-Id", "") for m in msgs)
        return found
    finally:
        await sub.unsubscribe()


# -- cluster faults --------------------------------------------------------------------------

CLUSTER_FAULTS = [("follower", "kill"), ("leader", "kill"), ("leader", "pause")]
"""(victim, fault) pairs: Jepsen's `kill` and `pause` nemeses, one node of three."""


def node_stream_state(node: NatsNode, stream: str) -> tuple[int, int] | None:
    """(messages, last_seq) of `stream` in this node's own store, from its monitoring port."""
    url = f"{node.monitor_url}/jsz?streams=true"
    with urllib.request.urlopen(url, timeout=1) as response:
        data = json.loads(response.read())
    for account in data.get("account_details") or []:
        for detail in account.get("stream_detail") or []:
            if detail["name"] == stream:
                state = detail["state"]
                return state["messages"], state["last_seq"]
    return None


@dataclass
class ClusterRun:
    """What a cluster fault scenario observed."""

    victim: str
    was_leader: bool
    tried: set[str]
    acked: dict[str, int]
    stored: Counter[str]
    acks_after_fault: int
    node_states: dict[str, tuple[int, int] | None]
    figures: Figures

    @property
    def missing(self) -> list[str]:
        return [i for i in self.acked if self.stored[i] != 1]

    @property
    def unknown(self) -> list[str]:
        return [i for i in self.stored if i not in self.tried]

    @property
    def stored_twice(self) -> list[str]:
        return [i for i, n in self.stored.items() if n > 1]


async def _retry(call: Callable[[], Awaitable[T]], what: str) -> T:
    """A JetStream admin call on a cluster that may be electing a leader: retried, bounded."""
    return await retry_async(call, 30, what, ignoring=(nats.errors.Error, TimeoutError))


async def cluster_fault(
    cluster: LocalNats, stream: str, *, victim: str, fault: str, publish_s: float = 1.0
) -> ClusterRun:
    """kill -9 (`fault="kill"`) or SIGSTOP (`"pause"`) the stream's `victim` ("leader" or
    "follower") while a publisher runs; heal once publishing has resumed without it; keep
    publishing a while; then read back the stream and every node's copy of it."""
    nc = await connect(cluster.urls)
    js = nc.jetstream()
    try:
        config = StreamConfig(
            name=stream, subjects=[f"{stream.lower()}.>"], num_replicas=3, duplicate_window=120
        )
        await _retry(lambda: js.add_stream(config), f"stream {stream} created")
        info = await _retry(lambda: js.stream_info(stream), f"stream {stream}'s info")
        if not (info.cluster and info.cluster.leader):
            raise RuntimeError(f"stream {stream} has no leader to choose a victim by")
        followers = [r.name for r in info.cluster.replicas or [] if r.name]
        name = info.cluster.leader if victim == "leader" else followers[0]
        node = next(n for n in cluster.nodes if n.name == name)
        proc = cluster.proc(node)

        publisher = Publisher(js, f"{stream.lower()}.x")
        running = asyncio.create_task(publisher.run())
        await publisher.wait_for_acks(200, 0, publish_s + 10)
        await asyncio.sleep(publish_s)
        faulted = time.monotonic()
        signal_and_wait(proc, signal.SIGKILL if fault == "kill" else signal.SIGSTOP)
        # Available without the victim: acks resume while it is still down (bounded wait).
        await publisher.wait_for_acks(100, faulted, 30)
        acks_after_fault = publisher.acks_since(faulted)
        if fault == "kill":
            cluster.start_node(node)
        else:
            proc.send(signal.SIGCONT)
        healed = time.monotonic()
        await publisher.wait_for_acks(200, healed, 30)
        await asyncio.sleep(publish_s)
        publisher.stop.set()
        await running

        final = await _retry(lambda: js.stream_info(stream), f"stream {stream}'s info")
        target = (final.state.messages, final.state.last_seq)

        async def caught_up() -> dict[str, tuple[int, int] | None] | None:
            states = {n.name: node_stream_state(n, stream) for n in cluster.nodes}
            return states if all(s == target for s in states.values()) else None

        try:
            states = await wait_until_async(caught_up, 30, "every node caught up", poll=0.2)
        except TimedOut:
            states = {n.name: node_stream_state(n, stream) for n in cluster.nodes}
        stored = await _retry(lambda: stored_ids(js, stream), f"stream {stream} read back")
        await _retry(lambda: js.delete_stream(stream), f"stream {stream} deleted")
    finally:
        await nc.close()
    found = sum(1 for i in publisher.acked if stored[i] == 1)
    figures = Figures(
        scenario=f"nats: {fault} {victim} of R3",
        sent=publisher.sent,
        acknowledged=len(publisher.acked),
        found=found,
        duplicates_absorbed=publisher.duplicates,
        unavailable_s=longest_gap(publisher.ack_times),
        note=(
            f"{publisher.attempts - publisher.sent} retries; all 3 nodes at seq {target[1]}, "
            f"the victim {'restarted' if fault == 'kill' else 'resumed'} included"
        ),
    )
    return ClusterRun(
        name,
        victim == "leader",
        publisher.tried,
        dict(publisher.acked),
        stored,
        acks_after_fault,
        states,
        figures,
    )


# -- a queue worker killed mid-handling ------------------------------------------------------

WORKER_ACK_WAIT = "2s"
WELCOMED = "accounts.events.welcomed"


def fault_manifest() -> Manifest:
    """The reference manifest, with welcome's ack wait short so a redelivery comes quickly."""
    data = yaml.safe_load((ROOT / "deploykit.yaml").read_text())
    for consume in data["services"]["welcome"]["consumes"]:
        consume["ack_wait"] = WORKER_ACK_WAIT
    return parse_manifest(yaml.safe_dump(data), "deploykit.yaml (ack_wait 2s)")


@dataclass
class WorkerSystem:
    """A one-node NATS with the compiled accounts, the JetStream definitions reconciled, and a
    database for welcome: what `deploykit dev` would give the worker, without the other apps."""

    directory: Path
    nats: NatsUsers
    database_url: str

    def start_welcome(self, index: int) -> Proc:
        proc = Proc(
            f"welcome-{index}",
            self.directory / f"welcome-{index}.pid",
            self.directory / f"welcome-{index}.log",
        )
        env = naming.service_env(
            "welcome",
            self.nats.cluster.url,
            "welcome",
            self.nats.passwords["welcome"],
            database_url=self.database_url,
            wiring=wiring_for(fault_manifest(), "welcome").model_dump_json(),
        )
        keep = {k: os.environ[k] for k in ("PATH", "HOME", "PYTHONPATH") if k in os.environ}
        proc.start([sys.executable, "-m", "apps.welcome"], env={**keep, **env}, cwd=ROOT)
        return proc


@contextlib.contextmanager
def worker_system(directory: Path, database_url: str) -> Iterator[WorkerSystem]:
    """Yield a `WorkerSystem` on `database_url` (an empty database), stopped afterwards."""
    manifest = fault_manifest()
    with nats_with_users(directory / "nats", manifest) as users:
        credentials = {
            bus: NatsCredential(
                account=bus,
                role="provisioning",
                **users.credential(naming.provisioning_user(bus)),
            )
            for bus in manifest.buses
        }
        reconcile(users.cluster.url, credentials, manifest)
        yield WorkerSystem(directory, users, database_url)


@dataclass
class WorkerRun:
    sent: int
    acked: int
    rows: int
    missing_rows: list[str]
    welcomed_events: int
    in_flight_at_kill: int
    redeliveries: int
    absorbed: int
    drained: bool
    survivor_handled: int
    figures: Figures


async def worker_fault(system: WorkerSystem, events: int = 600) -> WorkerRun:
    """Two welcome workers share the queue consumer; one is frozen mid-batch, its unacked
    messages counted, then killed -9. The other must handle every message, those included."""
    a = system.start_welcome(1)
    urls = system.nats.cluster.urls
    accounts = await connect(urls, **system.nats.credential("accounts"))
    smoke = await connect(urls, **system.nats.credential(naming.smoke_user("core")))
    js = accounts.jetstream()
    b: Proc | None = None
    ids = [str(uuid.uuid4()) for _ in range(events)]
    try:
        await _settle_async(lambda: _pings(smoke, 1), 30, "one welcome answering")
        pending = []
        for i, account in enumerate(ids):
            payload = json.dumps({"id": account, "email": f"fault{i}@example.com"}).encode()
            pending.append(
                await js.publish_async(
                    "accounts.events.created", payload, headers={"Nats-Msg-Id": account}
                )
            )
        acks = await asyncio.gather(*pending, return_exceptions=True)
        acked = sum(not isinstance(a, BaseException) for a in acks)

        async def welcomed_rows() -> int:
            return await asyncio.to_thread(_count_rows, system.database_url, ids)

        # Freeze the worker mid-handling: some rows written, messages in its hands unacked.
        in_flight = 0
        for _ in range(50):
            await _settle_async(
                lambda: _at_least(welcomed_rows, events // 5), 30, "a fifth welcomed", poll=0.01
            )
            a.send(signal.SIGSTOP)
            info = await smoke.jetstream().consumer_info("ACCOUNTS", "welcome")
            in_flight = info.num_ack_pending
            if in_flight:
                break
            a.send(signal.SIGCONT)  # between two fetches: let it take its next batch
            await asyncio.sleep(0.01)
        b = system.start_welcome(2)
        # the frozen one does not answer
        await _settle_async(lambda: _pings(smoke, 1), 30, "only the new welcome answering")
        signal_and_wait(a, signal.SIGKILL)
        killed = time.monotonic()

        async def drained() -> bool:
            info: ConsumerInfo = await smoke.jetstream().consumer_info("ACCOUNTS", "welcome")
            return info.num_pending == 0 and info.num_ack_pending == 0

        done = await _settle_async(drained, 60, "the consumer drained", poll=0.1)
        info = await smoke.jetstream().consumer_info("ACCOUNTS", "welcome")
        redeliveries = info.delivered.consumer_seq - events
        welcomed = await _welcomed_events(smoke.jetstream())
        missing = await asyncio.to_thread(_missing_rows, system.database_url, ids)
        recovery = time.monotonic() - killed
    finally:
        await accounts.close()
        await smoke.close()
        for proc in (a, b):
            if proc is not None:
                proc.stop()
    survivor_log = b.log_file.read_text(errors="replace") if b else ""
    absorbed = survivor_log.count("already welcomed (redelivery)")
    figures = Figures(
        scenario="worker: kill -9 mid-batch",
        sent=events,
        acknowledged=acked,
        found=events - len(missing),
        duplicates_absorbed=absorbed,
        unavailable_s=recovery,
        note=(
            f"{in_flight} unacked at kill, {redeliveries} redelivered to the other worker "
            f"(ack wait {WORKER_ACK_WAIT})"
        ),
    )
    return WorkerRun(
        sent=events,
        acked=acked,
        rows=events - len(missing),
        missing_rows=missing,
        welcomed_events=welcomed,
        in_flight_at_kill=in_flight,
        redeliveries=redeliveries,
        absorbed=absorbed,
        drained=done,
        survivor_handled=survivor_log.count(" welcomed; ") + absorbed,
        figures=figures,
    )


async def _pings(nc: Client, count: int) -> bool:
    return len(await discover(nc, "PING", "welcome", timeout=0.3)) == count


async def _at_least(read: Callable[[], Awaitable[int]], n: int) -> bool:
    return await read() >= n


def _count_rows(url: str, ids: list[str]) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM welcomes WHERE account_id = ANY(%s::uuid[])", (ids,)
        ).fetchone()
    return int(row[0]) if row else 0


def _missing_rows(url: str, ids: list[str]) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT account_id::text FROM welcomes WHERE account_id = ANY(%s::uuid[])", (ids,)
        ).fetchall()
    present = {r[0] for r in rows}
    return [i for i in ids if i not in present]


async def _welcomed_events(js: JetStreamContext) -> int:
    """How many accounts.events.welcomed ACCOUNTS holds (the smoke user reads stream info,
    not messages; the stream is the scenario's own, so this counts only its events)."""
    info = await js.stream_info("ACCOUNTS", subjects_filter=WELCOMED)
    return (info.state.subjects or {}).get(WELCOMED, 0)


# -- PostgreSQL killed -9 during writes ------------------------------------------------------


@dataclass
class PgRun:
    committed: set[str]
    in_doubt: set[str]
    interrupted: set[str]
    present: set[str]
    absorbed: int
    writes_after_restart: int
    figures: Figures

    @property
    def lost(self) -> set[str]:
        return self.committed - self.present


def postgres_fault(server: LocalPostgres, writers: int = 4, write_s: float = 1.0) -> PgRun:
    """`writers` threads insert rows (autocommit) and note each commit that returned; the whole
    server (postmaster and backends) is killed -9 mid-way and started again; the writers keep
    retrying the row they were on, so an insert whose commit was lost in the crash is retried
    and absorbed by `ON CONFLICT DO NOTHING`."""
    url = server.url()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS fault_rows")
        conn.execute("CREATE TABLE fault_rows (id text PRIMARY KEY, at timestamptz DEFAULT now())")
    stop = threading.Event()
    lock = threading.Lock()
    committed: set[str] = set()
    interrupted: set[str] = set()
    commit_times: list[float] = []
    absorbed = [0]
    sent = [0]

    def write(worker: int) -> None:
        conn: psycopg.Connection[Any] | None = None
        n = 0
        while not stop.is_set():
            key = f"{worker}-{n}"
            with lock:
                sent[0] += 1
            while True:
                try:
                    if conn is None or conn.closed:
                        conn = psycopg.connect(url, autocommit=True, connect_timeout=2)
                    inserted = conn.execute(
                        "INSERT INTO fault_rows (id) VALUES (%s) ON CONFLICT DO NOTHING", (key,)
                    ).rowcount
                except psycopg.Error:
                    with lock:
                        interrupted.add(key)
                    if conn is not None:
                        conn.close()
                    conn = None
                    if stop.is_set():
                        return
                    time.sleep(0.05)
                    continue
                with lock:
                    committed.add(key)
                    commit_times.append(time.monotonic())
                    absorbed[0] += inserted == 0
                break
            n += 1
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=write, args=(w,), daemon=True) for w in range(writers)]
    for thread in threads:
        thread.start()
    _settle(lambda: len(committed) >= 200, 15, "200 commits")
    time.sleep(write_s)
    killed_at = time.monotonic()
    signal_and_wait(server.proc, signal.SIGKILL)
    server.start()  # crash recovery replays the WAL
    restarted = time.monotonic()
    _settle(lambda: sum(t > restarted for t in commit_times) >= 200, 30, "200 commits after")
    time.sleep(write_s)
    stop.set()
    for thread in threads:
        thread.join(15)
    with psycopg.connect(url) as conn:
        present = {r[0] for r in conn.execute("SELECT id FROM fault_rows").fetchall()}
    after = sum(t > restarted for t in commit_times)
    in_doubt = interrupted - committed
    figures = Figures(
        scenario="postgres: kill -9 during writes",
        sent=sent[0],
        acknowledged=len(committed),
        found=len(committed & present),
        duplicates_absorbed=absorbed[0],
        unavailable_s=longest_gap(commit_times),
        note=(
            f"{len(interrupted)} writes cut by the crash and retried, {len(in_doubt)} left in "
            f"doubt; restart with crash recovery {restarted - killed_at:.1f}s"
        ),
    )
    return PgRun(committed, in_doubt, interrupted, present, absorbed[0], after, figures)


# -- the local stack's own processes killed ----------------------------------------------------

_NATS = ["nats-1", "nats-2", "nats-3"]
_SERVICES = ["gateway", "accounts", "welcome", "projector"]
KILL_ORDERS = {
    "servers-first": [*_NATS, "postgres", *_SERVICES],
    "services-first": [*reversed(_SERVICES), "postgres", *reversed(_NATS)],
    "dependencies-only": ["postgres", "nats-2"],
}
"""Which processes of `deploykit dev` to kill -9, in which order: all, from either end; or
only what the services depend on, while the services keep running."""


@dataclass
class StackRun:
    order: list[str]
    accounts_before: list[str]
    found_after: list[str]
    welcomed_after: dict[str, int]
    healthy: dict[str, bool]
    created_after: bool
    figures: Figures


def gateway_url(outputs: StackOutputs) -> str:
    return next(s.url for s in outputs.services if s.name == "gateway" and s.url)


def stack_health(stack: LocalStack, outputs: StackOutputs, within: float = 20.0) -> dict[str, bool]:
    """`deploykit smoke` against the recovered stack, probes skipped (they would add accounts),
    run until it passes or `within` seconds are over: a restarted node's replicas take a moment
    to catch up. Check name → passed (a skip with a reason counts as passed), of the last run."""
    manifest = load_manifest(stack.manifest_path)
    health: dict[str, bool] = {}

    def passes() -> bool:
        run = run_smoke(manifest, outputs, source="recovered stack", skip=["probes"])
        health.clear()
        health.update((r.name, r.status is not Status.FAIL) for r in run.results)
        return all(health.values())

    _settle(passes, within, "every smoke check passing", poll=0.5)
    return health


def local_stack_fault(
    stack: LocalStack, label: str, order: list[str], accounts: int = 5
) -> StackRun:
    """Create accounts through the gateway, kill -9 the named processes in `order`, run
    `up` again, and check the accounts, their welcomes, health and a fresh request."""
    outputs = load_outputs(stack.dir.outputs_file)
    gateway = gateway_url(outputs)
    tag = uuid.uuid4().hex[:8]
    created = []
    with httpx.Client(timeout=10) as http:
        for i in range(accounts):
            r = http.post(f"{gateway}/accounts", json={"email": f"kill-{tag}-{i}@example.com"})
            if r.status_code == 201:
                created.append(r.json()["id"])
    if outputs.database is None:
        raise RuntimeError("the local stack's outputs name no database")
    db = outputs.database.urls["welcome"]  # welcome owns its data
    _settle(lambda: _welcomes(db, created) == dict.fromkeys(created, 1), 15, "each welcomed once")
    procs = {name: proc for name, _, proc, _ in stack.processes()}
    killed_at = time.monotonic()
    for name in order:
        signal_and_wait(procs[name], signal.SIGKILL)
    stack.up(nodes=3)
    outputs = load_outputs(stack.dir.outputs_file)
    health = stack_health(stack, outputs)
    recovered = time.monotonic() - killed_at
    with httpx.Client(timeout=10) as http:
        found = [a for a in created if http.get(f"{gateway}/accounts/{a}").status_code == 200]
        fresh = http.post(f"{gateway}/accounts", json={"email": f"after-{tag}@example.com"})
    _settle(lambda: _welcomes(db, created) == dict.fromkeys(created, 1), 15, "each welcomed once")
    welcomed = _welcomes(db, created)
    figures = Figures(
        scenario=f"dev: kill -9 {label}",
        sent=accounts,
        acknowledged=len(created),
        found=len(found),
        duplicates_absorbed=0,
        unavailable_s=recovered,
        note=f"{len(order)} killed, then `up`; smoke {sum(health.values())}/{len(health)} pass",
    )
    return StackRun(order, created, found, welcomed, health, fresh.status_code == 201, figures)


def _welcomes(url: str, ids: list[str]) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT account_id::text, count(*) FROM welcomes "
            "WHERE account_id = ANY(%s::uuid[]) GROUP BY 1",
            (ids,),
        ).fetchall()
    return {r[0]: int(r[1]) for r in rows}
