"""The laws at run time: the server itself refuses what the lint forbids.

A frontend only forwards requests; it never publishes events. The check connects with the
frontend's own credentials, publishes to an event subject of its bus and expects the server's
permissions violation. The message carries `Nats-Expected-Stream` naming no stream, so even a
server that wrongly accepted it would not store it in production.
"""

from __future__ import annotations

from deploykit.manifest.model import Manifest
from deploykit.smoke.calls import publish_refused
from deploykit.smoke.context import Context
from deploykit.smoke.results import Outcome, skipped

__all__ = ["NOWHERE_STREAM", "event_subject", "frontend_cannot_emit"]

NOWHERE_STREAM = "DEPLOYKIT_SMOKE_NO_SUCH_STREAM"


def event_subject(manifest: Manifest, bus: str) -> str | None:
    """A subject that is an event on `bus`: one a service emits, else a stream's, made literal."""
    for service in manifest.services.values():
        if service.bus == bus and service.emits:
            return service.emits[0]
    for stream in manifest.streams.values():
        if stream.bus == bus and stream.subjects:  # a copy (only `sources`) has none
            tokens = stream.subjects[0].split(".")
            return ".".join("deploykit-smoke" if t in ("*", ">") else t for t in tokens)
    return None


async def frontend_cannot_emit(ctx: Context, user: str) -> Outcome:
    cred = ctx.outputs.credential(user)
    service = ctx.manifest.services.get(cred.service or user)
    bus = service.bus if service else ctx.manifest.core_bus
    subject = event_subject(ctx.manifest, bus)
    if subject is None:
        return skipped(f"bus {bus} has no event subject to try")
    return await publish_refused(
        ctx,
        await ctx.open(user),
        subject,
        b"deploykit smoke: frontends must not publish events",
        headers={"Nats-Expected-Stream": NOWHERE_STREAM},
        unrefused=f"frontend {user} published to the event subject {subject} and the server did "
        "not refuse it: its permissions are not in force (frontends never publish events)",
    )
