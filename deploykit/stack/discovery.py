"""NATS Service discovery (ADR-32): who answers `$SRV.PING|INFO|STATS.<service>`.

A request to a discovery subject is answered by every instance, so it is a scatter-gather:
publish once, collect replies on our own inbox until the expected count or the deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any, Literal

from nats.aio.client import Client

__all__ = ["discover"]

Verb = Literal["PING", "INFO", "STATS"]


async def discover(
    nc: Client, verb: Verb, service: str, *, expect: int | None = None, timeout: float = 0.5
) -> list[dict[str, Any]]:
    """Every instance's answer to `$SRV.<verb>.<service>`, within `timeout` seconds."""
    inbox = nc.new_inbox()
    replies: list[dict[str, Any]] = []
    done = asyncio.Event()

    async def collect(msg: Any) -> None:
        try:
            replies.append(json.loads(msg.data))
        except ValueError:
            return
        if expect is not None and len(replies) >= expect:
            done.set()

    sub = await nc.subscribe(inbox, cb=collect)
    try:
        await nc.publish(f"$SRV.{verb}.{service}", b"", reply=inbox)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), timeout)
    finally:
        await sub.unsubscribe()
    return replies
