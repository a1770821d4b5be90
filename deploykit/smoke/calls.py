"""Requests that fail with the reason, not just "timeout".

A request the server refuses for lack of permission is not answered: the server sends the
connection an asynchronous permissions violation and the request times out. These helpers
look for that violation and name it; no responders and timeouts are named too.
"""

from __future__ import annotations

import json
from typing import Any

import nats.errors
from nats.aio.msg import Msg

from deploykit.errors import ConnectError
from deploykit.jetstream.api import JetStreamApi
from deploykit.smoke.context import Context, NatsSession
from deploykit.smoke.results import CheckFailed
from deploykit.smoke.verdicts import permission_refusal

__all__ = ["as_json", "js_request", "request"]


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


def as_json(msg: Msg) -> Any:
    try:
        return json.loads(msg.data)
    except ValueError:
        raise CheckFailed(f"{msg.subject}: the answer is not JSON: {msg.data[:80]!r}") from None
