"""Requests that fail with the reason, not just "timeout".

A request the server refuses for lack of permission is not answered: the server sends the
connection an asynchronous permissions violation and the request times out. These helpers
look for that violation and name it; no responders and timeouts are named too. A publish that
must be refused is judged by the same violation.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import nats.errors
from nats.aio.msg import Msg

from deploykit.errors import ConnectError
from deploykit.jetstream.api import JetStreamApi
from deploykit.smoke.context import Context, NatsSession
from deploykit.smoke.results import CheckFailed, Outcome, failed, passed
from deploykit.smoke.verdicts import millis, permission_refusal

__all__ = ["as_json", "js_request", "publish_refused", "request"]

REFUSAL_WAIT = 1.0  # seconds to wait for the violation after the server has the publish


def _refused(session: NatsSession, subject: str) -> CheckFailed | None:
    why = permission_refusal(session.errors, subject)
    return CheckFailed(f"{session.user} may not use {subject}: {why}") if why else None


async def request(
    ctx: Context,
    session: NatsSession,
    subject: str,
    payload: bytes = b"",
    *,
    cap: float = 3.0,
    headers: dict[str, str] | None = None,
) -> Msg:
    """One request as `session`'s user, within `cap` seconds (or what is left of the run)."""
    timeout = ctx.budget(cap)
    try:
        return await session.client.request(subject, payload, timeout=timeout, headers=headers)
    except nats.errors.NoRespondersError:
        raise CheckFailed(f"nobody answers {subject} (no responders)") from None
    except nats.errors.TimeoutError:
        raise _refused(session, subject) or CheckFailed(
            f"no answer on {subject} within {timeout:.1f}s"
        ) from None


async def js_request(
    ctx: Context, session: NatsSession, subject: str, *, cap: float = 3.0
) -> dict[str, Any]:
    """One JetStream API request (`STREAM.INFO.X`); an API error raises `ApiError`."""
    api = JetStreamApi(session.client, timeout=ctx.budget(cap))
    try:
        return await api.request(subject)
    except ConnectError:
        refused = _refused(session, f"{api.prefix}.{subject}")
        if refused:
            raise refused from None
        raise


async def publish_refused(
    ctx: Context,
    session: NatsSession,
    subject: str,
    payload: bytes,
    *,
    unrefused: str,
    headers: dict[str, str] | None = None,
) -> Outcome:
    """Publish as `session`'s user and pass when the server refuses it: a publish is not
    answered, so the refusal is the permissions violation the connection is sent. `session`
    is one of the check's own, so the errors it collects are the check's alone; `unrefused`
    is the failure when no violation comes."""
    started = time.monotonic()
    await session.client.publish(subject, payload, headers=headers)
    await session.client.flush(ctx.budget(2.0))  # type: ignore[arg-type]  # nats-py annotates int, takes seconds as float
    deadline = time.monotonic() + ctx.budget(REFUSAL_WAIT)
    while (refusal := permission_refusal(session.errors, subject)) is None:
        if time.monotonic() >= deadline:
            return failed(unrefused)
        await asyncio.sleep(0.02)
    took = time.monotonic() - started
    return passed(f"{subject} refused to {session.user} by the server in {millis(took)}: {refusal}")


def as_json(msg: Msg) -> Any:
    try:
        return json.loads(msg.data)
    except ValueError:
        raise CheckFailed(f"{msg.subject}: the answer is not JSON: {msg.data[:80]!r}") from None
