"""What deploykit.yaml says about one service, as the runtime needs it at run time.

The kit passes it to every instance as DEPLOYKIT_WIRING (JSON), so a container needs no copy of
the manifest and the code names only what it handles ("create", "welcome"): subjects, stream
names, modes, delivery limits and dead-letter subjects come from the manifest alone.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from deploykit.manifest.model import ConsumeMode, Manifest, Role

__all__ = ["ConsumerWiring", "Wiring", "wiring_for"]


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


class Wiring(_Frozen):
    role: Role
    endpoints: dict[str, str] = Field(default_factory=dict, description="endpoint → subject")
    calls: dict[str, str] = Field(default_factory=dict, description="service.endpoint → subject")
    consumes: dict[str, ConsumerWiring] = Field(default_factory=dict, description="by consumer")
    emits: list[str] = Field(default_factory=list)


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
            )
            for c in service.consumes
        },
        emits=list(service.emits),
    )
