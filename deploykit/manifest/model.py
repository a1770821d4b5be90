"""The system manifest (`deploykit.yaml`) as validated pydantic models.

Field-level rules (types, units, subject syntax) live on the fields; rules that relate one part
of the manifest to another (a consumer's stream exists, two streams on a bus do not overlap)
live in `Manifest.check_references`. The architecture's laws are not here: they are in
`laws.py`, so that a manifest can be valid and still be linted for breaking them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from deploykit.manifest.subjects import check_name, check_subject
from deploykit.manifest.units import parse_duration, parse_size

__all__ = [
    "Access",
    "Bus",
    "Consume",
    "ConsumeMode",
    "Database",
    "Endpoint",
    "KeyValue",
    "Manifest",
    "ObjectStore",
    "Probe",
    "Role",
    "Service",
    "Stream",
]

Duration = Annotated[float, BeforeValidator(parse_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]
Subject = Annotated[str, AfterValidator(check_subject)]
Name = Annotated[str, AfterValidator(check_name)]
ServiceName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,62}$")]
Replicas = Annotated[int, Field(ge=1, le=5)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class Role(StrEnum):
    FRONTEND = "frontend"
    RPC = "rpc"
    WORKER = "worker"


class ConsumeMode(StrEnum):
    QUEUE = "queue"
    FANOUT = "fanout"


class Access(StrEnum):
    READ = "read"
    WRITE = "write"


class Bus(Strict):
    """A NATS account. The core bus carries the business events; others isolate noisy traffic."""

    description: str = ""
    core: bool = False


class Stream(Strict):
    bus: Name
    subjects: Annotated[list[Subject], Field(min_length=1)]
    description: str = ""
    retention: Literal["limits", "interest", "workqueue"] = "limits"
    storage: Literal["file", "memory"] = "file"
    replicas: Replicas = 3
    max_age: Duration = 0
    max_bytes: Size = -1
    max_msgs: Annotated[int, Field(ge=-1)] = -1
    max_msg_size: Size = -1
    discard: Literal["old", "new"] = "old"
    duplicate_window: Duration = 120
    backup: bool = False
    noisy: bool = Field(False, description="analytics, logs: high volume, low value per message")

    @property
    def has_limits(self) -> bool:
        return self.max_age > 0 or self.max_bytes > 0 or self.max_msgs > 0


class KeyValue(Strict):
    bus: Name
    description: str = ""
    history: Annotated[int, Field(ge=1, le=64)] = 1
    ttl: Duration = 0
    replicas: Replicas = 3
    storage: Literal["file", "memory"] = "file"
    max_value_size: Size = -1
    max_bytes: Size = -1


class ObjectStore(Strict):
    """Ephemeral by law: `max_age` is required, because object stores are not durable storage."""

    bus: Name
    max_age: Annotated[Duration, Field(gt=0)]
    description: str = ""
    replicas: Replicas = 1
    storage: Literal["file", "memory"] = "file"
    max_bytes: Size = -1


class Database(Strict):
    engine: Literal["postgres", "yugabyte"] = "postgres"
    name: Name | None = None
    owner: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]{0,62}$")] | None = None


class Endpoint(Strict):
    subject: Subject | None = None
    description: str = ""


class Consume(Strict):
    stream: Name
    consumer: Name
    mode: ConsumeMode
    filter: Subject | None = None
    warmup: bool = Field(False, description="replay the stream before serving (read models)")
    ack_wait: Duration = 30
    max_deliver: Annotated[int, Field(ge=-1)] = 5
    max_ack_pending: Annotated[int, Field(ge=-1)] = 1000
    dead_letter: Subject | None = Field(
        None, description="queue consumers: where a message goes after its last failed delivery"
    )


class Run(Strict):
    """How a service runs: a container image when deployed, a command on the local stack."""

    image: str | None = None
    command: str | None = None
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    env: dict[str, str] = Field(default_factory=dict)


class Resources(Strict):
    cpu: str = "250m"
    memory: str = "256Mi"


class Service(Strict):
    role: Role
    bus: Name
    description: str = ""
    endpoints: dict[Name, Endpoint] = Field(default_factory=dict)
    calls: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*\.[A-Za-z0-9_-]+$")]] = Field(
        default_factory=list
    )
    emits: list[Subject] = Field(default_factory=list)
    consumes: list[Consume] = Field(default_factory=list)
    kv: dict[Name, Access] = Field(default_factory=dict)
    object_stores: dict[Name, Access] = Field(default_factory=dict)
    database: Name | None = None
    read_model: bool = Field(False, description="keeps its own read model (a projection)")
    run: Run = Field(default_factory=Run)
    replicas: Annotated[int, Field(ge=1, le=100)] = 1
    resources: Resources = Field(default_factory=Resources)

    def endpoint_subject(self, service: str, endpoint: str) -> str:
        declared = self.endpoints[endpoint].subject
        return declared or f"{service}.{endpoint}"


class ProbeRequest(Strict):
    endpoint: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*\.[A-Za-z0-9_-]+$")]
    payload: Any = None


class ProbeExpect(Strict):
    reply: dict[str, Any] = Field(default_factory=dict, description="keys the JSON reply must have")
    event: Subject | None = None
    within: Duration = 5


class Probe(Strict):
    name: Name
    request: ProbeRequest
    expect: ProbeExpect = Field(default_factory=ProbeExpect)


class Manifest(Strict):
    version: Literal[1]
    system: ServiceName
    buses: Annotated[dict[Name, Bus], Field(min_length=1)]
    databases: dict[Name, Database] = Field(default_factory=dict)
    streams: dict[Name, Stream] = Field(default_factory=dict)
    kv: dict[Name, KeyValue] = Field(default_factory=dict)
    object_stores: dict[Name, ObjectStore] = Field(default_factory=dict)
    services: dict[ServiceName, Service] = Field(default_factory=dict)
    probes: list[Probe] = Field(default_factory=list)

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

    def database_name(self, key: str) -> str:
        return self.databases[key].name or key

    def database_owner(self, key: str) -> str:
        return self.databases[key].owner or key.replace("-", "_")
