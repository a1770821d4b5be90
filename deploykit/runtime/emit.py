"""Emitting an event: a JetStream publish with a message id and an awaited acknowledgement,
retried within a bound.

Retried: no answer in time, "no responders" and "temporarily unavailable" — what a stream whose
leader is being elected answers (a killed leader is replaced in 4-9 s, nats-server's fixed raft
election timeout) and what a stream that was just created answers until its first leader is
elected. Every attempt carries the same `Nats-Msg-Id`, so the stream stores the event once even
when an earlier attempt was stored and only its acknowledgement was lost (within the stream's
`duplicate_window`). Not retried: what no retry can fix (a subject no stream captures is
"no responders" for the whole bound, then `EmitFailed`; a refused publish is an error at once).
"""

from __future__ import annotations

import asyncio
import logging
import time

import nats.errors
import nats.js.errors
from nats.js.api import PubAck
from nats.js.client import JetStreamContext

from deploykit.runtime.errors import EmitFailed
from deploykit.runtime.metrics import Metrics

__all__ = ["ATTEMPT_TIMEOUT", "HANDLER_EMIT_BOUND", "RPC_EMIT_BOUND", "publish"]

log = logging.getLogger("deploykit.runtime")

ATTEMPT_TIMEOUT = 2.0  # seconds one attempt waits for its acknowledgement
HANDLER_EMIT_BOUND = (
    20.0  # a consumer's emit: longer than the worst leader election (9 s) + a retry
)
RPC_EMIT_BOUND = 8.0  # inside a request: shorter than a frontend's request timeout (10 s)

_RETRIED = (
    nats.errors.TimeoutError,
    TimeoutError,
    nats.js.errors.NoStreamResponseError,
    nats.js.errors.ServiceUnavailableError,
    nats.js.errors.ServerError,
    nats.errors.NoRespondersError,
)


async def publish(
    js: JetStreamContext,
    metrics: Metrics,
    subject: str,
    data: bytes,
    msg_id: str,
    bound: float,
    headers: dict[str, str] | None = None,
) -> PubAck:
    """Publish until acknowledged or `bound` seconds have passed (then `EmitFailed`)."""
    headers = {**(headers or {}), "Nats-Msg-Id": msg_id}
    started = time.monotonic()
    deadline = started + bound
    pause, attempt = 0.05, 0
    while True:
        attempt += 1
        tried = time.monotonic()
        timeout = max(0.1, min(ATTEMPT_TIMEOUT, deadline - tried))
        try:
            ack = await js.publish(subject, data, timeout=timeout, headers=headers)
        except _RETRIED as exc:
            reason = type(exc).__name__
            metrics.published(subject, time.monotonic() - tried, reason)
            if time.monotonic() + pause >= deadline:
                raise EmitFailed(
                    f"{subject} (id {msg_id}) not stored after {attempt} attempt(s) in "
                    f"{time.monotonic() - started:.1f}s: {reason}"
                ) from None
            if attempt == 1 or attempt % 10 == 0:
                log.warning("emit %s (id %s): %s, retrying", subject, msg_id, reason)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 1.0)
            continue
        except nats.errors.Error as exc:
            metrics.published(subject, time.monotonic() - tried, type(exc).__name__)
            raise EmitFailed(
                f"{subject} (id {msg_id}) refused: {exc or type(exc).__name__}"
            ) from None
        metrics.published(subject, time.monotonic() - tried)
        if attempt > 1:
            log.info("emit %s (id %s) stored after %d attempts", subject, msg_id, attempt)
        return ack
