"""The restore's publish pipeline on a real nats-server: order kept, every ack checked."""

from __future__ import annotations

import asyncio

import nats
import pytest

from deploykit.backup.pipeline import Pipeline
from deploykit.errors import ConfigError
from deploykit.local.nats import LocalNats

pytestmark = pytest.mark.integration


async def _run(cluster: LocalNats, stream: str, first: int, count: int, create: bool) -> int:
    nc = await nats.connect(cluster.urls[0])
    js = nc.jetstream()
    try:
        if create:
            await js.add_stream(name=stream, subjects=[f"{stream.lower()}.>"])
        async with Pipeline(nc, stream, first, window=16) as pipeline:
            for n in range(count):
                await pipeline.send(f"{stream.lower()}.x", n.to_bytes(4, "big"), {"N": str(n)})
        info = await js.stream_info(stream)
        last = await js.get_msg(stream, info.state.last_seq)
        assert last.data == (count - 1).to_bytes(4, "big") and last.headers == {"N": str(count - 1)}
        return info.state.messages
    finally:
        await nc.close()


def test_every_message_is_stored_in_order(nats_single: LocalNats) -> None:
    assert asyncio.run(_run(nats_single, "PIPE_OK", 1, 2000, create=True)) == 2000


def test_a_sequence_other_than_expected_stops_it(nats_single: LocalNats) -> None:
    with pytest.raises(ConfigError, match="stored a message at sequence 1, expected 5"):
        asyncio.run(_run(nats_single, "PIPE_SEQ", 5, 100, create=True))


def test_no_stream_listening_stops_it(nats_single: LocalNats) -> None:
    with pytest.raises(ConfigError, match="no stream listens on its subjects"):
        asyncio.run(_run(nats_single, "PIPE_NONE", 1, 100, create=False))
