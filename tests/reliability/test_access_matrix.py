"""Every user against every class of subject, on a real nats-server, checked against the laws.

The expectation is derived here from `laws.py` (what each service is granted) and from the
documented duties of deploykit's own users, never from the compiled permissions: the server,
configured from the compiler's output, must agree with it subject by subject. Classes: RPC
endpoints (request and answer), event subjects (publish and core subscribe), the JetStream API
(streams and consumers, one's own and others'), KV buckets, object stores, the system account,
NATS Service discovery, and across buses: the other buses' endpoints and events, their
imported JetStream API (only a declared consumer's) and the delivery subjects of copies.

It runs on the reference manifest, on the three-bus example and on `lawless.yaml`, whose services declare everything
their roles forbid, so that denials by law are proven as well as denials by omission (and
which keeps a SQL copy, so the archiver's user is probed too).
`tests/integration/test_permissions_enforced.py` drives real operations for the reference
roles; this matrix covers the whole space, one raw publish or subscribe per cell.

The server holds no stream at all: a permitted JetStream API publish (no reply subject)
touches nothing, so even `STREAM.DELETE` can be probed safely.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import nats
import nats.errors
import pytest

from deploykit.laws.exports import bench_links
from deploykit.laws.natsapi import MICRO_QUEUE_GROUP
from deploykit.laws.permissions import compile_authorization
from deploykit.laws.rules import Capability, callable_endpoints, granted, refused_paths
from deploykit.local.stack import LocalStack
from deploykit.manifest import naming
from deploykit.manifest.crossbus import PathKind
from deploykit.manifest.load import load_manifest
from deploykit.manifest.model import Access, ConsumeMode, Manifest, Role
from deploykit.testing.natsusers import NatsUsers, nats_with_users

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = {
    "reference": ROOT / "deploykit.yaml",
    "lawless": Path(__file__).with_name("lawless.yaml"),
    "three-buses": ROOT / "examples" / "three-buses" / "deploykit.yaml",
}
VIOLATION = re.compile(
    r'permissions violation for (publish|subscription) to "([^"]+)"(?: using queue "([^"]+)")?',
    re.I,
)
API = "$JS.API"


@dataclass(frozen=True)
class Cell:
    """One publish or subscribe, the class of subject it belongs to, and what the laws say."""

    kind: str
    verb: Literal["pub", "sub"]
    subject: str
    allowed: bool
    queue: str = ""

    def __str__(self) -> str:
        queue = f" (queue {self.queue})" if self.queue else ""
        return f"{self.kind:<10} {self.verb} {self.subject}{queue}"


def concrete(subject: str) -> str:
    """A subject a wildcard pattern matches: `orders.events.>` → `orders.events.x`."""
    return ".".join("x" if t in ("*", ">") else t for t in subject.split("."))


def events(manifest: Manifest) -> list[str]:
    emitted = [s for service in manifest.services.values() for s in service.emits]
    captured = [concrete(s) for stream in manifest.streams.values() for s in stream.subjects]
    return list(dict.fromkeys([*emitted, *captured]))


def queue_consumers(manifest: Manifest) -> list[tuple[str, str, str]]:
    """(owner, stream, consumer) of every declared queue consumer."""
    return [
        (name, c.stream, c.consumer)
        for name, s in manifest.services.items()
        for c in s.consumes
        if c.mode is ConsumeMode.QUEUE
    ]


def service_cells(manifest: Manifest, name: str) -> list[Cell]:
    """A service may use what `laws.granted` leaves it of what it declares, and nothing else."""
    service = manifest.services[name]
    can = granted(manifest, name)
    calls = set(callable_endpoints(manifest, name))
    cells = []
    for call, subject in manifest.endpoint_subjects().items():
        answers = call.partition(".")[0] == name and Capability.ANSWER in can
        cells += [
            Cell("endpoint", "pub", subject, call in calls),
            Cell("endpoint", "sub", subject, answers, MICRO_QUEUE_GROUP),
            Cell("endpoint", "sub", subject, False),  # outside the group: every request
        ]
    for subject in events(manifest):
        emits = Capability.EMIT in can and subject in service.emits
        cells += [Cell("event", "pub", subject, emits), Cell("event", "sub", subject, False)]
    consumes = Capability.CONSUME in can
    fanout = {c.stream for c in service.consumes if c.mode is ConsumeMode.FANOUT and consumes}
    for stream in manifest.streams:
        own = naming.fanout_consumer_name(name, "probe")
        cells += [
            Cell("jetstream", "pub", f"{API}.STREAM.{verb}.{stream}", False)
            for verb in ("CREATE", "UPDATE", "DELETE", "INFO", "PURGE", "MSG.GET")
        ]
        cells += [
            Cell("jetstream", "pub", f"{API}.CONSUMER.{verb}.{stream}.{own}", stream in fanout)
            for verb in ("CREATE", "MSG.NEXT", "DELETE")
        ]
    refused = refused_paths(manifest)
    for owner, stream, consumer in queue_consumers(manifest):
        mine = owner == name and consumes
        bus = manifest.streams[stream].bus
        across = manifest.services[owner].bus != bus
        cells += [
            Cell("jetstream", "pub", f"{API}.CONSUMER.MSG.NEXT.{stream}.{consumer}", mine and not across),
            Cell("jetstream", "pub", f"$JS.ACK.{stream}.{consumer}.1.1.1.1.1", mine),
            Cell("jetstream", "pub", f"{API}.CONSUMER.CREATE.{stream}.{consumer}", False),
            Cell("jetstream", "pub", f"{API}.CONSUMER.DELETE.{stream}.{consumer}", False),
        ]  # fmt: skip
        # across buses: that one consumer, under its bus's imported API, and nothing more
        declared_path = any(
            f"services.{owner}.consumes[{i}]" not in refused
            for i, c in enumerate(manifest.services[owner].consumes)
            if (c.stream, c.consumer) == (stream, consumer)
        )
        for other in manifest.buses:
            prefix = naming.crossbus_api(other)
            reads = mine and across and other == bus and declared_path
            cells += [
                Cell("crossbus", "pub", f"{prefix}.CONSUMER.MSG.NEXT.{stream}.{consumer}", reads),
                Cell("crossbus", "pub", f"{prefix}.CONSUMER.INFO.{stream}.{consumer}", reads),
                Cell("crossbus", "pub", f"{prefix}.CONSUMER.CREATE.{stream}.{consumer}", False),
            ]
    cells += crossbus_cells(manifest)
    cells.append(Cell("jetstream", "pub", f"{API}.INFO", False))
    writes = Capability.WRITE in can
    for bucket in manifest.kv:
        access = service.kv.get(bucket)
        cells += [
            Cell("kv", "pub", f"$KV.{bucket}.probe", writes and access is Access.WRITE),
            Cell("kv", "pub", f"{API}.STREAM.PURGE.KV_{bucket}", writes and access is Access.WRITE),
            Cell(
                "kv", "pub", f"{API}.DIRECT.GET.KV_{bucket}.$KV.{bucket}.probe", access is not None
            ),
            Cell("kv", "pub", f"{API}.STREAM.INFO.KV_{bucket}", access is not None),
        ]
    for store in manifest.object_stores:
        access = service.object_stores.get(store)
        cells += [
            Cell("object", "pub", f"$O.{store}.C.probe", writes and access is Access.WRITE),
            Cell("object", "pub", f"{API}.STREAM.INFO.OBJ_{store}", access is not None),
            Cell("object", "pub", f"{API}.CONSUMER.CREATE.OBJ_{store}", access is not None),
        ]
    # Rpc services and workers register a NATS Service (readiness); nobody else's answers.
    cells += [
        Cell("discovery", "sub", f"$SRV.PING.{name}", service.role is not Role.FRONTEND),
        Cell("discovery", "pub", "$SRV.PING", False),
    ]
    return cells + system_cells(False)


def crossbus_cells(manifest: Manifest) -> list[Cell]:
    """What no user may touch across buses: another bus's API beyond its declared consumers,
    and the delivery subjects of copies (only the copying stream's JetStream uses them)."""
    cells = []
    for bus in manifest.buses:
        prefix = naming.crossbus_api(bus)
        cells += [
            Cell("crossbus", "pub", f"{prefix}.INFO", False),
            Cell("crossbus", "pub", f"{prefix}.STREAM.INFO.any", False),
        ]
    for name, stream in manifest.streams.items():
        if stream.sources:
            deliver = f"{naming.source_deliver(stream.bus, name)}.x"
            cells += [
                Cell("crossbus", "pub", deliver, False),
                Cell("crossbus", "sub", deliver, False),
            ]
    return cells


def system_cells(allowed: bool) -> list[Cell]:
    return [
        Cell("system", "pub", "$SYS.REQ.SERVER.PING", allowed),
        Cell("system", "pub", "$SYS.REQ.ACCOUNT.core.CONNZ", allowed),
    ]


def smoke_cells(manifest: Manifest, bus: str) -> list[Cell]:
    """Smoke inspects its own bus, sends the probes, and writes only deploykit's smoke assets."""
    core = bus == manifest.core_bus
    probes = [
        p for p in manifest.probes if manifest.services[p.request.endpoint.split(".")[0]].bus == bus
    ]
    probed = {p.request.endpoint for p in probes}
    expected = {p.expect.event for p in probes}
    cells = []
    for call, subject in manifest.endpoint_subjects().items():
        cells += [
            Cell("endpoint", "pub", subject, call in probed),
            Cell("endpoint", "sub", subject, False, MICRO_QUEUE_GROUP),
        ]
    for subject in events(manifest):
        cells += [
            Cell("event", "pub", subject, False),
            Cell("event", "sub", subject, subject in expected),
        ]
    for stream, definition in manifest.streams.items():
        mine = definition.bus == bus
        cells += [
            Cell("jetstream", "pub", f"{API}.STREAM.INFO.{stream}", mine),
            Cell("jetstream", "pub", f"{API}.CONSUMER.INFO.{stream}.any", mine),
            *(
                Cell("jetstream", "pub", f"{API}.{verb}.{stream}", False)
                for verb in ("STREAM.CREATE", "STREAM.DELETE", "STREAM.PURGE", "STREAM.MSG.GET")
            ),
            Cell("jetstream", "pub", f"{API}.CONSUMER.CREATE.{stream}.any", False),
            Cell("jetstream", "pub", f"{API}.CONSUMER.MSG.NEXT.{stream}.any", False),
        ]
    cells += [
        Cell("jetstream", "pub", f"{API}.INFO", True),
        Cell("jetstream", "pub", "deploykit.smoke.probe", core),
        Cell("jetstream", "pub", f"{API}.STREAM.MSG.GET.{naming.SMOKE_STREAM}", core),
        Cell("kv", "pub", f"$KV.{naming.SMOKE_BUCKET}.probe", core),
        Cell("object", "pub", f"$O.{naming.SMOKE_OBJECT_STORE}.C.probe", core),
    ]
    for bucket, kv in manifest.kv.items():
        cells += [
            Cell("kv", "pub", f"$KV.{bucket}.probe", False),
            Cell("kv", "pub", f"{API}.DIRECT.GET.KV_{bucket}.$KV.{bucket}.probe", False),
            Cell("kv", "pub", f"{API}.STREAM.INFO.KV_{bucket}", kv.bus == bus),
        ]
    for store, definition in manifest.object_stores.items():
        cells += [
            Cell("object", "pub", f"$O.{store}.C.probe", False),
            Cell("object", "pub", f"{API}.STREAM.INFO.OBJ_{store}", definition.bus == bus),
        ]
    cells += [
        Cell("discovery", "pub", "$SRV.PING", True),
        Cell("discovery", "sub", "$SRV.PING.smoke", False),
        # deploykit bench, as the core bus's smoke user: core traffic no stream stores
        Cell("bench", "pub", "deploykit.bench.probe", core),
        Cell("bench", "sub", "deploykit.bench.probe", core),
    ]
    # deploykit bench across buses: only between the smoke users of the buses a path joins
    links = bench_links(manifest)
    answers = core or any(p.kind is PathKind.CALL and p.exporter == bus for p in links)
    cells.append(Cell("discovery", "sub", f"$SRV.PING.{naming.BENCH_SERVICE}", answers))
    for other in manifest.buses:
        called = [p for p in links if p.kind is PathKind.CALL and p.exporter == other]
        subject = f"{naming.bench_crossbus(other)}.probe"
        cells += [
            Cell("bench", "pub", subject, core or any(bus in (p.importer, other) for p in called)),
            Cell("bench", "sub", subject, core or (bus == other and bool(called))),
        ]
        pulled = [p for p in links if p.kind is PathKind.CONSUMER and p.importer == other]
        consumer = naming.bench_consumer(other)
        next_ = f"{naming.crossbus_api(manifest.core_bus)}.CONSUMER.MSG.NEXT"
        allowed = bus == other and bool(pulled)
        cells.append(Cell("bench", "pub", f"{next_}.{naming.SMOKE_STREAM}.{consumer}", allowed))
    return cells + crossbus_cells(manifest) + system_cells(False)


def provisioning_cells(manifest: Manifest) -> list[Cell]:
    """Provisioning defines streams and consumers in its account and touches no message."""
    cells = [Cell("endpoint", "pub", s, False) for s in manifest.endpoint_subjects().values()]
    for subject in events(manifest):
        cells += [Cell("event", "pub", subject, False), Cell("event", "sub", subject, False)]
    streams = [*manifest.streams, *(f"KV_{b}" for b in manifest.kv)]
    streams += [f"OBJ_{o}" for o in manifest.object_stores]
    for stream in streams:
        cells += [
            *(
                Cell("jetstream", "pub", f"{API}.STREAM.{verb}.{stream}", True)
                for verb in ("CREATE", "UPDATE", "DELETE", "INFO")
            ),
            *(
                Cell("jetstream", "pub", f"{API}.CONSUMER.{verb}.{stream}.any", True)
                for verb in ("CREATE", "DELETE", "INFO")
            ),
            Cell("jetstream", "pub", f"{API}.STREAM.MSG.GET.{stream}", False),
            Cell("jetstream", "pub", f"{API}.STREAM.PURGE.{stream}", False),
            Cell("jetstream", "pub", f"{API}.CONSUMER.MSG.NEXT.{stream}.any", False),
            Cell("jetstream", "pub", f"$JS.ACK.{stream}.any.1.1.1.1.1", False),
        ]
    cells.append(Cell("jetstream", "pub", f"{API}.INFO", True))
    cells += [Cell("kv", "pub", f"$KV.{b}.probe", False) for b in manifest.kv]
    cells += [
        Cell("kv", "pub", f"{API}.DIRECT.GET.KV_{b}.$KV.{b}.probe", False) for b in manifest.kv
    ]
    cells += [Cell("object", "pub", f"$O.{o}.C.probe", False) for o in manifest.object_stores]
    cells += [Cell("discovery", "pub", "$SRV.PING", False)]
    return cells + crossbus_cells(manifest) + system_cells(False)


def backup_cells(manifest: Manifest) -> list[Cell]:
    """Backup reads every stream of its account through ordered consumers and publishes
    restores to `deploykit.restore.>`; it defines, deletes, purges and acks nothing and writes
    no live subject."""
    cells = [Cell("endpoint", "pub", s, False) for s in manifest.endpoint_subjects().values()]
    for subject in events(manifest):
        cells += [Cell("event", "pub", subject, False), Cell("event", "sub", subject, False)]
    for stream in [*manifest.streams, *(f"KV_{b}" for b in manifest.kv)]:
        cells += [
            Cell("jetstream", "pub", f"{API}.STREAM.INFO.{stream}", True),
            Cell("jetstream", "pub", f"{API}.CONSUMER.CREATE.{stream}", True),
            Cell("jetstream", "pub", f"{API}.CONSUMER.INFO.{stream}.any", True),
            Cell("jetstream", "pub", f"$JS.FC.{stream}.any", True),
            *(
                Cell("jetstream", "pub", f"{API}.STREAM.{verb}.{stream}", False)
                for verb in ("CREATE", "UPDATE", "DELETE", "PURGE", "MSG.DELETE")
            ),
            Cell("jetstream", "pub", f"{API}.CONSUMER.DURABLE.CREATE.{stream}.any", False),
            Cell("jetstream", "pub", f"{API}.CONSUMER.MSG.NEXT.{stream}.any", False),
            Cell("jetstream", "pub", f"$JS.ACK.{stream}.any.1.1.1.1.1", False),
        ]
    cells += [
        Cell("jetstream", "pub", f"{API}.INFO", True),
        Cell("restore", "pub", f"{naming.RESTORE_PREFIX}.ANY.accounts.x", True),
        Cell("restore", "sub", f"{naming.RESTORE_PREFIX}.ANY.accounts.x", False),
    ]
    cells += [Cell("kv", "pub", f"$KV.{b}.probe", False) for b in manifest.kv]
    cells += [Cell("object", "pub", f"$O.{o}.C.probe", False) for o in manifest.object_stores]
    cells += [Cell("discovery", "pub", "$SRV.PING", False)]
    return cells + crossbus_cells(manifest) + system_cells(False)


def archiver_cells(manifest: Manifest, bus: str) -> list[Cell]:
    """The archiver of the SQL copy pulls from and acks its own consumer on the archived streams
    of its bus, and answers discovery; it reads no other consumer, defines nothing, writes no
    event and cannot read the events on the wire."""
    archived = manifest.sql_archived().get(bus, [])
    mine = naming.ARCHIVE_CONSUMER
    cells = [Cell("endpoint", "pub", s, False) for s in manifest.endpoint_subjects().values()]
    for subject in events(manifest):
        cells += [Cell("event", "pub", subject, False), Cell("event", "sub", subject, False)]
    for stream in manifest.streams:
        ours = stream in archived
        cells += [
            Cell("jetstream", "pub", f"{API}.CONSUMER.INFO.{stream}.{mine}", ours),
            Cell("jetstream", "pub", f"{API}.CONSUMER.MSG.NEXT.{stream}.{mine}", ours),
            Cell("jetstream", "pub", f"$JS.ACK.{stream}.{mine}.1.1.1.1.1", ours),
            Cell("jetstream", "pub", f"{API}.CONSUMER.CREATE.{stream}.{mine}", False),
            Cell("jetstream", "pub", f"{API}.CONSUMER.DELETE.{stream}.{mine}", False),
            Cell("jetstream", "pub", f"{API}.CONSUMER.MSG.NEXT.{stream}.other", False),
            Cell("jetstream", "pub", f"$JS.ACK.{stream}.other.1.1.1.1.1", False),
            *(
                Cell("jetstream", "pub", f"{API}.STREAM.{verb}.{stream}", False)
                for verb in ("CREATE", "UPDATE", "DELETE", "PURGE", "INFO", "MSG.GET")
            ),
        ]
    name = naming.archiver_user(bus)
    cells += [
        Cell("jetstream", "pub", f"{API}.INFO", False),
        Cell("restore", "pub", f"{naming.RESTORE_PREFIX}.ANY.accounts.x", False),
        Cell("discovery", "sub", f"$SRV.PING.{name}", True),
        Cell("discovery", "pub", "$SRV.PING", False),
    ]
    cells += [Cell("kv", "pub", f"$KV.{b}.probe", False) for b in manifest.kv]
    cells += [Cell("object", "pub", f"$O.{o}.C.probe", False) for o in manifest.object_stores]
    return cells + crossbus_cells(manifest) + system_cells(False)


def system_user_cells(manifest: Manifest) -> list[Cell]:
    """The system user asks the servers about themselves, nothing else."""
    cells = system_cells(True)
    cells += [Cell("endpoint", "pub", s, False) for s in manifest.endpoint_subjects().values()]
    cells += [Cell("event", "pub", s, False) for s in events(manifest)]
    cells += [Cell("jetstream", "pub", f"{API}.INFO", False)]
    return cells


def expected(manifest: Manifest, user: str) -> list[Cell]:
    if user in manifest.services:
        return service_cells(manifest, user)
    for bus in manifest.buses:
        if user == naming.smoke_user(bus):
            return smoke_cells(manifest, bus)
        if user == naming.provisioning_user(bus):
            return provisioning_cells(manifest)
        if user == naming.backup_user(bus):
            return backup_cells(manifest)
        if user == naming.archiver_user(bus):
            return archiver_cells(manifest, bus)
    assert user == naming.SYSTEM_USER, f"a user no law describes: {user}"
    return system_user_cells(manifest)


@pytest.fixture(scope="module", params=list(MANIFESTS))
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[NatsUsers]:
    manifest = load_manifest(MANIFESTS[request.param])
    with nats_with_users(tmp_path_factory.mktemp(f"access-{request.param}"), manifest) as server:
        yield server


async def probe(server: NatsUsers, user: str, cells: list[Cell]) -> list[str]:
    """Try every cell as `user` on one connection, then match the server's violations to the
    cells by (verb, subject, queue); the cells where the server and the laws disagree."""
    violations: set[tuple[str, str, str]] = set()
    unexpected: list[str] = []

    async def on_error(exc: Exception) -> None:
        if match := VIOLATION.search(str(exc)):
            verb, subject, queue = match.groups()
            violations.add(("pub" if verb.lower() == "publish" else "sub", subject, queue or ""))
        else:
            unexpected.append(str(exc))

    nc = await server.connect(user, error_cb=on_error, allow_reconnect=False)
    try:
        for cell in cells:
            if cell.verb == "pub":
                await nc.publish(cell.subject, b"")
            else:
                await (await nc.subscribe(cell.subject, queue=cell.queue)).unsubscribe()
        for _ in range(2):  # violations come asynchronously: two round trips settle them
            await nc.flush(timeout=5)
    finally:
        await nc.close()
    assert not unexpected, unexpected
    wrong = []
    for cell in cells:
        denied = (cell.verb, cell.subject.lower(), cell.queue) in violations
        if denied == cell.allowed:
            laws = "allowed" if cell.allowed else "denied"
            wrong.append(
                f"{cell}: the laws say {laws}, the server {'refused' if denied else 'allowed'}"
            )
    return wrong


def users(manifest: Manifest) -> list[str]:
    return [*manifest.services, *naming.deploykit_users(manifest.buses, manifest.sql_archived())]


def test_the_compiler_makes_no_user_the_laws_do_not_describe(server: NatsUsers) -> None:
    assert set(compile_authorization(server.manifest).users) == set(users(server.manifest))


def test_every_user_against_every_class_of_subject(server: NatsUsers) -> None:
    wrong = {}
    counts = {}
    for user in users(server.manifest):
        cells = expected(server.manifest, user)
        keys = [(c.verb, c.subject.lower(), c.queue) for c in cells]
        assert len(keys) == len(set(keys)), f"{user}: a cell is listed twice"
        counts[user] = (len(cells), sum(c.allowed for c in cells))
        if mismatches := asyncio.run(probe(server, user, cells)):
            wrong[user] = mismatches
    print(
        f"\naccess matrix: {sum(n for n, _ in counts.values())} cells, {sum(a for _, a in counts.values())} allowed, {len(counts)} users"
    )
    assert not wrong, "\n".join(f"{u}:\n  " + "\n  ".join(m) for u, m in wrong.items())
    assert all(allowed for _, allowed in counts.values()), (
        "a user is allowed nothing: the matrix misses its duties"
    )


async def refused(url: str, **credentials: str) -> bool:
    try:
        nc = await nats.connect(
            url,
            allow_reconnect=False,
            connect_timeout=2,
            max_reconnect_attempts=0,
            error_cb=_quiet,
            **credentials,
        )
    except nats.errors.Error as exc:
        return "authorization violation" in str(exc).lower()
    await nc.close()
    return False


async def _quiet(_exc: Exception) -> None:
    """The refusal is the expected outcome; nats-py need not log it."""


def test_anonymous_and_wrong_passwords_are_refused(server: NatsUsers) -> None:
    url = server.cluster.url
    assert asyncio.run(refused(url))
    for user in users(server.manifest):
        assert asyncio.run(refused(url, user=user, password="not-" + server.passwords[user]))


def test_the_local_stack_refuses_anonymous_connections_on_every_node(dev_stack: LocalStack) -> None:
    state = dev_stack.dir.load()
    assert state
    layout = dev_stack._layout(state)
    for node in layout.nodes:
        assert asyncio.run(refused(node.client_url)), node.name
        config = layout.config_path(node).read_text()
        assert "no_auth_user" not in config and "accounts:" in config
