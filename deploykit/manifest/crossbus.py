"""The paths between buses: what a bus uses of another, found where the manifest declares it.

Pure. A path is declared once, where it is used: a service `calls` an endpoint of a service on
another bus (a request crosses), a service `consumes` a stream on another bus (a queue consumer
on that bus's stream, read across), or a stream `sources` a stream on another bus (a copy on the
importing bus's own storage). `laws/exports.py` turns each path into exactly the exports and
imports it needs; references that do not resolve are left to `references.py`, which reports
them, so a path here always names things that exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from deploykit.manifest.model import Manifest

__all__ = ["CrossPath", "PathKind", "cross_paths"]


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
    return [*_calls(m), *_consumers(m), *_sources(m)]


def _calls(m: Manifest) -> list[CrossPath]:
    found = []
    for name, service in m.services.items():
        for index, call in enumerate(service.calls):
            target, _, endpoint = call.partition(".")
            callee = m.services.get(target)
            if callee is None or endpoint not in callee.endpoints or callee.bus == service.bus:
                continue
            found.append(
                CrossPath(
                    PathKind.CALL,
                    f"services.{name}.calls[{index}]",
                    service.bus,
                    callee.bus,
                    subject=callee.endpoint_subject(target, endpoint),
                    user=name,
                )
            )
    return found


def _consumers(m: Manifest) -> list[CrossPath]:
    found = []
    for name, service in m.services.items():
        for index, consume in enumerate(service.consumes):
            stream = m.streams.get(consume.stream)
            if stream is None or stream.bus == service.bus:
                continue
            found.append(
                CrossPath(
                    PathKind.CONSUMER,
                    f"services.{name}.consumes[{index}]",
                    service.bus,
                    stream.bus,
                    stream=consume.stream,
                    consumer=consume.consumer,
                    user=name,
                )
            )
    return found


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
