"""Rules that relate one part of the manifest to another.

Each rule returns Problems located by field path; the loader reports them all at once, so a
user fixes a manifest in one pass instead of one error per run.
"""

from __future__ import annotations

from collections.abc import Iterator

from deploykit.errors import Problem
from deploykit.manifest.model import Consume, ConsumeMode, Manifest
from deploykit.manifest.naming import deploykit_users
from deploykit.manifest.subjects import collide, is_subset

__all__ = ["RESERVED_SERVICES", "SMOKE_PREFIX", "check_references"]

SMOKE_PREFIX = "deploykit"
RESERVED_SERVICES = ("smoke", "provisioning", "sys")


def check_references(m: Manifest) -> list[Problem]:
    return [
        *_buses(m),
        *_bus_refs(m),
        *_reserved(m),
        *_stream_subjects(m),
        *_endpoints(m),
        *_service_refs(m),
        *_consumers(m),
        *_probes(m),
        *_databases(m),
    ]


def _known(names: object) -> str:
    listed = ", ".join(sorted(names)) if names else "none declared"
    return f"declared: {listed}"


def _buses(m: Manifest) -> Iterator[Problem]:
    cores = [name for name, bus in m.buses.items() if bus.core]
    if len(cores) != 1:
        found = ", ".join(cores) if cores else "none"
        yield Problem(
            "buses",
            f"exactly one bus must be marked `core: true`, found {found}",
            "the core bus carries the business events",
        )


def _bus_refs(m: Manifest) -> Iterator[Problem]:
    for section in ("streams", "kv", "object_stores", "services"):
        for name, item in getattr(m, section).items():
            if item.bus not in m.buses:
                yield Problem(f"{section}.{name}.bus", f"unknown bus {item.bus!r}", _known(m.buses))


def _reserved(m: Manifest) -> Iterator[Problem]:
    for name in m.services:
        if name in RESERVED_SERVICES:
            yield Problem(
                f"services.{name}",
                f"the service name {name!r} is reserved for deploykit's own user",
            )
        elif name in deploykit_users(m.buses):
            yield Problem(
                f"services.{name}",
                f"the service name {name!r} is the name of one of deploykit's NATS users",
            )
    for section in ("streams", "kv", "object_stores"):
        for name in getattr(m, section):
            if name.lower().startswith(SMOKE_PREFIX):
                yield Problem(
                    f"{section}.{name}",
                    f"names starting with {SMOKE_PREFIX!r} are reserved for the smoke test",
                )
    backing = {f"KV_{n}": f"kv.{n}" for n in m.kv} | {
        f"OBJ_{n}": f"object_stores.{n}" for n in m.object_stores
    }
    for name in m.streams:
        if name in backing:
            yield Problem(
                f"streams.{name}", f"the name is taken by the stream behind {backing[name]}"
            )


def _stream_subjects(m: Manifest) -> Iterator[Problem]:
    seen: list[tuple[str, str, str]] = []
    for name, stream in m.streams.items():
        for index, subject in enumerate(stream.subjects):
            path = f"streams.{name}.subjects[{index}]"
            if collide(subject, f"{SMOKE_PREFIX}.>"):
                yield Problem(
                    path,
                    f"{subject!r} overlaps {SMOKE_PREFIX}.>, reserved for the kit (smoke, bench)",
                )
            for other_name, other_subject, other_bus in seen:
                if other_bus == stream.bus and collide(subject, other_subject):
                    where = "itself" if other_name == name else f"stream {other_name!r}"
                    yield Problem(
                        path,
                        f"{subject!r} overlaps {other_subject!r} of {where} on bus {stream.bus!r}",
                        "subjects of streams on one bus must not overlap",
                    )
            seen.append((name, subject, stream.bus))


def _endpoints(m: Manifest) -> Iterator[Problem]:
    seen: list[tuple[str, str, str]] = []
    for name, service in m.services.items():
        for endpoint in service.endpoints:
            subject = service.endpoint_subject(name, endpoint)
            path = f"services.{name}.endpoints.{endpoint}"
            for other, other_subject, bus in seen:
                if bus == service.bus and collide(subject, other_subject):
                    yield Problem(path, f"subject {subject!r} overlaps endpoint {other}")
            for stream_name, stream in m.streams.items():
                if stream.bus == service.bus and any(collide(subject, s) for s in stream.subjects):
                    yield Problem(
                        path,
                        f"subject {subject!r} is captured by stream {stream_name!r}",
                        "a stream on an RPC subject stores every request and answers it with an ack",
                    )
            seen.append((f"{name}.{endpoint}", subject, service.bus))


def _service_refs(m: Manifest) -> Iterator[Problem]:
    for name, service in m.services.items():
        base = f"services.{name}"
        for index, call in enumerate(service.calls):
            target, _, endpoint = call.partition(".")
            callee = m.services.get(target)
            if callee is None:
                yield Problem(
                    f"{base}.calls[{index}]", f"unknown service {target!r}", _known(m.services)
                )
            elif endpoint not in callee.endpoints:
                yield Problem(
                    f"{base}.calls[{index}]",
                    f"service {target!r} has no endpoint {endpoint!r}",
                    _known(callee.endpoints),
                )
            elif callee.bus != service.bus:
                yield Problem(
                    f"{base}.calls[{index}]",
                    f"{call} is on bus {callee.bus!r}, {name} on {service.bus!r}",
                    "RPC stays within one bus",
                )
        for index, subject in enumerate(service.emits):
            if not _captured(m, service.bus, subject):
                yield Problem(
                    f"{base}.emits[{index}]",
                    f"no stream on bus {service.bus!r} captures {subject!r}",
                    "every emitted event must be stored by a stream on the service's bus",
                )
        for section in ("kv", "object_stores"):
            declared = getattr(m, section)
            for bucket in getattr(service, section):
                if bucket not in declared:
                    yield Problem(
                        f"{base}.{section}.{bucket}",
                        f"unknown {section} {bucket!r}",
                        _known(declared),
                    )
                elif declared[bucket].bus != service.bus:
                    yield Problem(
                        f"{base}.{section}.{bucket}",
                        f"{bucket!r} is on bus {declared[bucket].bus!r}, the service on {service.bus!r}",
                    )
        if service.database is not None and service.database not in m.databases:
            yield Problem(
                f"{base}.database", f"unknown database {service.database!r}", _known(m.databases)
            )


def _captured(m: Manifest, bus: str, subject: str) -> bool:
    return any(
        stream.bus == bus and any(is_subset(subject, s) for s in stream.subjects)
        for stream in m.streams.values()
    )


def _consumers(m: Manifest) -> Iterator[Problem]:
    owners: dict[tuple[str, str], str] = {}
    for name, service in m.services.items():
        for index, consume in enumerate(service.consumes):
            path = f"services.{name}.consumes[{index}]"
            stream = m.streams.get(consume.stream)
            if stream is None:
                yield Problem(
                    f"{path}.stream", f"unknown stream {consume.stream!r}", _known(m.streams)
                )
                continue
            if stream.bus != service.bus:
                yield Problem(
                    f"{path}.stream",
                    f"stream {consume.stream!r} is on bus {stream.bus!r}, the service on {service.bus!r}",
                )
            if consume.filter and not any(is_subset(consume.filter, s) for s in stream.subjects):
                yield Problem(
                    f"{path}.filter",
                    f"{consume.filter!r} is not within the subjects of stream {consume.stream!r}",
                    f"stream subjects: {', '.join(stream.subjects)}",
                )
            if stream.retention == "workqueue" and consume.mode is ConsumeMode.FANOUT:
                yield Problem(
                    f"{path}.mode",
                    f"stream {consume.stream!r} is a work queue; a fanout consumer cannot read it",
                    "queue",
                )
            if consume.dead_letter is not None:
                yield from _dead_letter(m, service.bus, consume, path)
            key = (consume.stream, consume.consumer)
            if key in owners:
                yield Problem(
                    f"{path}.consumer",
                    f"consumer {consume.consumer!r} on {consume.stream!r} is already used by {owners[key]}",
                )
            owners.setdefault(key, f"service {name!r}")


def _dead_letter(m: Manifest, bus: str, consume: Consume, path: str) -> Iterator[Problem]:
    """A dead letter is kept (a stream stores it), and only a queue consumer has a last delivery
    (a fanout consumer does not acknowledge)."""
    if consume.mode is not ConsumeMode.QUEUE:
        yield Problem(f"{path}.dead_letter", "only a queue consumer has a dead-letter subject")
    elif consume.dead_letter and not _captured(m, bus, consume.dead_letter):
        yield Problem(
            f"{path}.dead_letter",
            f"no stream on bus {bus!r} captures {consume.dead_letter!r}",
            "a dead letter must be stored by a stream on the service's bus",
        )


def _probes(m: Manifest) -> Iterator[Problem]:
    endpoints = m.endpoint_subjects()
    for index, probe in enumerate(m.probes):
        if probe.request.endpoint not in endpoints:
            yield Problem(
                f"probes[{index}].request.endpoint",
                f"unknown endpoint {probe.request.endpoint!r}",
                _known(endpoints),
            )
        event = probe.expect.event
        if event and not any(_captured(m, bus, event) for bus in m.buses):
            yield Problem(f"probes[{index}].expect.event", f"no stream captures {event!r}")


def _databases(m: Manifest) -> Iterator[Problem]:
    engines = {db.engine for db in m.databases.values()}
    if len(engines) > 1:
        yield Problem(
            "databases",
            f"databases mix engines ({', '.join(sorted(engines))})",
            "one engine per system: postgres or yugabyte",
        )
