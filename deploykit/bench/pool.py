"""The runner's side of the worker processes: spawn them, hand them jobs, hear them back.

Each worker's pipe is watched by the runner's event loop; progress messages update a counter
on the spot, "ready" and "done" queue up for whoever waits on that worker. A worker that dies
or overstays its phase is reported as an error in its figure and replaced, so a run always
ends by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
from collections.abc import Callable, Iterable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from deploykit.bench import worker
from deploykit.bench.jobs import Job, Tally
from deploykit.bench.settings import Target

__all__ = ["Crew", "Pool"]

READY_TIMEOUT = 60.0  # seconds for a fresh process to import, connect and subscribe
SPAWN = multiprocessing.get_context("spawn")


class Worker:
    def __init__(self, process: BaseProcess, pipe: Connection) -> None:
        self.process = process
        self.pipe = pipe
        self.queue: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        self.progress = 0
        self.alive = True
        self.busy = False


class Pool:
    def __init__(self, target: Target, on_progress: Callable[[], None]) -> None:
        self.target = target
        self.on_progress = on_progress
        self.workers: list[Worker] = []

    def take(self, count: int) -> list[Worker]:
        """`count` idle workers, starting new processes for whatever is missing."""
        idle = [w for w in self.workers if w.alive and not w.busy][:count]
        idle += [self._spawn() for _ in range(count - len(idle))]
        for w in idle:
            w.busy, w.progress = True, 0
        return idle

    def _spawn(self) -> Worker:
        ours, theirs = SPAWN.Pipe()
        process = SPAWN.Process(target=worker.main, args=(theirs, self.target), daemon=True)
        process.start()
        theirs.close()
        w = Worker(process, ours)
        asyncio.get_running_loop().add_reader(ours.fileno(), self._readable, w)
        self.workers.append(w)
        return w

    def _readable(self, w: Worker) -> None:
        try:
            message = w.pipe.recv()
        except (EOFError, OSError):
            self.kill(w)
            w.queue.put_nowait(("died",))
            return
        if message[0] == "progress":
            w.progress = message[2]
            self.on_progress()
        else:
            w.queue.put_nowait(message)

    def kill(self, w: Worker) -> None:
        """Stop listening to a worker that died or hangs, and end it."""
        if w.alive:
            w.alive = False
            asyncio.get_running_loop().remove_reader(w.pipe.fileno())
            if w.process.is_alive():
                w.process.terminate()

    def close(self) -> None:
        """Ask every worker to end (its pipe's None), then wait; kill what does not."""
        for w in self.workers:
            if w.alive:
                w.alive = False
                asyncio.get_running_loop().remove_reader(w.pipe.fileno())
                with contextlib.suppress(OSError):
                    w.pipe.send(None)
        for w in self.workers:
            w.process.join(5)
            if w.process.is_alive():
                w.process.kill()
                w.process.join(5)
            w.pipe.close()


class Crew:
    """The workers running one group of jobs, one job each."""

    def __init__(self, pool: Pool, jobs: Iterable[Job]) -> None:
        self.pool = pool
        self.jobs = list(jobs)
        self.members = pool.take(len(self.jobs))
        self.tallies: dict[int, Tally] = {}

    @property
    def progress(self) -> int:
        return sum(w.progress for w in self.members)

    async def launch(self) -> None:
        """Send every job, then wait until each client is set up (or has already failed)."""
        for w, job in zip(self.members, self.jobs, strict=True):
            w.pipe.send(job)
        for w, job in zip(self.members, self.jobs, strict=True):
            await self._await(w, job, "ready", READY_TIMEOUT)

    def tell(self, message: Callable[[Job], Any]) -> None:
        """Send each client still running its job a message made for its job."""
        for w, job in zip(self.members, self.jobs, strict=True):
            if job.index not in self.tallies and w.alive:
                w.pipe.send(message(job))

    async def finish(self, timeout: float) -> list[Tally]:
        """Every client's tally; one that is silent `timeout` seconds from now is ended."""
        deadline = asyncio.get_running_loop().time() + timeout
        for w, job in zip(self.members, self.jobs, strict=True):
            if job.index not in self.tallies:
                left = max(deadline - asyncio.get_running_loop().time(), 0.1)
                await self._await(w, job, "done", left)
        for w in self.members:
            w.busy = False
        return [self.tallies[job.index] for job in self.jobs]

    async def _await(self, w: Worker, job: Job, kind: str, timeout: float) -> None:
        try:
            message = await asyncio.wait_for(w.queue.get(), timeout)
        except TimeoutError:
            self.pool.kill(w)
            message = ("died",)
            error = f"client {job.index} did not report {kind} within {timeout:.0f}s"
        else:
            error = f"client {job.index}'s worker process died"
        if message[0] == "done":
            self.tallies[job.index] = message[2]
        elif message[0] == "died":
            self.tallies[job.index] = Tally(role=job.role, index=job.index, errors=1, error=error)
