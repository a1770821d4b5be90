"""Cross-bus paths at run time: each declared path crosses, and what was not declared does not.

Each check acts as the user the path belongs to, so it proves the import that user relies on:

- call: the caller requests the endpoint on the other bus and gets a reply (the probe's payload
  when a probe calls that endpoint, else `{}`: a service's error reply has crossed as well);
- consumer: the worker asks for its consumer's info through the imported API and gets it;
- source: the copying stream reports its source without error, and its lag drains to 0 (every
  matching event of the other bus is on this one);
- refused: a subject next to each declared one, on the other bus, is refused by the server.

They send no event and read no message: the consumer's messages stay the worker's.
"""

from __future__ import annotations

import asyncio
import json
import time

import nats.errors

from deploykit.manifest import naming
from deploykit.manifest.crossbus import CrossPath, PathKind
from deploykit.smoke.calls import publish_refused
from deploykit.smoke.context import Context
from deploykit.smoke.results import Outcome, failed, passed, skipped
from deploykit.smoke.verdicts import millis

__all__ = ["UNDECLARED", "call", "consumer", "refused", "source", "undeclared_subject"]

UNDECLARED = "deploykit-smoke-undeclared"
REPLY_TIMEOUT = 5.0
LAG_WAIT = 5.0


def _user(ctx: Context, path: CrossPath) -> str | None:
    user = path.user or naming.smoke_user(path.importer)
    return user if user in ctx.outputs.nats.credentials else None


async def call(ctx: Context, path: CrossPath) -> Outcome:
    user = _user(ctx, path)
    if user is None:
        return skipped(f"the outputs have no credentials for {path.user}")
    assert path.subject
    endpoint = next(e for e, s in ctx.manifest.endpoint_subjects().items() if s == path.subject)
    probes = [p for p in ctx.manifest.probes if p.request.endpoint == endpoint]
    payload = probes[0].request.payload if probes else {}
    session = await ctx.nats(user)
    started = time.monotonic()
    try:
        await session.client.request(
            path.subject, json.dumps(payload).encode(), timeout=ctx.budget(REPLY_TIMEOUT)
        )
    except nats.errors.NoRespondersError:
        return failed(
            f"{path.describe()}: no responders; the import from bus {path.exporter} does not "
            f"resolve, or no instance of the endpoint's service runs"
        )
    except nats.errors.TimeoutError:
        return failed(f"{path.describe()}: no reply within {REPLY_TIMEOUT:g}s")
    took = time.monotonic() - started
    return passed(f"{path.describe()}: answered across in {millis(took)}")


async def consumer(ctx: Context, path: CrossPath) -> Outcome:
    user = _user(ctx, path)
    if user is None:
        return skipped(f"the outputs have no credentials for {path.user}")
    subject = f"{naming.crossbus_api(path.exporter)}.CONSUMER.INFO.{path.stream}.{path.consumer}"
    session = await ctx.nats(user)
    try:
        reply = await session.client.request(subject, b"", timeout=ctx.budget(REPLY_TIMEOUT))
    except nats.errors.NoRespondersError:
        return failed(f"{path.describe()}: {subject} has no responders (the import is missing)")
    except nats.errors.TimeoutError:
        return failed(f"{path.describe()}: no reply to {subject} within {REPLY_TIMEOUT:g}s")
    info = json.loads(reply.data)
    if "error" in info:
        return failed(f"{path.describe()}: {info['error'].get('description', info['error'])}")
    floor = info.get("ack_floor", {}).get("stream_seq", 0)
    return passed(
        f"{path.describe()}: reachable through the import; ack floor {floor}, "
        f"{info.get('num_pending', 0)} pending, {info.get('num_ack_pending', 0)} unacknowledged"
    )


async def source(ctx: Context, path: CrossPath) -> Outcome:
    user = naming.smoke_user(path.importer)
    if user not in ctx.outputs.nats.credentials:
        return skipped(f"the outputs have no credentials for {user}")
    session = await ctx.nats(user)
    deadline = time.monotonic() + ctx.budget(LAG_WAIT)
    while True:
        reply = await session.client.request(
            f"$JS.API.STREAM.INFO.{path.target}", b"", timeout=ctx.budget(REPLY_TIMEOUT)
        )
        info = json.loads(reply.data)
        if "error" in info:
            return failed(f"{path.describe()}: {info['error'].get('description', info['error'])}")
        found = [s for s in info.get("sources") or [] if s.get("name") == path.stream]
        if not found:
            return failed(f"{path.describe()}: stream {path.target} has no source {path.stream}")
        (state,) = found[:1]
        if state.get("error"):
            return failed(f"{path.describe()}: {state['error'].get('description', state['error'])}")
        if state.get("lag", 0) == 0 and state.get("active", -1) >= 0:
            count = info.get("state", {}).get("messages", 0)
            return passed(f"{path.describe()}: copying, lag 0, {count} events on {path.importer}")
        if time.monotonic() >= deadline:
            return failed(
                f"{path.describe()}: lag {state.get('lag')} after {LAG_WAIT:g}s "
                f"(active: {state.get('active')})"
            )
        await asyncio.sleep(0.1)


def undeclared_subject(path: CrossPath) -> str:
    """A subject of the exporting bus beside the declared one, which no path declares."""
    if path.kind is PathKind.CALL and path.subject:
        return f"{path.subject.replace('*', 'x').replace('>', 'x')}.{UNDECLARED}"
    return f"{naming.crossbus_api(path.exporter)}.CONSUMER.INFO.{path.stream}.{UNDECLARED}"


async def refused(ctx: Context, path: CrossPath) -> Outcome:
    user = _user(ctx, path)
    if user is None:
        return skipped(f"the outputs have no credentials for {path.user}")
    subject = undeclared_subject(path)
    return await publish_refused(
        ctx,
        await ctx.open(user),
        subject,
        b"deploykit smoke: an undeclared cross-bus subject",
        unrefused=f"{user} published to {subject}, which no path declares, and the server did "
        "not refuse it: only declared cross-bus subjects may be reachable",
    )
