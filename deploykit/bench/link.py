"""The worker's end of its pipe to the runner, read from inside the worker's event loop.

The pipe's file descriptor is watched by the loop (`add_reader`), so waiting for "go" or a
subscriber's expected count costs nothing while the load runs. Progress is sent at most five
times a second; errors the NATS client reports asynchronously (permissions violations, slow
consumers) are kept and counted in the tally.
"""

from __future__ import annotations

import asyncio
from multiprocessing.connection import Connection
from time import perf_counter
from typing import Any

from deploykit.bench.jobs import Job, Tally

__all__ = ["PROGRESS_EVERY", "Link"]

PROGRESS_EVERY = 0.2  # seconds between progress messages


class Link:
    def __init__(self, pipe: Connection) -> None:
        self.pipe = pipe
        self.inbox: asyncio.Queue[Any] = asyncio.Queue()
        self.errors: list[str] = []
        self.index = 0
        self._next_report = 0.0

    def attach(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_reader(self.pipe.fileno(), self._receive)

    def _receive(self) -> None:
        try:
            self.inbox.put_nowait(self.pipe.recv())
        except EOFError:  # the runner is gone: end the worker
            asyncio.get_running_loop().remove_reader(self.pipe.fileno())
            self.inbox.put_nowait(None)

    async def next(self) -> Any:
        return await self.inbox.get()

    def begin(self, job: Job) -> None:
        self.index = job.index
        self.errors = []

    async def error(self, exc: Exception) -> None:
        """The NATS client's error callback."""
        self.errors.append(str(exc) or type(exc).__name__)

    async def ready(self) -> float:
        """Tell the runner this client is set up; return the moment "go" arrives."""
        self.pipe.send(("ready", self.index))
        message = await self.next()
        if message != "go":
            raise RuntimeError(f"expected go, got {message!r}")
        now = perf_counter()
        self._next_report = now + PROGRESS_EVERY
        return now

    async def expect(self) -> int:
        message = await self.next()
        if not (isinstance(message, tuple) and message[0] == "expect"):
            raise RuntimeError(f"expected a count, got {message!r}")
        return int(message[1])

    async def stopped(self) -> None:
        message = await self.next()
        if message != "stop":
            raise RuntimeError(f"expected stop, got {message!r}")

    def progress(self, done: int, now: float) -> None:
        """Report `done` operations if the last report is old enough (`now` is perf_counter)."""
        if now >= self._next_report:
            self.pipe.send(("progress", self.index, done))
            self._next_report = now + PROGRESS_EVERY

    def tally(
        self,
        job: Job,
        count: int,
        start: float,
        end: float,
        *,
        errors: int = 0,
        error: str = "",
        latencies: bytes = b"",
        cut: bool = False,
    ) -> Tally:
        """The client's result, counting the client's asynchronous errors too."""
        first = error or (self.errors[0] if self.errors else "")
        return Tally(
            role=job.role,
            index=job.index,
            count=count,
            errors=errors + len(self.errors),
            error=first,
            start=start,
            end=end,
            latencies=latencies,
            cut=cut,
        )
