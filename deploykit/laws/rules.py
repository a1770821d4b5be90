"""The laws of the architecture, as one table that both the lint and the permissions read.

Each `Law` has a name that the lint prints; `docs/laws.md` says for each what it asks, why,
and how the kit checks and enforces it. A `Rule` is one checkable consequence of a law, with a
stable id (DK101…).

Who may do what is data: `ROLE_LAWS` says which capabilities each role may and must use.
`denials` turns it into the capabilities a service declares but may not use, each with the
rule it breaks; `lint` reports them, and `granted` is what `permissions.py` compiles into NATS
permissions. A capability the lint refuses is therefore one the server refuses too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from deploykit.manifest.crossbus import CrossPath, PathKind, cross_paths
from deploykit.manifest.model import Access, ConsumeMode, Manifest, Role, Service
from deploykit.manifest.units import format_duration

__all__ = [
    "ROLE_LAWS",
    "RULES",
    "TARGET_CLUSTER_SIZE",
    "Capability",
    "Denial",
    "Finding",
    "Law",
    "RoleLaw",
    "Rule",
    "Severity",
    "callable_endpoints",
    "declared",
    "denials",
    "granted",
    "lint",
    "refused_paths",
]

TARGET_CLUSTER_SIZE: Mapping[str, int] = MappingProxyType({"local": 3, "small": 3, "metal": 3})
"""NATS nodes per target: `deploykit dev` and metal run 3-node clusters; Synadia Cloud is R3."""

CORE_REPLICAS = 3
LARGE_OBJECT_STORE = 1024**3
LONG_LIVED_OBJECT_STORE = 7 * 86400.0


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


class Capability(StrEnum):
    """What a service can do on the bus; each maps to the manifest field that declares it."""

    REQUEST = "request"  # `calls`: send RPC requests
    ANSWER = "answer"  # `endpoints`: answer RPC requests as a NATS Service
    EMIT = "emit"  # `emits`: publish events into JetStream
    CONSUME = "consume"  # `consumes`: read streams through consumers
    WRITE = "write"  # `kv`/`object_stores: write`: store state in JetStream


@dataclass(frozen=True)
class RoleLaw:
    may: frozenset[Capability]
    must: frozenset[Capability]


ROLE_LAWS: Mapping[Role, RoleLaw] = MappingProxyType(
    {
        Role.FRONTEND: RoleLaw(frozenset({Capability.REQUEST}), frozenset()),
        Role.RPC: RoleLaw(
            frozenset({Capability.ANSWER, Capability.EMIT, Capability.WRITE}),
            frozenset({Capability.ANSWER}),
        ),
        Role.WORKER: RoleLaw(
            frozenset({Capability.EMIT, Capability.CONSUME, Capability.WRITE}),
            frozenset({Capability.CONSUME}),
        ),
    }
)
"""frontend: forwards requests, reads state. rpc: answers requests, writes its state, emits
events. worker: consumes streams, writes its state, emits events (from queue consumers)."""


class Law(StrEnum):
    """The laws by name, as the lint prints them after each rule's reason."""

    FRONTENDS_FORWARD = "frontends only forward requests"
    NO_RPC_INSIDE = "no RPC inside the application"
    ONE_ROLE = "rpc services answer, workers handle events"
    FANOUT_SILENT = "fanout subscribers never produce events"
    QUEUE_CAUSES = "events that cause events come from a queue"
    READ_MODELS = "every instance keeps its own read model"
    WARM_UP = "new instances warm up before they serve"
    EPHEMERAL_OBJECTS = "object stores are ephemeral"
    EVENT_STORE = "the event store is replicated and backed up"
    BOUNDED_STREAMS = "streams are bounded"
    NOISY_APART = "noisy traffic has its own bus"
    ONE_WAY = "events flow one way between buses"


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    of: Law
    why: str
    fix: str

    @property
    def law(self) -> str:
        """The reason and the law's name, as the lint prints them."""
        return f"{self.why} (law: {self.of})."


@dataclass(frozen=True)
class Finding:
    """One law one part of the manifest breaks; `message` says what exactly, here."""

    rule: str
    severity: Severity
    concerns: str
    path: str
    message: str
    law: str
    fix: str


@dataclass(frozen=True)
class Denial:
    """A capability a service declares and may not use, and the rule that says so."""

    capability: Capability
    rule: str
    path: str
    message: str


def _rules(*rules: Rule) -> Mapping[str, Rule]:
    return MappingProxyType({rule.id: rule for rule in rules})


E, W = Severity.ERROR, Severity.WARNING
RULES: Mapping[str, Rule] = _rules(
    Rule(
        "DK101",
        E,
        Law.NO_RPC_INSIDE,
        "RPC is forbidden inside the application: only frontends send requests, services talk "
        "through JetStream events",
        "remove `calls`; emit an event that the other service consumes, or keep a read model "
        "fed by its events",
    ),
    Rule(
        "DK102",
        E,
        Law.ONE_ROLE,
        "Only rpc services answer requests: a frontend only forwards them and a worker only "
        "handles events",
        "move the endpoints to an rpc service, or make this service `role: rpc`",
    ),
    Rule(
        "DK103",
        E,
        Law.FRONTENDS_FORWARD,
        "A frontend never pushes events: every user action needs feedback, so it calls an RPC "
        "endpoint and that service emits the event",
        "remove `emits`; call an endpoint of the rpc service that emits the event",
    ),
    Rule(
        "DK104",
        E,
        Law.FRONTENDS_FORWARD,
        "Only workers consume streams: a frontend forwards requests and an rpc service answers "
        "them",
        "move the consumer to a worker service",
    ),
    Rule(
        "DK105",
        E,
        Law.FRONTENDS_FORWARD,
        "A frontend only reads state: writing a KV bucket or object store is a JetStream "
        "publish, which is forbidden in frontends",
        "declare the access as `read` and let an rpc service write",
    ),
    Rule(
        "DK106",
        E,
        Law.ONE_ROLE,
        "An rpc service exists to answer requests, so it has at least one endpoint",
        "add `endpoints`, or make it `role: worker` if it only handles events",
    ),
    Rule(
        "DK107",
        E,
        Law.ONE_ROLE,
        "A worker handles events, so it consumes at least one stream",
        "add a `consumes` entry, or make it `role: rpc` if it answers requests",
    ),
    Rule(
        "DK108",
        E,
        Law.NO_RPC_INSIDE,
        "Requests go to rpc services only: they are the NATS Services that answer them",
        "call an endpoint of an rpc service",
    ),
    Rule(
        "DK201",
        E,
        Law.FANOUT_SILENT,
        "An event received through a fanout subscription never produces another event: every "
        "instance receives it, so each would publish it again",
        "drop `emits`, or emit from a separate worker that reads the stream with `mode: queue`",
    ),
    Rule(
        "DK202",
        E,
        Law.QUEUE_CAUSES,
        "Events that lead to other events come from a queue subscription, so exactly one "
        "instance handles each",
        "consume the triggering stream with `mode: queue`",
    ),
    Rule(
        "DK203",
        E,
        Law.WARM_UP,
        "A new instance of a read-model service replays history (warm-up) before it serves or "
        "joins a subscription",
        "set `warmup: true` on its fanout consumers",
    ),
    Rule(
        "DK204",
        E,
        Law.READ_MODELS,
        "Every instance keeps its own read model, so every instance must see every event: a "
        "read model is fed by a fanout consumer",
        "consume the stream with `mode: fanout`",
    ),
    Rule(
        "DK301",
        W,
        Law.EPHEMERAL_OBJECTS,
        "Object stores are ephemeral storage, not S3: a large one is data that will be lost",
        f"set `max_bytes` to at most {LARGE_OBJECT_STORE // 1024**3}GiB, or keep the files in "
        "durable storage",
    ),
    Rule(
        "DK302",
        W,
        Law.EPHEMERAL_OBJECTS,
        "Object stores are ephemeral storage: files kept for long are data that will be lost",
        f"set `max_age` to at most {format_duration(LONG_LIVED_OBJECT_STORE)}, or keep the "
        "files in durable storage",
    ),
    Rule(
        "DK401",
        E,
        Law.EVENT_STORE,
        "The event store is the single source of truth, so core-bus streams are replicated on "
        "a clustered target",
        f"set `replicas: {CORE_REPLICAS}`",
    ),
    Rule(
        "DK402",
        E,
        Law.EVENT_STORE,
        "The event store is the single source of truth: core-bus streams are backed up",
        "set `backup: true`",
    ),
    Rule(
        "DK403",
        W,
        Law.BOUNDED_STREAMS,
        "A stream without limits grows until the disk is full and takes the bus down with it",
        "set `max_age`, `max_bytes` or `max_msgs`",
    ),
    Rule(
        "DK501",
        E,
        Law.NOISY_APART,
        "Noisy streams (analytics, logs) live on their own bus so their volume cannot starve "
        "the core",
        "move the stream to a non-core bus (`bus: analytics`)",
    ),
    Rule(
        "DK601",
        E,
        Law.NOISY_APART,
        "A noisy stream lives on its own bus so that its volume cannot starve the core: "
        "reading it onto the core bus, through a consumer or a copy, brings the volume back",
        "read it from a service or stream on a non-core bus, or declare a smaller, not noisy "
        "stream of the events the core needs",
    ),
    Rule(
        "DK602",
        E,
        Law.ONE_WAY,
        "Buses whose events feed each other are one bus in disguise: an event can come back "
        "to the bus it left, and an outage of either stops the other",
        "keep one direction between the buses: move the consumer or the copy to the bus the "
        "events come from, or let a frontend call an endpoint instead",
    ),
)
del E, W

_FORBIDDEN_RULE = MappingProxyType(
    {
        Capability.REQUEST: "DK101",
        Capability.ANSWER: "DK102",
        Capability.EMIT: "DK103",
        Capability.CONSUME: "DK104",
        Capability.WRITE: "DK105",
    }
)
_REQUIRED_RULE = MappingProxyType({Capability.ANSWER: "DK106", Capability.CONSUME: "DK107"})
_FIELD = MappingProxyType(
    {
        Capability.REQUEST: "calls",
        Capability.ANSWER: "endpoints",
        Capability.EMIT: "emits",
        Capability.CONSUME: "consumes",
        Capability.WRITE: "kv",
    }
)


def declared(service: Service) -> frozenset[Capability]:
    """The capabilities the manifest asks for on behalf of a service."""
    writes = Access.WRITE in (*service.kv.values(), *service.object_stores.values())
    uses = {
        Capability.REQUEST: bool(service.calls),
        Capability.ANSWER: bool(service.endpoints),
        Capability.EMIT: bool(service.emits),
        Capability.CONSUME: bool(service.consumes),
        Capability.WRITE: writes,
    }
    return frozenset(c for c, used in uses.items() if used)


def denials(manifest: Manifest, name: str) -> list[Denial]:
    """Every capability `name` declares and may not use: by its role, or by laws E and F."""
    service = manifest.services[name]
    base = f"services.{name}"
    found = [
        Denial(
            capability,
            _FORBIDDEN_RULE[capability],
            f"{base}.{_field(service, capability)}",
            f"{_a(service.role)} service {_uses(service, capability)}",
        )
        for capability in sorted(declared(service) - ROLE_LAWS[service.role].may)
    ]
    if Capability.EMIT in declared(service) and Capability.EMIT in ROLE_LAWS[service.role].may:
        modes = {consume.mode for consume in service.consumes}
        emits = _uses(service, Capability.EMIT)
        if ConsumeMode.FANOUT in modes:
            found.append(
                Denial(
                    Capability.EMIT,
                    "DK201",
                    f"{base}.emits",
                    f"it consumes through a fanout consumer and {emits}",
                )
            )
        elif service.role is Role.WORKER and ConsumeMode.QUEUE not in modes:
            found.append(
                Denial(
                    Capability.EMIT,
                    "DK202",
                    f"{base}.emits",
                    f"it {emits} without a queue consumer",
                )
            )
    return found


def granted(manifest: Manifest, name: str) -> frozenset[Capability]:
    """What the NATS permissions of `name` allow: declared, minus every denial."""
    service = manifest.services[name]
    return declared(service) - {denial.capability for denial in denials(manifest, name)}


def callable_endpoints(manifest: Manifest, name: str) -> list[str]:
    """The `service.endpoint` calls of `name` that reach a service allowed to answer."""
    if Capability.REQUEST not in granted(manifest, name):
        return []
    return [
        call
        for call in manifest.services[name].calls
        if Capability.ANSWER in granted(manifest, call.partition(".")[0])
    ]


def refused_paths(manifest: Manifest) -> frozenset[str]:
    """The cross-bus paths (manifest field paths) an error-level rule refuses: they get no
    export, no import and no permission, so the server refuses them too."""
    return frozenset(path for rule in _PATH_RULES for _, path, _ in _CHECKS[rule](manifest, None))


def lint(manifest: Manifest, cluster_size: int | None = None) -> list[Finding]:
    """Every finding, rule by rule in table order; `cluster_size` None means "not known"."""
    return [
        Finding(rule_id, rule.severity, concerns, path, message, rule.law, rule.fix)
        for rule_id, rule in RULES.items()
        for concerns, path, message in _CHECKS[rule_id](manifest, cluster_size)
    ]


Hit = tuple[str, str, str]  # concerns, path, message
Check = Callable[[Manifest, int | None], Iterator[Hit]]


def _field(service: Service, capability: Capability) -> str:
    if capability is Capability.WRITE and Access.WRITE not in service.kv.values():
        return "object_stores"
    return _FIELD[capability]


def _a(role: Role) -> str:
    return f"an {role.value}" if role is Role.RPC else f"a {role.value}"


def _uses(service: Service, capability: Capability) -> str:
    """What the service declares for a capability, in words: "emits a.b, a.c"."""
    match capability:
        case Capability.REQUEST:
            return "calls " + ", ".join(service.calls)
        case Capability.ANSWER:
            return "has endpoints " + ", ".join(service.endpoints)
        case Capability.EMIT:
            return "emits " + ", ".join(service.emits)
        case Capability.CONSUME:
            return "consumes " + ", ".join(f"{c.stream}/{c.consumer}" for c in service.consumes)
        case Capability.WRITE:
            stores = {**service.kv, **service.object_stores}
            return "writes " + ", ".join(n for n, a in stores.items() if a is Access.WRITE)


def _denied(rule_id: str) -> Check:
    def check(manifest: Manifest, _: int | None) -> Iterator[Hit]:
        for name in manifest.services:
            for denial in denials(manifest, name):
                if denial.rule == rule_id:
                    yield f"service {name}", denial.path, denial.message

    return check


def _required(rule_id: str) -> Check:
    (capability,) = (c for c, r in _REQUIRED_RULE.items() if r == rule_id)

    def check(manifest: Manifest, _: int | None) -> Iterator[Hit]:
        for name, service in manifest.services.items():
            needs = ROLE_LAWS[service.role].must
            if capability in needs and capability not in declared(service):
                yield (
                    f"service {name}",
                    f"services.{name}.{_FIELD[capability]}",
                    f"{_a(service.role)} service without {_FIELD[capability]}",
                )

    return check


def _calls_rpc(manifest: Manifest, _: int | None) -> Iterator[Hit]:
    for name, service in manifest.services.items():
        if Capability.REQUEST not in granted(manifest, name):
            continue  # DK101 already refuses every call
        reachable = callable_endpoints(manifest, name)
        for index, call in enumerate(service.calls):
            if call not in reachable:
                callee = manifest.services[call.partition(".")[0]]
                yield (
                    f"service {name}",
                    f"services.{name}.calls[{index}]",
                    f"{call} is an endpoint of {_a(callee.role)} service",
                )


def _warmup(manifest: Manifest, _: int | None) -> Iterator[Hit]:
    for name, service in manifest.services.items():
        if not service.read_model:
            continue
        for index, consume in enumerate(service.consumes):
            if consume.mode is ConsumeMode.FANOUT and not consume.warmup:
                yield (
                    f"service {name}",
                    f"services.{name}.consumes[{index}].warmup",
                    f"keeps a read model and its fanout consumer {consume.consumer!r} does not "
                    "warm up",
                )


def _read_model_fanout(manifest: Manifest, _: int | None) -> Iterator[Hit]:
    for name, service in manifest.services.items():
        modes = {consume.mode for consume in service.consumes}
        if service.read_model and ConsumeMode.FANOUT not in modes:
            yield (
                f"service {name}",
                f"services.{name}.consumes",
                "keeps a read model without a fanout consumer",
            )


def _object_store_large(manifest: Manifest, _: int | None) -> Iterator[Hit]:
    for name, store in manifest.object_stores.items():
        if store.max_bytes < 0 or store.max_bytes > LARGE_OBJECT_STORE:
            size = "unlimited" if store.max_bytes < 0 else f"{store.max_bytes} bytes"
            yield f"object store {name}", f"object_stores.{name}.max_bytes", f"max_bytes is {size}"


def _object_store_long(manifest: Manifest, _: int | None) -> Iterator[Hit]:
    for name, store in manifest.object_stores.items():
        if store.max_age > LONG_LIVED_OBJECT_STORE:
            yield (
                f"object store {name}",
                f"object_stores.{name}.max_age",
                f"max_age is {format_duration(store.max_age)}",
            )


def _core_replicas(manifest: Manifest, cluster_size: int | None) -> Iterator[Hit]:
    if cluster_size is None or cluster_size < 2:
        return
    wanted = min(CORE_REPLICAS, cluster_size)
    for name, stream in manifest.streams.items():
        if stream.bus == manifest.core_bus and stream.replicas < wanted:
            yield (
                f"stream {name}",
                f"streams.{name}.replicas",
                f"replicas is {stream.replicas} on a {cluster_size}-node cluster (want {wanted})",
            )


def _core_backup(manifest: Manifest, _: int | None) -> Iterator[Hit]:
    for name, stream in manifest.streams.items():
        if stream.bus == manifest.core_bus and not stream.backup:
            yield f"stream {name}", f"streams.{name}.backup", "a core-bus stream without backup"


def _no_limits(manifest: Manifest, _: int | None) -> Iterator[Hit]:
    for name, stream in manifest.streams.items():
        if not stream.has_limits:
            yield f"stream {name}", f"streams.{name}", "no max_age, max_bytes or max_msgs"


def _noisy_on_core(manifest: Manifest, _: int | None) -> Iterator[Hit]:
    for name, stream in manifest.streams.items():
        if stream.noisy and stream.bus == manifest.core_bus:
            yield (
                f"stream {name}",
                f"streams.{name}.bus",
                f"a noisy stream on the core bus {stream.bus!r}",
            )


def _event_paths(manifest: Manifest) -> list[CrossPath]:
    return [p for p in cross_paths(manifest) if p.kind is not PathKind.CALL]


def _concerns(path: CrossPath) -> str:
    return f"stream {path.target}" if path.kind is PathKind.SOURCE else f"service {path.user}"


def _noisy_into_core(manifest: Manifest, _: int | None) -> Iterator[Hit]:
    for path in _event_paths(manifest):
        assert path.stream
        if path.importer == manifest.core_bus and manifest.streams[path.stream].noisy:
            yield _concerns(path), path.path, f"{path.describe()}: a noisy stream, on the core bus"


def _bus_cycles(manifest: Manifest, _: int | None) -> Iterator[Hit]:
    """Each path that closes a cycle of buses, in manifest order, once."""
    feeds: dict[str, set[str]] = {}

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            bus = todo.pop()
            if bus == goal:
                return True
            if bus not in seen:
                seen.add(bus)
                todo += feeds.get(bus, ())
        return False

    for path in _event_paths(manifest):
        if reaches(path.importer, path.exporter):
            yield (
                _concerns(path),
                path.path,
                f"{path.describe()}, and events of bus {path.importer!r} already flow to "
                f"{path.exporter!r}",
            )
        feeds.setdefault(path.exporter, set()).add(path.importer)


_CHECKS: Mapping[str, Check] = MappingProxyType(
    {
        **{rule: _denied(rule) for rule in (*_FORBIDDEN_RULE.values(), "DK201", "DK202")},
        **{rule: _required(rule) for rule in _REQUIRED_RULE.values()},
        "DK108": _calls_rpc,
        "DK203": _warmup,
        "DK204": _read_model_fanout,
        "DK301": _object_store_large,
        "DK302": _object_store_long,
        "DK401": _core_replicas,
        "DK402": _core_backup,
        "DK403": _no_limits,
        "DK501": _noisy_on_core,
        "DK601": _noisy_into_core,
        "DK602": _bus_cycles,
    }
)
_PATH_RULES = ("DK601", "DK602")
