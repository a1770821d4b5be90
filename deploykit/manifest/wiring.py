"""What deploykit.yaml says about one service, as the runtime needs it at run time.

The kit passes it to every instance as DEPLOYKIT_WIRING (JSON), so a container needs no copy of
the manifest and the code names only what it handles ("create", "welcome"): subjects, stream
names, modes, delivery limits and dead-letter subjects come from the manifest alone, and so does
where a stream of another bus is read from (`ConsumerWiring.api`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from deploykit.manifest import naming
from deploykit.manifest.kinds import ConsumeMode, Role
from deploykit.manifest.subjects import collide

if TYPE_CHECKING:  # the kit builds a wiring from the manifest; a service only reads one
    from deploykit.manifest.model import Manifest

__all__ = ["ConsumerWiring", "Wiring", "archiver_wiring", "wiring_for"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConsumerWiring(_Frozen):
    stream: str
    consumer: str
    mode: ConsumeMode
    filter: str | None = None
    warmup: bool = False
    max_deliver: int = 5
    dead_letter: str | None = None
    api: str | None = Field(
        None,
        description="the JetStream API prefix of the stream's bus when it is not the service's "
        "own (a consumer read across buses); None: the service's bus",
    )


class Wiring(_Frozen):
    role: Role
    endpoints: dict[str, str] = Field(default_factory=dict, description="endpoint → subject")
    calls: dict[str, str] = Field(default_factory=dict, description="service.endpoint → subject")
    consumes: dict[str, ConsumerWiring] = Field(default_factory=dict, description="by consumer")
    emits: list[str] = Field(default_factory=list)
    contracts: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="subject → {schema | request, reply} of every contract the service touches",
    )


def wiring_for(manifest: Manifest, name: str) -> Wiring:
    service = manifest.services[name]
    subjects = manifest.endpoint_subjects()
    return Wiring(
        role=service.role,
        endpoints={e: service.endpoint_subject(name, e) for e in service.endpoints},
        calls={call: subjects[call] for call in service.calls if call in subjects},
        consumes={
            c.consumer: ConsumerWiring(
                stream=c.stream,
                consumer=c.consumer,
                mode=c.mode,
                filter=c.filter,
                warmup=c.warmup,
                max_deliver=c.max_deliver,
                dead_letter=c.dead_letter,
                api=_api(manifest, c.stream, service.bus),
            )
            for c in service.consumes
        },
        emits=list(service.emits),
        contracts=_contracts(manifest, name),
    )


def _api(manifest: Manifest, stream: str, bus: str) -> str | None:
    """The imported JetStream API a consumer on another bus's stream is read through."""
    home = manifest.streams[stream].bus if stream in manifest.streams else bus
    return naming.crossbus_api(home) if home != bus else None


def _contracts(manifest: Manifest, name: str) -> dict[str, dict[str, Any]]:
    """The contracts of what the service emits, consumes, answers and calls (JSON Schema)."""
    service = manifest.services[name]
    subjects = manifest.endpoint_subjects()
    touched = [*service.emits, *(service.endpoint_subject(name, e) for e in service.endpoints)]
    touched += [subjects[c] for c in service.calls if c in subjects]
    for consume in service.consumes:
        stream = manifest.streams.get(consume.stream)
        if stream is not None:
            touched += [consume.filter] if consume.filter else stream.subjects
    return {
        subject: contract.model_dump(by_alias=True, exclude_none=True, exclude={"description"})
        for subject, contract in manifest.contracts.items()
        if any(collide(subject, t) for t in touched)
    }


def archiver_wiring(manifest: Manifest, bus: str) -> Wiring:
    """DEPLOYKIT_WIRING of `archiver-<bus>`: its consumer on each archived stream, by stream."""
    return Wiring(
        role=Role.WORKER,
        consumes={
            stream: ConsumerWiring(
                stream=stream, consumer=naming.ARCHIVE_CONSUMER, mode=ConsumeMode.QUEUE
            )
            for stream in manifest.sql_archived().get(bus, [])
        },
    )
