"""The manifest as AsyncAPI 3.0: one document per bus, for the AsyncAPI tools and catalogues.

Each bus is one NATS account, so one document: its servers, a channel per subject that is
emitted, consumed, requested or answered on it, and an operation per service and use (`send` for
emits and calls, `receive` for consumers and endpoints; request/reply as the operation's `reply`).
Payloads come from the manifest's contracts; a subject without one has an open payload. AsyncAPI's
NATS bindings only know an operation's `queue`, so JetStream streams, consumers, KV buckets and
object stores are described in `x-deploykit-*` extensions.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

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
    doc.events()
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

    def endpoints(self) -> None:
        """Each endpoint: a channel with its request, a reply channel (the caller's inbox,
        dynamic), the service's `receive` with a reply and every caller's `send`."""
        subjects = self.m.endpoint_subjects()
        for name, service in self._services():
            for endpoint, spec in service.endpoints.items():
                key = f"{name}.{endpoint}"
                subject = subjects[key]
                contract = self.m.contracts.get(subject)
                request = self._channel(
                    subject,
                    self._message(
                        "request", contract.request if contract else None, f"{key} request"
                    ),
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
                reply = {"channel": {"$ref": f"#/channels/{reply_id}"}}
                self.operations[f"{name}.answer.{endpoint}"] = {
                    "action": "receive",
                    "summary": f"{name} answers {key}",
                    "channel": {"$ref": f"#/channels/{request}"},
                    "messages": [{"$ref": f"#/channels/{request}/messages/request"}],
                    "reply": reply,
                    "bindings": {"nats": {"queue": SERVICE_QUEUE_GROUP, "bindingVersion": "0.1.0"}},
                }
                for caller, other in self.m.services.items():
                    if key in other.calls:
                        self.operations[f"{caller}.call.{name}.{endpoint}"] = {
                            "action": "send",
                            "summary": f"{caller} calls {key}",
                            "channel": {"$ref": f"#/channels/{request}"},
                            "messages": [{"$ref": f"#/channels/{request}/messages/request"}],
                            "reply": reply,
                        }

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
