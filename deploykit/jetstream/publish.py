"""Publishing right after a stream was created or a cluster (re)started.

A JetStream publish is a request that the stream's leader answers. For a moment after a stream
is created (its leader elected, its subjects' interest reaching every server of the cluster) the
server the client is connected to may know of no one to ask, and the publish fails with "no
responders": nothing was stored, so trying again is safe. Other errors are not retried.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import nats.errors
import nats.js.errors
from nats.js.api import PubAck
from nats.js.client import JetStreamContext

__all__ = ["SETTLE_TIMEOUT", "publish_settled"]

SETTLE_TIMEOUT = 5.0  # seconds; an R3 stream's leader is elected well within this


async def publish_settled(
    js: JetStreamContext,
    subject: str,
    payload: bytes,
    *,
    timeout: float = SETTLE_TIMEOUT,
    **options: Any,
) -> PubAck:
    """`js.publish`, tried again (backing off, within `timeout`) while it gets no responders."""
    deadline = time.monotonic() + timeout
    pause = 0.02
    while True:
        try:
            return await js.publish(subject, payload, **options)
        except (nats.errors.NoRespondersError, nats.js.errors.NoStreamResponseError):
            if time.monotonic() + pause > deadline:
                raise
        await asyncio.sleep(pause)  # between attempts only; the answer is the signal
        pause = min(pause * 2, 0.5)
