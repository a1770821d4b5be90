"""Rules that relate one part of the manifest to another.

Each rule returns Problems located by field path; the loader reports them all at once, so a
user fixes a manifest in one pass instead of one error per run.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator

from deploykit.errors import Problem
from deploykit.manifest.crossbus import PathKind, cross_paths
from deploykit.manifest.model import Consume, ConsumeMode, Manifest
from deploykit.manifest.naming import (
    ARCHIVE_CONSUMER,
    ARCHIVE_DATABASE,
    ARCHIVE_OWNER,
    ARCHIVE_ROLE,
    deploykit_users,
)
from deploykit.manifest.subjects import collide, is_subset

__all__ = ["RESERVED_SERVICES", "SMOKE_PREFIX", "check_references", "stored_subjects"]

SMOKE_PREFIX = "deploykit"
RESERVED_SERVICES = ("smoke", "provisioning", "backup", "sys")


def check_references(m: Manifest) -> list[Problem]:
    return [
        *_buses(m),
        *_bus_refs(m),
        *_reserved(m),
        *_stream_subjects(m),
        *_endpoints(m),
        *_service_refs(m),
        *_consumers(m),
        *_sources(m),
        *_imports(m),
        *_probes(m),
        *_databases(m),
        *_archive(m),
    ]


def _known(names: Collection[str]) -> str:
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
        elif name in deploykit_users(m.buses, m.buses):
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


def stored_subjects(m: Manifest, name: str) -> list[str]:
    """What a stream holds: its own subjects and those it copies from its sources."""
    stream = m.streams[name]
    copied = [
        subject
        for source in stream.sources
        if source.stream in m.streams
        for subject in ([source.filter] if source.filter else m.streams[source.stream].subjects)
    ]
    return [*stream.subjects, *copied]


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
            if stream.bus != service.bus and consume.mode is ConsumeMode.FANOUT:
                yield Problem(
                    f"{path}.mode",
                    f"stream {consume.stream!r} is on bus {stream.bus!r}, the service on "
                    f"{service.bus!r}: a fanout consumer cannot read across buses",
                    "queue; or a stream on bus "
                    f"{service.bus!r} with `sources: [{{stream: {consume.stream}}}]`, read by "
                    "fanout (every instance creates its own consumer, which across buses would "
                    "mean exporting consumer creation on the whole stream)",
                )
            stored = stored_subjects(m, consume.stream)
            if consume.filter and stored and not any(is_subset(consume.filter, s) for s in stored):
                yield Problem(
                    f"{path}.filter",
                    f"{consume.filter!r} is not within the subjects of stream {consume.stream!r}",
                    f"stream subjects: {', '.join(stored)}",
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


def _sources(m: Manifest) -> Iterator[Problem]:
    for name, stream in m.streams.items():
        if not stream.subjects and not stream.sources:
            yield Problem(
                f"streams.{name}.subjects",
                "a stream needs subjects, sources, or both",
                "the event subjects it stores, or `sources` of other buses",
            )
        seen: set[tuple[str, str | None]] = set()
        for index, source in enumerate(stream.sources):
            path = f"streams.{name}.sources[{index}]"
            origin = m.streams.get(source.stream)
            if origin is None:
                yield Problem(
                    f"{path}.stream", f"unknown stream {source.stream!r}", _known(m.streams)
                )
                continue
            if origin.bus == stream.bus:
                yield Problem(
                    f"{path}.stream",
                    f"stream {source.stream!r} is on bus {stream.bus!r} too",
                    "a source on another bus; on one bus, consume the stream itself",
                )
            if (source.stream, source.filter) in seen:
                yield Problem(path, f"{source.stream!r} is sourced twice with the same filter")
            seen.add((source.stream, source.filter))
            if (
                source.filter
                and origin.subjects
                and not any(is_subset(source.filter, s) for s in origin.subjects)
            ):
                yield Problem(
                    f"{path}.filter",
                    f"{source.filter!r} is not within the subjects of stream {source.stream!r}",
                    f"stream subjects: {', '.join(origin.subjects)}",
                )


def _imports(m: Manifest) -> Iterator[Problem]:
    """What a bus imports must not collide with what it has or imports from elsewhere, nor be
    captured by one of its streams."""
    local = [
        (service.endpoint_subject(name, endpoint), f"endpoint {name}.{endpoint}", service.bus)
        for name, service in m.services.items()
        for endpoint in service.endpoints
    ]
    imported: list[tuple[str, str, str, str]] = []  # subject, exporter, importer, path
    for path in cross_paths(m):
        if path.kind is PathKind.CALL and path.subject:
            subject = path.subject
            for other, what, bus in local:
                if bus == path.importer and collide(subject, other):
                    yield Problem(
                        path.path,
                        f"the import of {subject!r} from bus {path.exporter!r} collides with "
                        f"{what} on bus {path.importer!r}",
                        "subjects imported into a bus must not overlap its own endpoints",
                    )
            for other, exporter, importer, _ in imported:
                if (
                    importer == path.importer
                    and exporter != path.exporter
                    and collide(subject, other)
                ):
                    yield Problem(
                        path.path,
                        f"the import of {subject!r} from bus {path.exporter!r} collides with the "
                        f"import of {other!r} from bus {exporter!r}",
                        "two buses cannot answer on one subject of the importing bus",
                    )
            imported.append((subject, path.exporter, path.importer, path.path))
            yield from _captured_import(m, path.path, path.importer, [subject], "requests to")
        elif path.kind is PathKind.SOURCE and path.stream:
            copied = [path.subject] if path.subject else m.streams[path.stream].subjects
            yield from _captured_import(m, path.path, path.importer, copied, "the copy of")


def _captured_import(
    m: Manifest, path: str, bus: str, subjects: list[str], what: str
) -> Iterator[Problem]:
    for stream_name, stream in m.streams.items():
        if stream.bus != bus:
            continue
        for subject in subjects:
            if any(collide(subject, s) for s in stream.subjects):
                yield Problem(
                    path,
                    f"{what} {subject!r} would be captured by stream {stream_name!r} on bus {bus!r}",
                    "an imported subject stays outside the importing bus's stream subjects",
                )


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


def _archive(m: Manifest) -> Iterator[Problem]:
    """The SQL copy's consumer, database and roles are the kit's; a work queue hands each message
    to one consumer only, so the archiver would take them from the service."""
    for key in m.databases:
        if m.database_name(key) == ARCHIVE_DATABASE or m.database_owner(key) in (
            ARCHIVE_OWNER,
            ARCHIVE_ROLE,
        ):
            yield Problem(
                f"databases.{key}",
                f"{ARCHIVE_DATABASE}, {ARCHIVE_OWNER} and {ARCHIVE_ROLE} are reserved for the "
                "SQL copy of the event store",
            )
    for name, service in m.services.items():
        for index, consume in enumerate(service.consumes):
            if consume.consumer == ARCHIVE_CONSUMER:
                yield Problem(
                    f"services.{name}.consumes[{index}].consumer",
                    f"{ARCHIVE_CONSUMER!r} is reserved for the archiver of the SQL copy",
                )
    if not m.backup.sql:
        return
    if not any(stream.backup for stream in m.streams.values()):
        yield Problem(
            "backup.sql",
            "no stream is marked `backup: true`, so the SQL copy would hold nothing",
            "mark the streams to copy with `backup: true`, or remove `backup.sql`",
        )
    for name, stream in m.streams.items():
        if stream.backup and stream.retention == "workqueue":
            yield Problem(
                f"streams.{name}.retention",
                "a work queue hands each message to one consumer: the archiver of the SQL copy "
                "(`backup.sql`) would take messages from the services",
                "limits or interest; or `backup: false` for this stream",
            )
