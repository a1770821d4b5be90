"""The manifest's smoke probes: a request through a service's API, its reply and its event.

This is the one place smoke touches production, through the service's own API and by the
team's explicit choice in `deploykit.yaml` (e.g. creating a known account, idempotently).
`deploykit smoke --skip probes` leaves them out. The smoke user listens for the expected
event before it sends the request, and only an event that matches the reply counts
(see `verdicts.correlates`).
"""

from __future__ import annotations

import asyncio
import json
import time

from nats.aio.msg import Msg

from deploykit.manifest import naming
from deploykit.manifest.model import Probe
from deploykit.smoke.calls import request
from deploykit.smoke.context import Context
from deploykit.smoke.results import CheckFailed, Metric, Outcome, passed
from deploykit.smoke.verdicts import (
    breaches,
    correlates,
    judge_reply,
    millis,
    permission_refusal,
)

__all__ = ["REQUEST_TIMEOUT", "probe"]

REQUEST_TIMEOUT = 5.0  # seconds for the reply


async def probe(ctx: Context, spec: Probe) -> Outcome:
    service_name = spec.request.endpoint.split(".", 1)[0]
    subject = ctx.manifest.endpoint_subjects()[spec.request.endpoint]
    bus = ctx.manifest.services[service_name].bus
    session = await ctx.nats(naming.smoke_user(bus))
    events: asyncio.Queue[Msg] = asyncio.Queue()
    event = spec.expect.event
    sub = None
    if event:

        async def collect(msg: Msg) -> None:
            events.put_nowait(msg)

        sub = await session.client.subscribe(event, cb=collect)
    try:
        if event:
            await session.client.flush(ctx.budget(2.0))  # type: ignore[arg-type]  # nats-py annotates int, takes seconds as float
            refusal = permission_refusal(session.errors, event)
            if refusal:
                raise CheckFailed(f"cannot listen for {event}: {refusal}")
        payload = b"" if spec.request.payload is None else json.dumps(spec.request.payload).encode()
        started = time.monotonic()
        msg = await request(ctx, session, subject, payload, cap=REQUEST_TIMEOUT)
        replied = time.monotonic() - started
        reply, problems = judge_reply(msg.data, msg.headers, spec.expect.reply)
        contract = ctx.manifest.contracts.get(subject)
        if reply is not None and contract is not None and contract.reply is not None:
            problems += breaches(reply, contract.reply, f"reply contract v{contract.version}")
        if reply is None or problems:
            raise CheckFailed(f"{spec.request.endpoint} ({subject}): {'; '.join(problems)}")
        metrics = [Metric("reply_seconds", replied, "s")]
        message = (
            f"{spec.request.endpoint} replied with {', '.join(sorted(reply))} in {millis(replied)}"
        )
        if event:
            caused = await _caused_event(ctx, spec, reply, events, started)
            metrics.append(Metric("event_seconds", caused, "s"))
            message += f"; {event} followed in {millis(caused)}"
    finally:
        if sub is not None:
            await sub.unsubscribe()
    return passed(message, (), *metrics)


async def _caused_event(
    ctx: Context, spec: Probe, reply: dict[str, object], events: asyncio.Queue[Msg], started: float
) -> float:
    """Seconds from the request to the first event that matches the reply, within `within`."""
    deadline = started + spec.expect.within
    others = 0
    while True:
        wait = min(deadline - time.monotonic(), ctx.remaining())
        try:
            msg = await asyncio.wait_for(events.get(), max(0.0, wait))
        except TimeoutError:
            seen = f" ({others} other event(s) did not match the reply)" if others else ""
            raise CheckFailed(
                f"{spec.request.endpoint} replied, but no {spec.expect.event} followed within "
                f"{spec.expect.within:g}s{seen}"
            ) from None
        if correlates(reply, spec.expect.reply, msg.data, msg.headers):
            return time.monotonic() - started
        others += 1
