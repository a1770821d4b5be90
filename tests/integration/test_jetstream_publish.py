"""`publish_settled`: a publish that waits out "no responders" while a stream appears, on a real
nats-server, and gives up within its bound when no stream ever does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import nats
import nats.js.errors
import pytest
from nats.aio.client import Client

from deploykit.jetstream.publish import publish_settled
from deploykit.local.nats import LocalNats

pytestmark = pytest.mark.integration


@asynccontextmanager
async def connected(cluster: LocalNats) -> AsyncIterator[Client]:
    nc = await nats.connect(cluster.urls)
    try:
        yield nc
    finally:
        await nc.close()


def test_a_publish_right_before_its_stream_exists_lands_once_it_does(
    nats_single: LocalNats,
) -> None:
    async def scenario() -> tuple[int, str]:
        async with connected(nats_single) as nc:
            js = nc.jetstream()
            with pytest.raises(nats.js.errors.NoStreamResponseError):  # what a plain publish gets
                await js.publish("settle.a", b"x")

            async def create_later() -> None:
                await nc.flush()  # the publish below is in flight before the stream exists
                await js.add_stream(name="SETTLE_A", subjects=["settle.a"])

            try:
                ack, _ = await asyncio.gather(
                    publish_settled(js, "settle.a", b"x", timeout=10), create_later()
                )
            finally:
                await js.delete_stream("SETTLE_A")
            return ack.seq, ack.stream

    assert asyncio.run(scenario()) == (1, "SETTLE_A")


def test_without_a_stream_it_gives_up_within_its_bound(nats_single: LocalNats) -> None:
    async def scenario() -> float:
        async with connected(nats_single) as nc:
            started = time.monotonic()
            with pytest.raises(nats.js.errors.NoStreamResponseError):
                await publish_settled(nc.jetstream(), "settle.none", b"x", timeout=0.5)
            return time.monotonic() - started

    assert 0.3 < asyncio.run(scenario()) < 2
