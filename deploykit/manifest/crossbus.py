"""The paths between buses: what a bus uses of another, found where the manifest declares it.

Pure. A path is declared once, where it is used: a service `calls` an endpoint of a service on
another bus (a request crosses), a service `consumes` a stream on another bus (a queue consumer
on that bus's stream, read across), or a stream `sources` a stream on another bus (a copy on the
importing bus's own storage). `laws/exports.py` turns each path into exactly the exports and
imports it needs; references that do not resolve are left to `references.py`, which reports
them, so a path here always names things that exist. `bench_paths` mirrors the declared paths
between the smoke users of the same buses, for `deploykit bench`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum

from deploykit.manifest import naming
from deploykit.manifest.model import Consume, Manifest

__all__ = ["CrossPath", "PathKind", "bench_paths", "cross_paths"]


class PathKind(StrEnum):
    CALL = "call"  # a request from the importer to an endpoint of the exporter
    CONSUMER = "consumer"  # a queue consumer on the exporter's stream, read by the importer
    SOURCE = "source"  # a stream of the importer copies events of the exporter's stream


@dataclass(frozen=True)
class CrossPath:
    """One use of another bus: who uses it (`importer`), whose it is (`exporter`), and where the
    manifest says so (`path`)."""

    kind: PathKind
    path: str
    importer: str
    exporter: str
    subject: str | None = None  # CALL: the endpoint's subject; SOURCE: the filter, if any
    stream: str | None = None  # CONSUMER, SOURCE: the exporter's stream
    consumer: str | None = None  # CONSUMER: the durable consumer on it
    target: str | None = None  # SOURCE: the importer's stream that keeps the copy
    user: str | None = None  # CALL, CONSUMER: the service that uses the path

    @property
    def events_from(self) -> str:
        """The bus events flow from (a call's requests flow the other way)."""
        return self.importer if self.kind is PathKind.CALL else self.exporter

    def describe(self) -> str:
        match self.kind:
            case PathKind.CALL:
                return f"{self.user} ({self.importer}) calls {self.subject} ({self.exporter})"
            case PathKind.CONSUMER:
                return (
                    f"{self.user} ({self.importer}) consumes {self.stream}/{self.consumer} "
                    f"({self.exporter})"
                )
            case PathKind.SOURCE:
                only = f" ({self.subject})" if self.subject else ""
                return (
                    f"stream {self.target} ({self.importer}) copies {self.stream}{only} "
                    f"({self.exporter})"
                )


def cross_paths(m: Manifest) -> list[CrossPath]:
    """Every path between two different buses, in manifest order."""
    return [*_service_uses(m, PathKind.CALL), *_service_uses(m, PathKind.CONSUMER), *_sources(m)]


def bench_paths(paths: Iterable[CrossPath], core_bus: str) -> list[CrossPath]:
    """`deploykit bench`'s own paths, between the smoke users of two buses that `paths` join:
    a call path gets requests to the exporter's `bench_crossbus` subjects; a consumer path
    from the core bus gets a pull consumer on the core smoke stream (no other bus has one), a
    copy of the core bus's events gets the smoke user's own copy of bench's smoke messages.
    They mirror the declared paths on subjects of the kit, so bench measures what crossing
    costs without touching a service's endpoint or a worker's consumer."""
    found: dict[tuple[PathKind, str, str], CrossPath] = {}
    for p in paths:
        key = (p.kind, p.importer, p.exporter)
        if key in found or (p.kind is not PathKind.CALL and p.exporter != core_bus):
            continue
        mirror = replace(
            p, path=f"deploykit bench, beside {p.path}", user=naming.smoke_user(p.importer)
        )
        match p.kind:
            case PathKind.CALL:
                found[key] = replace(mirror, subject=f"{naming.bench_crossbus(p.exporter)}.>")
            case PathKind.CONSUMER:
                consumer = naming.bench_consumer(p.importer)
                found[key] = replace(mirror, stream=naming.SMOKE_STREAM, consumer=consumer)
            case PathKind.SOURCE:
                found[key] = replace(
                    mirror,
                    subject=f"{naming.BENCH_EVENTS}.>",
                    stream=naming.SMOKE_STREAM,
                    target=naming.BENCH_COPY_STREAM,
                )
    return list(found.values())


def _service_uses(m: Manifest, kind: PathKind) -> list[CrossPath]:
    """The services' `calls` (CALL) or `consumes` (CONSUMER) that reach another bus."""
    found = []
    for name, service in m.services.items():
        if kind is PathKind.CALL:
            field, targets = "calls", [_call(m, call) for call in service.calls]
        else:
            field, targets = "consumes", [_consume(m, consume) for consume in service.consumes]
        for index, resolved in enumerate(targets):
            if resolved is None or resolved.bus == service.bus:
                continue
            found.append(
                CrossPath(
                    kind,
                    f"services.{name}.{field}[{index}]",
                    service.bus,
                    resolved.bus,
                    subject=resolved.subject,
                    stream=resolved.stream,
                    consumer=resolved.consumer,
                    user=name,
                )
            )
    return found


@dataclass(frozen=True)
class _Target:
    """What a call or a consume reaches: its bus, and the endpoint's subject or the stream."""

    bus: str
    subject: str | None = None
    stream: str | None = None
    consumer: str | None = None


def _call(m: Manifest, call: str) -> _Target | None:
    target, _, endpoint = call.partition(".")
    callee = m.services.get(target)
    if callee is None or endpoint not in callee.endpoints:
        return None
    return _Target(callee.bus, subject=callee.endpoint_subject(target, endpoint))


def _consume(m: Manifest, consume: Consume) -> _Target | None:
    stream = m.streams.get(consume.stream)
    if stream is None:
        return None
    return _Target(stream.bus, stream=consume.stream, consumer=consume.consumer)


def _sources(m: Manifest) -> list[CrossPath]:
    found = []
    for name, stream in m.streams.items():
        for index, source in enumerate(stream.sources):
            origin = m.streams.get(source.stream)
            if origin is None or origin.bus == stream.bus:
                continue
            found.append(
                CrossPath(
                    PathKind.SOURCE,
                    f"streams.{name}.sources[{index}]",
                    stream.bus,
                    origin.bus,
                    subject=source.filter,
                    stream=source.stream,
                    target=name,
                )
            )
    return found
