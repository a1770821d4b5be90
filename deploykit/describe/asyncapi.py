"""The manifest as AsyncAPI 3.0: one document per bus, for the AsyncAPI tools and catalogues.

Each bus is one NATS account, so one document: its servers, a channel per subject that is
emitted, consumed, requested or answered on it, and an operation per service and use (`send` for
emits and calls, `receive` for consumers and endpoints; request/reply as the operation's `reply`).
Payloads come from the manifest's contracts; a subject without one has an open payload. AsyncAPI's
NATS bindings only know an operation's `queue`, so JetStream streams, consumers, KV buckets and
object stores are described in `x-deploykit-*` extensions.

Across buses (`manifest/crossbus.py`), each document describes what its own clients see: an
endpoint another bus calls, or a stream another bus consumes or copies, is a channel of the
importing bus's document too, under the subject its clients use, marked `x-deploykit-import`
(the exporting bus and account, the kind of path, the subject on that bus); the exporting
bus's channel is marked `x-deploykit-export` (every bus and account it is exported to). An
operation appears in the document of the bus its service is on.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from deploykit.manifest import naming
from deploykit.manifest.crossbus import CrossPath, PathKind, cross_paths
from deploykit.manifest.model import Consume, ConsumeMode, Manifest, Role
from deploykit.manifest.subjects import is_subset

__all__ = ["ASYNCAPI_VERSION", "asyncapi_document", "asyncapi_documents"]

ASYNCAPI_VERSION = "3.0.0"
CONTENT_TYPE = "application/json"
SERVICE_QUEUE_GROUP = "q"  # the NATS Service (micro, ADR-32) default every endpoint joins
OPEN_PAYLOAD: dict[str, Any] = {"description": "JSON; the manifest gives no contract"}


def asyncapi_documents(manifest: Manifest, servers: list[str] | None = None) -> dict[str, Any]:
    """Every bus's document, by bus name."""
    return {bus: asyncapi_document(manifest, bus, servers) for bus in manifest.buses}


def asyncapi_document(
    manifest: Manifest, bus: str, servers: list[str] | None = None
) -> dict[str, Any]:
    """The document of one bus; `servers` are NATS URLs (a target's), else a local placeholder."""
    doc = _Builder(manifest, bus)
    doc.endpoints()
    doc.imported_endpoints()
    doc.events()
    doc.copies()
    doc.mark_links()
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": f"{manifest.system}: bus {bus}",
            "version": _version(manifest),
            "description": manifest.buses[bus].description
            or f"The NATS account `{bus}` of the system `{manifest.system}`.",
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": _servers(servers),
        "channels": doc.channels,
        "operations": doc.operations,
        "x-deploykit-jetstream": _jetstream(manifest, bus),
    }


def _version(manifest: Manifest) -> str:
    """The document changes when any contract does: the sum of the contracts' versions."""
    return f"{manifest.version}.{sum(c.version for c in manifest.contracts.values())}.0"


def _servers(urls: list[str] | None) -> dict[str, Any]:
    if not urls:
        return {
            "local": {
                "host": "localhost:4222",
                "protocol": "nats",
                "description": "the local stack (`deploykit dev up`); a target's URLs with --outputs",
            }
        }
    out = {}
    for i, url in enumerate(urls, 1):
        scheme, _, rest = url.partition("://")
        host = rest.rpartition("@")[2] if rest else scheme
        protocol = {"tls": "tls", "wss": "wss", "ws": "ws"}.get(scheme, "nats")
        out[f"nats-{i}"] = {"host": host, "protocol": protocol}
    return out


def _channel_id(subject: str) -> str:
    """`accounts.events.>` → `accounts_events_all`: ids must be plain words."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", subject.replace(">", "all").replace("*", "any"))


class _Builder:
    def __init__(self, manifest: Manifest, bus: str) -> None:
        self.m = manifest
        self.bus = bus
        self.channels: dict[str, Any] = {}
        self.operations: dict[str, Any] = {}

    def _services(self) -> list[tuple[str, Any]]:
        return [(n, s) for n, s in self.m.services.items() if s.bus == self.bus]

    def _channel(self, subject: str, messages: dict[str, Any], **extra: Any) -> str:
        cid = _channel_id(subject)
        channel = self.channels.setdefault(cid, {"address": subject, "messages": {}})
        channel["messages"].update(messages)
        channel.update(extra)
        return cid

    def _message(self, name: str, schema: dict[str, Any] | None, title: str) -> dict[str, Any]:
        return {
            name: {
                "name": name,
                "title": title,
                "contentType": CONTENT_TYPE,
                "payload": schema if schema is not None else OPEN_PAYLOAD,
            }
        }

    def _paths(self) -> list[CrossPath]:
        return cross_paths(self.m)

    def _endpoint(self, key: str) -> tuple[str, dict[str, Any]]:
        """The request channel of endpoint `key` and the reply (the caller's inbox, dynamic);
        the request channel's id and the operation's `reply`."""
        subject = self.m.endpoint_subjects()[key]
        name, _, endpoint = key.partition(".")
        spec = self.m.services[name].endpoints[endpoint]
        contract = self.m.contracts.get(subject)
        request = self._channel(
            subject,
            self._message("request", contract.request if contract else None, f"{key} request"),
            description=spec.description or f"requests to {key}",
        )
        reply_id = f"{request}_reply"
        self.channels[reply_id] = {
            "address": None,
            "description": "the caller's own inbox (`_INBOX_<user>.>`), set per request",
            "messages": self._message(
                "reply", contract.reply if contract else None, f"{key} reply"
            ),
        }
        return request, {"channel": {"$ref": f"#/channels/{reply_id}"}}

    def _calls(self, key: str, request: str, reply: dict[str, Any]) -> None:
        """The `send` of every service of this bus that calls `key`."""
        name, _, endpoint = key.partition(".")
        for caller, other in self._services():
            if key in other.calls:
                self.operations[f"{caller}.call.{name}.{endpoint}"] = {
                    "action": "send",
                    "summary": f"{caller} calls {key}",
                    "channel": {"$ref": f"#/channels/{request}"},
                    "messages": [{"$ref": f"#/channels/{request}/messages/request"}],
                    "reply": reply,
                }

    def endpoints(self) -> None:
        """Each endpoint: a channel with its request, a reply channel (the caller's inbox,
        dynamic), the service's `receive` with a reply and the `send` of each caller here."""
        for name, service in self._services():
            for endpoint in service.endpoints:
                key = f"{name}.{endpoint}"
                request, reply = self._endpoint(key)
                self.operations[f"{name}.answer.{endpoint}"] = {
                    "action": "receive",
                    "summary": f"{name} answers {key}",
                    "channel": {"$ref": f"#/channels/{request}"},
                    "messages": [{"$ref": f"#/channels/{request}/messages/request"}],
                    "reply": reply,
                    "bindings": {"nats": {"queue": SERVICE_QUEUE_GROUP, "bindingVersion": "0.1.0"}},
                }
                self._calls(key, request, reply)

    def imported_endpoints(self) -> None:
        """Each endpoint of another bus that a service here calls: its channel (the subject is
        imported under its own name) and the callers' `send`."""
        subjects = {s: k for k, s in self.m.endpoint_subjects().items()}
        called = {
            p.subject
            for p in self._paths()
            if p.kind is PathKind.CALL and p.importer == self.bus and p.subject
        }
        for subject in sorted(called):
            request, reply = self._endpoint(subjects[subject])
            self._calls(subjects[subject], request, reply)

    def copies(self) -> None:
        """The channels of the events a stream here copies from another bus (`sources`)."""
        for path in self._paths():
            if path.kind is PathKind.SOURCE and path.importer == self.bus:
                assert path.stream
                for subject in self._subjects_of(path):
                    cid = self._event_channel(subject)
                    self.channels[cid].setdefault("x-deploykit-stream", path.target)

    def _subjects_of(self, path: CrossPath) -> list[str]:
        """The subjects a call, consumer or copy carries across."""
        if path.kind is PathKind.CALL:
            return [path.subject] if path.subject else []
        assert path.stream
        if path.kind is PathKind.SOURCE:
            return [path.subject] if path.subject else list(self.m.streams[path.stream].subjects)
        consumes = self.m.services[path.user or ""].consumes
        filters = [c.filter for c in consumes if c.consumer == path.consumer and c.filter]
        return filters or list(self.m.streams[path.stream].subjects)

    def mark_links(self) -> None:
        """`x-deploykit-import` on the channels this bus reaches on another, and
        `x-deploykit-export` on the channels of this bus that another reaches."""
        for path in self._paths():
            if self.bus not in (path.importer, path.exporter):
                continue
            for subject in self._subjects_of(path):
                event = path.kind is not PathKind.CALL
                channel = self.channels[
                    self._event_channel(subject) if event else _channel_id(subject)
                ]
                if path.importer == self.bus:
                    channel.setdefault("x-deploykit-import", []).append(_import(path, subject))
                else:
                    channel.setdefault("x-deploykit-export", []).append(_export(path))

    def events(self) -> None:
        """Each stored subject is a channel even before anything emits it; then each service's
        emits (`send`) and consumers (`receive`)."""
        for stream in self.m.streams.values():
            if stream.bus == self.bus:
                for subject in stream.subjects:
                    self._event_channel(subject)
        for name, service in self._services():
            for subject in service.emits:
                cid = self._event_channel(subject)
                self.operations[f"{name}.emit.{cid}"] = {
                    "action": "send",
                    "summary": f"{name} emits {subject}",
                    "channel": {"$ref": f"#/channels/{cid}"},
                    "messages": [{"$ref": f"#/channels/{cid}/messages/event"}],
                }
            for consume in service.consumes:
                self._consume(name, consume)

    def _event_channel(self, subject: str) -> str:
        contract = self.m.contracts.get(subject)
        stream = next(
            (
                s
                for s, spec in self.m.streams.items()
                if spec.bus == self.bus and any(is_subset(subject, p) for p in spec.subjects)
            ),
            None,
        )
        extra: dict[str, Any] = {"x-deploykit-stream": stream} if stream else {}
        if contract is not None:
            extra["x-deploykit-contract-version"] = contract.version
        return self._channel(
            subject,
            self._message("event", contract.schema_ if contract else None, subject),
            **extra,
        )

    def _consume(self, name: str, consume: Consume) -> None:
        stream = self.m.streams[consume.stream]
        subjects = [consume.filter] if consume.filter else stream.subjects
        for subject in subjects:
            cid = self._event_channel(subject)
            operation: dict[str, Any] = {
                "action": "receive",
                "summary": f"{name} consumes {subject} from {consume.stream} ({consume.mode.value})",
                "channel": {"$ref": f"#/channels/{cid}"},
                "messages": [{"$ref": f"#/channels/{cid}/messages/event"}],
                "x-deploykit-consumer": {
                    "stream": consume.stream,
                    "consumer": consume.consumer,
                    "mode": consume.mode.value,
                    "warmup": consume.warmup,
                    "max_deliver": consume.max_deliver,
                },
            }
            if consume.mode is ConsumeMode.QUEUE:
                operation["bindings"] = {
                    "nats": {"queue": consume.consumer, "bindingVersion": "0.1.0"}
                }
            self.operations[f"{name}.consume.{consume.consumer}.{cid}"] = operation


def _import(path: CrossPath, subject: str) -> dict[str, Any]:
    """How this bus reaches `subject` of another: from which bus and account, by which path."""
    found: dict[str, Any] = {
        "bus": path.exporter,
        "account": naming.account(path.exporter),
        "path": path.kind.value,
        "subject": subject,
        "declared": path.path,
    }
    if path.kind is PathKind.CONSUMER:
        api = naming.crossbus_api(path.exporter)
        found |= {"stream": path.stream, "consumer": path.consumer}
        found["via"] = f"{api}.CONSUMER.MSG.NEXT.{path.stream}.{path.consumer}"
    elif path.kind is PathKind.SOURCE:
        found |= {"stream": path.stream, "copy": path.target}
    return found


def _export(path: CrossPath) -> dict[str, Any]:
    """To which bus and account this channel is exported, by which path."""
    found: dict[str, Any] = {
        "bus": path.importer,
        "account": naming.account(path.importer),
        "path": path.kind.value,
        "declared": path.path,
    }
    if path.kind is PathKind.CONSUMER:
        found |= {"stream": path.stream, "consumer": path.consumer}
    elif path.kind is PathKind.SOURCE:
        found |= {"stream": path.stream, "copy": path.target}
    return found


def _jetstream(m: Manifest, bus: str) -> dict[str, Any]:
    def dump(item: BaseModel) -> dict[str, Any]:
        return item.model_dump(mode="json", exclude={"bus"}, exclude_defaults=True)

    return {
        "streams": {n: dump(s) for n, s in m.streams.items() if s.bus == bus},
        "kv": {n: dump(k) for n, k in m.kv.items() if k.bus == bus},
        "object_stores": {n: dump(o) for n, o in m.object_stores.items() if o.bus == bus},
        "frontends": sorted(
            n for n, s in m.services.items() if s.bus == bus and s.role is Role.FRONTEND
        ),
    }
