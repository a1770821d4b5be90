"""The system manifest (`deploykit.yaml`) as validated pydantic models.

Field-level rules (types, units, subject syntax) live on the fields, and so does the fields'
documentation: their descriptions are the manifest reference (`deploykit render manifest-docs`).
Rules that relate one part of the manifest to another (a consumer's stream exists, two streams
on a bus do not overlap) are in `references.py`. The architecture's laws are not here: they
are in `deploykit/laws/rules.py`, so that a manifest can be valid and still be linted for
breaking them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    model_validator,
)

from deploykit.manifest.kinds import ConsumeMode, Role
from deploykit.manifest.subjects import check_name, check_subject
from deploykit.manifest.units import parse_duration, parse_size

__all__ = [
    "Access",
    "Bus",
    "Consume",
    "ConsumeMode",
    "Contract",
    "Database",
    "Endpoint",
    "KeyValue",
    "Manifest",
    "ObjectStore",
    "Probe",
    "Role",
    "Service",
    "Source",
    "Stream",
]

Duration = Annotated[float, BeforeValidator(parse_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]
Subject = Annotated[str, AfterValidator(check_subject)]
Name = Annotated[str, AfterValidator(check_name)]
ServiceName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,62}$")]
Replicas = Annotated[int, Field(ge=1, le=5)]


def _defaults_to(text: str) -> dict[str, JsonValue]:
    """The default in words, for the reference, where the value is derived from other fields."""
    return {"default_doc": text}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class Access(StrEnum):
    READ = "read"
    WRITE = "write"


class Bus(Strict):
    """A NATS account. The core bus carries the business events; others isolate noisy traffic."""

    description: str = Field("", description="what travels on this bus, for people")
    core: bool = Field(
        False,
        description="the bus of the business events; exactly one bus is the core bus (a lone "
        "bus is, without saying so)",
    )


class Source(Strict):
    """A stream of another bus whose events a stream keeps a copy of (a JetStream source)."""

    stream: Name = Field(description="the stream it copies from, on another bus")
    filter: Subject | None = Field(
        None,
        description="only the events on these subjects (within the source stream's subjects)",
        json_schema_extra=_defaults_to("every event of the stream"),
    )


class Stream(Strict):
    """A JetStream stream: the event store. Streams on one bus never capture the same subject."""

    bus: Name = Field(
        description="the bus (NATS account) it lives on",
        json_schema_extra=_defaults_to("the core bus"),
    )
    subjects: list[Subject] = Field(
        default_factory=list,
        description="the event subjects it stores (wildcards allowed); every emitted subject is "
        "stored by a stream on its bus; a stream that only copies (`sources`) may have none",
    )
    sources: list[Source] = Field(
        default_factory=list,
        description="streams of other buses it keeps a copy of, on this bus's storage and "
        "limits; the kit exports and imports exactly what the copy needs",
    )
    description: str = Field("", description="what the stream holds, for people")
    retention: Literal["limits", "interest", "workqueue"] = Field(
        "limits",
        description="when messages go: at the limits, once every consumer has them, "
        "or once one consumer acknowledged them",
    )
    storage: Literal["file", "memory"] = Field("file", description="where messages are kept")
    replicas: Replicas = Field(
        3, description="copies kept by the cluster, 1 to 5 (capped at the cluster size)"
    )
    max_age: Duration = Field(0, description="messages older than this are removed; 0: no limit")
    max_bytes: Size = Field(-1, description="size limit of the stream; -1: no limit")
    max_msgs: Annotated[int, Field(ge=-1)] = Field(
        -1, description="number of messages kept; -1: no limit"
    )
    max_msg_size: Size = Field(-1, description="largest message accepted; -1: the server's limit")
    discard: Literal["old", "new"] = Field(
        "old", description="at a limit, remove the oldest messages or refuse new ones"
    )
    duplicate_window: Duration = Field(
        120, description="publishes with the same Nats-Msg-Id inside this window are stored once"
    )
    backup: bool = Field(
        False, description="snapshot it on a schedule; required on the core bus (rule DK402)"
    )
    noisy: bool = Field(
        False,
        description="high volume, low value per message (analytics, logs): must not live on the "
        "core bus (rule DK501)",
    )

    @property
    def has_limits(self) -> bool:
        return self.max_age > 0 or self.max_bytes > 0 or self.max_msgs > 0


class KeyValue(Strict):
    """A JetStream key-value bucket: shared state that services read or write by key."""

    bus: Name = Field(
        description="the bus (NATS account) it lives on",
        json_schema_extra=_defaults_to("the core bus"),
    )
    description: str = Field("", description="what the bucket holds, for people")
    history: Annotated[int, Field(ge=1, le=64)] = Field(
        1, description="revisions kept per key, 1 to 64"
    )
    ttl: Duration = Field(0, description="keys not updated for this long expire; 0: never")
    replicas: Replicas = Field(
        3, description="copies kept by the cluster, 1 to 5 (capped at the cluster size)"
    )
    storage: Literal["file", "memory"] = Field("file", description="where values are kept")
    max_value_size: Size = Field(-1, description="largest value accepted; -1: no limit")
    max_bytes: Size = Field(-1, description="size limit of the bucket; -1: no limit")


class ObjectStore(Strict):
    """Ephemeral by law: `max_age` is required, because object stores are not durable storage."""

    bus: Name = Field(
        description="the bus (NATS account) it lives on",
        json_schema_extra=_defaults_to("the core bus"),
    )
    max_age: Annotated[Duration, Field(gt=0)] = Field(
        description="objects older than this are removed (required: object stores are ephemeral)"
    )
    description: str = Field("", description="what the store holds, for people")
    replicas: Replicas = Field(
        1, description="copies kept by the cluster, 1 to 5 (capped at the cluster size)"
    )
    storage: Literal["file", "memory"] = Field("file", description="where objects are kept")
    max_bytes: Size = Field(-1, description="size limit of the store; -1: no limit")


class Database(Strict):
    """A PostgreSQL (or YugabyteDB) database and the role that owns it."""

    engine: Literal["postgres", "yugabyte"] = Field(
        "postgres", description="the database engine; one engine per system"
    )
    name: Name | None = Field(
        None, description="the database's name", json_schema_extra=_defaults_to("the key")
    )
    owner: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]{0,62}$")] | None = Field(
        None,
        description="the role that owns it, whose URL its services get",
        json_schema_extra=_defaults_to("the key, `-` as `_`"),
    )


class Backup(Strict):
    """How the event store is kept beyond the snapshots of `deploykit backup`."""

    sql: bool = Field(
        False,
        description="keep a SQL copy: an archiver (one per bus) writes every event of the "
        "streams marked `backup: true` into an append-only PostgreSQL table, "
        "`deploykit restore --from-sql` replays it",
    )


class Endpoint(Strict):
    """An endpoint of an rpc service's NATS Service."""

    subject: Subject | None = Field(
        None,
        description="the subject it answers on",
        json_schema_extra=_defaults_to("`<service>.<endpoint>`"),
    )
    description: str = Field("", description="what it does, shown by NATS service discovery")


class Consume(Strict):
    """How a service reads a stream: through a consumer, as a queue or as a fanout."""

    stream: Name = Field(
        description="the stream it reads, on its bus or another; across buses it reads through "
        "a queue consumer on that bus's stream (to fan out, declare a stream on its bus that "
        "`sources` it)"
    )
    consumer: Name = Field(description="the consumer's name (one per service and stream)")
    mode: ConsumeMode = Field(
        description="queue: one durable consumer, each event to one instance; fanout: every "
        "instance its own consumer, every event to every instance"
    )
    filter: Subject | None = Field(
        None, description="only the events on these subjects (within the stream's subjects)"
    )
    warmup: bool = Field(
        False,
        description="fanout: replay the whole stream before serving or joining (read models, "
        "rule DK203)",
    )
    ack_wait: Duration = Field(
        30, description="how long an event may be handled before it is delivered again"
    )
    max_deliver: Annotated[int, Field(ge=-1)] = Field(
        5, description="deliveries of one event before it is given up; -1: no limit"
    )
    max_ack_pending: Annotated[int, Field(ge=-1)] = Field(
        1000, description="events delivered and not yet acknowledged; -1: no limit"
    )
    dead_letter: Subject | None = Field(
        None, description="queue consumers: where a message goes after its last failed delivery"
    )


class Run(Strict):
    """How a service runs: a container image when deployed, a command on the local stack."""

    image: str | None = Field(None, description="the container image the tiers deploy")
    command: str | None = Field(
        None,
        description="the command `deploykit dev` runs, from the manifest's folder (`python` is "
        "deploykit's own Python; `python -m MODULE` or `python SCRIPT` is forked at its turn from "
        "one process that imported deploykit's runtime for all services, and runs as that "
        "command would, with its own environment, log and session; a `PYTHON*` variable in "
        "`env` gives it an interpreter of its own)",
    )
    port: Annotated[int, Field(ge=1, le=65535)] | None = Field(
        None, description="the HTTP port a frontend listens on (it gets it as PORT)"
    )
    env: dict[str, str] = Field(
        default_factory=dict, description="extra environment variables, on every target"
    )


class Resources(Strict):
    """What one instance of a service asks of the cluster (Kubernetes notation)."""

    cpu: str = Field("250m", description="CPU requested per instance")
    memory: str = Field("256Mi", description="memory requested and limited per instance")


class Service(Strict):
    """A service of the system, with its role and everything it uses on the bus."""

    role: Role = Field(
        description="frontend: only sends requests; rpc: answers requests, may emit and write; "
        "worker: consumes streams, emits only from a queue consumer"
    )
    bus: Name = Field(
        description="the bus (NATS account) it connects to",
        json_schema_extra=_defaults_to("the core bus"),
    )
    description: str = Field("", description="what the service does, for people")
    endpoints: dict[Name, Endpoint] = Field(
        default_factory=dict, description="rpc: the endpoints it answers, by name"
    )
    calls: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*\.[A-Za-z0-9_-]+$")]] = Field(
        default_factory=list,
        description="frontend: the `service.endpoint`s it sends requests to, on its bus or "
        "another (the kit exports and imports exactly those endpoints)",
    )
    emits: list[Subject] = Field(
        default_factory=list,
        description="the event subjects it publishes, each stored by a stream on its bus",
    )
    consumes: list[Consume] = Field(
        default_factory=list, description="worker: the streams it reads, each through a consumer"
    )
    kv: dict[Name, Access] = Field(
        default_factory=dict, description="the KV buckets it uses: `read` or `write`"
    )
    object_stores: dict[Name, Access] = Field(
        default_factory=dict, description="the object stores it uses: `read` or `write`"
    )
    database: Name | None = Field(
        None, description="the key of the database it gets a URL for (as its owner role)"
    )
    read_model: bool = Field(
        False,
        description="keeps its own read model (a projection), fed by a fanout consumer "
        "(rules DK203, DK204)",
    )
    run: Run = Field(default_factory=Run, description="how it runs")
    replicas: Annotated[int, Field(ge=1, le=100)] = Field(
        1, description="instances when deployed, 1 to 100"
    )
    resources: Resources = Field(
        default_factory=Resources, description="what each instance asks of the cluster"
    )

    def endpoint_subject(self, service: str, endpoint: str) -> str:
        declared = self.endpoints[endpoint].subject
        return declared or f"{service}.{endpoint}"


class ProbeRequest(Strict):
    """The request a probe sends, as the smoke user."""

    endpoint: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*\.[A-Za-z0-9_-]+$")] = Field(
        description="the `service.endpoint` to call"
    )
    payload: Any = Field(None, description="the request's body, sent as JSON")


class ProbeExpect(Strict):
    """What a probe's request must cause."""

    reply: dict[str, Any] = Field(
        default_factory=dict,
        description="keys the JSON reply must have; a non-null value must match",
    )
    event: Subject | None = Field(None, description="an event subject the request must cause")
    within: Duration = Field(5, description="how long the reply and the event may take")


JsonSchema = dict[str, Any]


class Contract(Strict):
    """The payload of one subject, as JSON Schema: `schema` for an event, `request` and `reply`
    for an RPC endpoint. In the manifest a schema is inline or the path of a JSON or YAML file
    next to it; the loader reads the file, so the model always holds the schema itself."""

    version: Annotated[int, Field(ge=1, description="bump it with every change to the schema")] = 1
    description: str = Field("", description="what the payload means")
    schema_: JsonSchema | None = Field(
        None, alias="schema", description="the event's payload (events only)"
    )
    request: JsonSchema | None = Field(None, description="the request's payload (RPC only)")
    reply: JsonSchema | None = Field(None, description="the reply's payload (RPC only)")


class Probe(Strict):
    """A request `deploykit smoke` sends to a deployment, and what must follow."""

    name: Name = Field(description="the probe's name in smoke reports")
    request: ProbeRequest = Field(description="the request to send")
    expect: ProbeExpect = Field(default_factory=ProbeExpect, description="what must follow")


class Manifest(Strict):
    """The system: its buses, storage, databases, services and smoke probes."""

    version: Literal[1] = Field(description="the manifest format; always 1")
    system: ServiceName = Field(
        description="the system's name: lowercase letters, digits and `-`; prefixes resources "
        "on every target"
    )
    buses: Annotated[dict[Name, Bus], Field(min_length=1)] = Field(
        description="the NATS accounts, by name; exactly one is the core bus"
    )
    databases: dict[Name, Database] = Field(
        default_factory=dict, description="the databases, by key"
    )
    streams: dict[Name, Stream] = Field(
        default_factory=dict, description="the JetStream streams (the event store), by name"
    )
    backup: Backup = Field(
        default_factory=Backup, description="copies of the event store besides the snapshots"
    )
    kv: dict[Name, KeyValue] = Field(
        default_factory=dict, description="the JetStream key-value buckets, by name"
    )
    object_stores: dict[Name, ObjectStore] = Field(
        default_factory=dict, description="the JetStream object stores (ephemeral), by name"
    )
    services: dict[ServiceName, Service] = Field(
        default_factory=dict, description="the services, by name"
    )
    probes: list[Probe] = Field(
        default_factory=list, description="requests `deploykit smoke` sends, and their effects"
    )
    contracts: dict[Subject, Contract] = Field(
        default_factory=dict,
        description="the JSON Schema of each subject's payload: events, RPC requests and replies",
    )

    @model_validator(mode="before")
    @classmethod
    def _default_bus(cls, data: Any) -> Any:
        """A lone bus is the core bus, and anything that names no bus lives on the core bus."""
        if not isinstance(data, dict) or not isinstance(data.get("buses"), dict):
            return data
        buses = dict(data["buses"])
        if len(buses) == 1:
            (only, bus), *_ = buses.items()
            if bus is None or (isinstance(bus, dict) and "core" not in bus):
                buses[only] = {**(bus or {}), "core": True}
        cores = [n for n, b in buses.items() if isinstance(b, dict) and b.get("core") is True]
        data = {**data, "buses": buses}
        if not buses:
            return data
        # Without exactly one core bus the manifest is refused by check_references, which says
        # so once; filling in some bus here avoids a "bus is required" on every item as well.
        default = cores[0] if cores else next(iter(buses))
        for section in ("streams", "kv", "object_stores", "services"):
            items = data.get(section)
            if isinstance(items, dict):
                data[section] = {
                    k: {"bus": default, **v} if isinstance(v, dict) and "bus" not in v else v
                    for k, v in items.items()
                }
        return data

    @property
    def core_bus(self) -> str:
        return next(name for name, bus in self.buses.items() if bus.core)

    def endpoint_subjects(self) -> dict[str, str]:
        """`service.endpoint` → the NATS subject it answers on."""
        return {
            f"{name}.{endpoint}": service.endpoint_subject(name, endpoint)
            for name, service in self.services.items()
            for endpoint in service.endpoints
        }

    def sql_archived(self) -> dict[str, list[str]]:
        """Bus → its streams the archiver copies to SQL (`backup.sql`); empty when it is off."""
        if not self.backup.sql:
            return {}
        archived: dict[str, list[str]] = {}
        for name, stream in self.streams.items():
            if stream.backup:
                archived.setdefault(stream.bus, []).append(name)
        return archived

    def database_name(self, key: str) -> str:
        return self.databases[key].name or key

    def database_owner(self, key: str) -> str:
        return self.databases[key].owner or key.replace("-", "_")
