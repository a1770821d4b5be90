"""The manifest as the server's own JSON: the configs deploykit declares for one bus.

Pure. Each config holds only the fields deploykit decides (plus those whose server default
would differ from what the object needs); the planner compares exactly those, so fields the
server fills in or that someone else manages never show up as drift.

KV buckets and object stores are streams (`KV_<bucket>`, `OBJ_<store>`) with the settings
nats.go and natscli give them, so they are planned with the same code as streams. nats-py
differs in two places, both outside what is compared here: it leaves `allow_direct` off for
KV (nats.go turns it on; deploykit follows nats.go), and it turns `allow_msg_ttl` on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from deploykit.manifest import naming
from deploykit.manifest.model import (
    Consume,
    ConsumeMode,
    KeyValue,
    Manifest,
    ObjectStore,
    Source,
    Stream,
)
from deploykit.manifest.naming import SMOKE_BUCKET, SMOKE_OBJECT_STORE, SMOKE_STREAM, SMOKE_SUBJECTS

__all__ = [
    "Desired",
    "DesiredState",
    "Kind",
    "archive_consumer_config",
    "consumer_config",
    "declared_streams",
    "desired_state",
    "kv_config",
    "object_store_config",
    "smoke_assets",
    "source_config",
    "stream_config",
]

Kind = Literal["stream", "kv", "object_store", "consumer"]
_NS = 1_000_000_000
_DEFAULT_DUPLICATE_WINDOW = 120.0


@dataclass(frozen=True)
class Desired:
    """One declared object: its server stream (and consumer) name and its server config."""

    kind: Kind
    name: str
    stream: str
    config: dict[str, Any]
    consumer: str | None = None

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}"


@dataclass(frozen=True)
class DesiredState:
    bus: str
    objects: list[Desired]
    warnings: list[str] = field(default_factory=list)


def _ns(seconds: float) -> int:
    return round(seconds * _NS)


def _window(max_age: float, declared: float = _DEFAULT_DUPLICATE_WINDOW) -> int:
    """The duplicate window can never exceed the max age (the server refuses it)."""
    return _ns(min(declared, max_age) if max_age > 0 else declared)


def stream_config(
    name: str, stream: Stream, replicas: int, origins: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """`origins` names the bus of each stream it `sources` (all on other buses)."""
    config = {
        "name": name,
        "description": stream.description,
        "subjects": list(stream.subjects),
        "retention": stream.retention,
        "storage": stream.storage,
        "num_replicas": replicas,
        "max_age": _ns(stream.max_age),
        "max_bytes": stream.max_bytes,
        "max_msgs": stream.max_msgs,
        "max_msg_size": stream.max_msg_size,
        "discard": stream.discard,
        "duplicate_window": _window(stream.max_age, stream.duplicate_window),
    }
    if stream.sources:
        config["sources"] = [
            source_config(name, stream.bus, source, (origins or {})[source.stream])
            for source in stream.sources
        ]
    return config


def source_config(name: str, bus: str, source: Source, origin: str) -> dict[str, Any]:
    """A source on another bus: its JetStream API and the delivery subject, as imported."""
    return {
        "name": source.stream,
        "filter_subject": source.filter or "",
        "external": {
            "api": naming.crossbus_api(origin),
            "deliver": naming.source_deliver(bus, name),
        },
    }


def kv_config(bucket: str, kv: KeyValue, replicas: int) -> dict[str, Any]:
    """What nats.go's CreateKeyValue sends: history is max msgs per subject, deletes via rollup."""
    return {
        "name": f"KV_{bucket}",
        "description": kv.description,
        "subjects": [f"$KV.{bucket}.>"],
        "retention": "limits",
        "storage": kv.storage,
        "num_replicas": replicas,
        "max_age": _ns(kv.ttl),
        "max_bytes": kv.max_bytes,
        "max_msg_size": kv.max_value_size,
        "max_msgs_per_subject": kv.history,
        "discard": "new",
        "duplicate_window": _window(kv.ttl),
        "allow_rollup_hdrs": True,
        "deny_delete": True,
        "allow_direct": True,
    }


def object_store_config(store: str, obj: ObjectStore, replicas: int) -> dict[str, Any]:
    """What nats.go's CreateObjectStore sends: chunks and metadata subjects, rollup, direct get."""
    return {
        "name": f"OBJ_{store}",
        "description": obj.description,
        "subjects": [f"$O.{store}.C.>", f"$O.{store}.M.>"],
        "retention": "limits",
        "storage": obj.storage,
        "num_replicas": replicas,
        "max_age": _ns(obj.max_age),
        "max_bytes": obj.max_bytes,
        "discard": "new",
        "allow_rollup_hdrs": True,
        "allow_direct": True,
    }


def consumer_config(consume: Consume, service: str) -> dict[str, Any]:
    """A queue consumer: one durable pull consumer shared by every instance of the service."""
    return {
        "name": consume.consumer,
        "durable_name": consume.consumer,
        "description": f"queue consumer of service {service}",
        "deliver_policy": "all",
        "ack_policy": "explicit",
        "replay_policy": "instant",
        "ack_wait": _ns(consume.ack_wait),
        "max_deliver": consume.max_deliver,
        "max_ack_pending": consume.max_ack_pending,
        "filter_subject": consume.filter or "",
    }


ARCHIVE_ACK_WAIT = 10.0  # seconds: a batch is committed well within it; then redelivered
ARCHIVE_MAX_ACK_PENDING = 20_000  # a few batches in flight


def archive_consumer_config() -> dict[str, Any]:
    """The SQL copy's consumer (`backup.sql`): every message from the first, redelivered until
    the archiver has committed it (no delivery limit: the copy may not skip one)."""
    return {
        "name": naming.ARCHIVE_CONSUMER,
        "durable_name": naming.ARCHIVE_CONSUMER,
        "description": "deploykit archiver: the SQL copy of the stream",
        "deliver_policy": "all",
        "ack_policy": "explicit",
        "replay_policy": "instant",
        "ack_wait": _ns(ARCHIVE_ACK_WAIT),
        "max_deliver": -1,
        "max_ack_pending": ARCHIVE_MAX_ACK_PENDING,
        "filter_subject": "",
    }


def smoke_assets(
    bus: str,
) -> tuple[dict[str, Stream], dict[str, KeyValue], dict[str, ObjectStore]]:
    """deploykit's own assets on the core bus, which `deploykit smoke` writes and reads back."""
    stream = Stream(
        bus=bus,
        subjects=list(SMOKE_SUBJECTS),
        description="deploykit smoke test events",
        max_age=86400,
        max_bytes=8 * 1024**2,
    )
    kv = KeyValue(bus=bus, description="deploykit smoke test keys", ttl=86400)
    obj = ObjectStore(bus=bus, description="deploykit smoke test objects", max_age=86400)
    return {SMOKE_STREAM: stream}, {SMOKE_BUCKET: kv}, {SMOKE_OBJECT_STORE: obj}


def _on_bus(
    manifest: Manifest, bus: str
) -> tuple[dict[str, Stream], dict[str, KeyValue], dict[str, ObjectStore]]:
    streams = {n: s for n, s in manifest.streams.items() if s.bus == bus}
    kvs = {n: k for n, k in manifest.kv.items() if k.bus == bus}
    stores = {n: o for n, o in manifest.object_stores.items() if o.bus == bus}
    if bus == manifest.core_bus:
        smoke_streams, smoke_kv, smoke_stores = smoke_assets(bus)
        streams |= smoke_streams
        kvs |= smoke_kv
        stores |= smoke_stores
    return streams, kvs, stores


def desired_state(manifest: Manifest, bus: str, cluster_size: int | None) -> DesiredState:
    """Every object deploykit declares on `bus`, streams first, each followed by its consumers.

    Replicas follow the target: the declared count, capped at `cluster_size` (None: unknown,
    not capped) with a warning.
    """
    warnings: list[str] = []

    def replicas(label: str, declared: int) -> int:
        if cluster_size is None or declared <= cluster_size:
            return declared
        warnings.append(f"{label}: replicas {declared} capped at the cluster size {cluster_size}")
        return cluster_size

    streams, kvs, stores = _on_bus(manifest, bus)
    archived = manifest.sql_archived().get(bus, [])
    objects: list[Desired] = []
    for name, stream in streams.items():
        origins = {s.stream: manifest.streams[s.stream].bus for s in stream.sources}
        config = stream_config(name, stream, replicas(f"stream {name}", stream.replicas), origins)
        objects.append(Desired("stream", name, name, config))
        for service_name, service in manifest.services.items():
            for consume in service.consumes:
                if consume.stream == name and consume.mode is ConsumeMode.QUEUE:
                    objects.append(
                        Desired(
                            "consumer",
                            f"{name}/{consume.consumer}",
                            name,
                            consumer_config(consume, service_name),
                            consume.consumer,
                        )
                    )
        if name in archived:
            objects.append(
                Desired(
                    "consumer",
                    f"{name}/{naming.ARCHIVE_CONSUMER}",
                    name,
                    archive_consumer_config(),
                    naming.ARCHIVE_CONSUMER,
                )
            )
    for bucket, kv in kvs.items():
        config = kv_config(bucket, kv, replicas(f"kv {bucket}", kv.replicas))
        objects.append(Desired("kv", bucket, config["name"], config))
    for store, obj in stores.items():
        config = object_store_config(store, obj, replicas(f"object_store {store}", obj.replicas))
        objects.append(Desired("object_store", store, config["name"], config))
    return DesiredState(bus, objects, warnings)


def declared_streams(manifest: Manifest) -> dict[str, str]:
    """Server stream name → the bus that declares it, over every bus of the manifest."""
    owners: dict[str, str] = {}
    for bus in manifest.buses:
        streams, kvs, stores = _on_bus(manifest, bus)
        owners |= {name: bus for name in streams}
        owners |= {f"KV_{name}": bus for name in kvs}
        owners |= {f"OBJ_{name}": bus for name in stores}
    return owners
