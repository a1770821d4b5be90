"""A worker process: one NATS (or database) client at a time, run as the runner asks.

`nats bench --clients N` runs N clients as goroutines of one process; one Python process is
the bottleneck long before the server is, so each bench client is a process of its own. It
imports only what the loops need (no rich, no matplotlib), and ends when its pipe closes.
"""

from __future__ import annotations

import asyncio
import contextlib
from multiprocessing.connection import Connection

from deploykit.bench.jobs import Job, Tally
from deploykit.bench.link import Link
from deploykit.bench.modes import ROLES
from deploykit.bench.settings import Target

__all__ = ["main"]


def main(pipe: Connection, target: Target) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(pipe, target))


async def _serve(pipe: Connection, target: Target) -> None:
    link = Link(pipe)
    link.attach()
    while (job := await link.next()) is not None:
        if not isinstance(job, Job):
            continue  # a "go", "expect" or "stop" meant for a job that already ended
        link.begin(job)
        try:
            tally = await ROLES[job.role](link, target, job)
        except Exception as exc:  # reported to the runner, which shows it as the figure's error
            tally = Tally(role=job.role, index=job.index, errors=1, error=_describe(exc))
        pipe.send(("done", job.index, tally))


def _describe(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text
