"""Publish to a stream in order, many in flight, each ack checked for the sequence it must have.

A restore must store message n at sequence first + n: one connection keeps the order, and at
most `window` publishes wait for their acks. Each publish carries its expected sequence in its
reply subject (`<inbox>.<seq>`) and one subscription reads the acks in a callback. nats-py's
`publish_async` does the same with a future, a random token and a parsed `PubAck` per message,
at about half the rate (`bench/backup.py` prints both).

A failed ack (an error from the stream, no stream listening, another sequence than expected)
stops the pipeline with `ConfigError`; so does a wait of `ACK_WAIT` seconds without any ack.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from deploykit.errors import ConfigError

__all__ = ["ACK_WAIT", "Pipeline"]

ACK_WAIT = 10.0  # seconds without a single ack before the stream is called unresponsive


class Pipeline:
    """`async with Pipeline(nc, stream, first) as p: await p.send(...)`; leaving waits for
    every ack. `stream` only names it in errors; `first` is the sequence of the first send."""

    def __init__(self, nc: Client, stream: str, first: int, window: int = 512) -> None:
        self.nc = nc
        self.stream = stream
        self.next = first
        self.window = window
        self.inbox = nc.new_inbox()
        self.sent = 0
        self.acked = 0
        self.failure: str | None = None
        self.room = asyncio.Event()  # set by every ack
        self.sub: Subscription | None = None

    async def __aenter__(self) -> Pipeline:
        self.sub = await self.nc.subscribe(f"{self.inbox}.*", cb=self._on_ack)
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                while self.acked < self.sent:
                    await self._wait()
        finally:
            if self.sub is not None:
                with contextlib.suppress(nats.errors.Error):
                    await self.sub.unsubscribe()

    async def send(self, subject: str, data: bytes, headers: dict[str, str] | None) -> None:
        while self.sent - self.acked >= self.window:
            await self._wait()
        await self.nc.publish(subject, data, reply=f"{self.inbox}.{self.next}", headers=headers)
        self.next += 1
        self.sent += 1

    async def _wait(self) -> None:
        """Until the next ack (callbacks run only while this waits, so none is missed)."""
        if self.failure is None:
            self.room.clear()
            try:
                await asyncio.wait_for(self.room.wait(), ACK_WAIT)
            except TimeoutError:
                raise ConfigError(
                    f"restore into {self.stream}: no ack from the server for {ACK_WAIT:g}s "
                    f"({self.acked} of {self.sent} acknowledged)"
                ) from None
        if self.failure is not None:
            raise ConfigError(f"restore into {self.stream}: {self.failure}")

    async def _on_ack(self, msg: Msg) -> None:
        if self.failure is None:
            self.failure = _problem(msg, int(msg.subject.rsplit(".", 1)[1]))
            self.acked += 1
        self.room.set()


def _problem(msg: Msg, expected: int) -> str | None:
    """What is wrong with one ack, if anything."""
    if (msg.headers or {}).get("Status") == "503":
        return "no stream listens on its subjects (was it deleted meanwhile?)"
    try:
        ack = json.loads(msg.data)
    except ValueError:
        return f"an ack that is not JSON: {msg.data[:200]!r}"
    if "error" in ack:
        error = ack["error"]
        return f"the server refused a message: {error.get('description', error)}"
    if ack.get("seq") != expected:
        return (
            f"the server stored a message at sequence {ack.get('seq')}, expected {expected}; "
            "the stream was written by something else meanwhile"
        )
    return None
