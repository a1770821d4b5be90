"""Backups, on demand (`--only backups`): each stream marked `backup: true` is backed up,
restored into a scratch stream, verified against the snapshot and the scratch deleted (the
same drill as `deploykit backup drill`). Not part of a default run: it reads every message of
the stream, which on a large one takes far longer than a smoke run should.
"""

from __future__ import annotations

import time

from deploykit.backup.drill import drill
from deploykit.jetstream.api import cluster_size
from deploykit.manifest.naming import backup_user, provisioning_user
from deploykit.smoke.context import Context
from deploykit.smoke.results import Metric, Outcome, failed, passed

__all__ = ["drill_stream"]


async def drill_stream(ctx: Context, stream: str) -> Outcome:
    bus = ctx.manifest.streams[stream].bus
    data = (await ctx.nats(backup_user(bus))).client
    admin = (await ctx.nats(provisioning_user(bus))).client
    started = time.monotonic()
    report = await drill(data, admin, ctx.manifest.system, bus, stream, cluster_size(admin))
    took = time.monotonic() - started
    metrics = (
        Metric("messages", report.messages),
        Metric("backup_seconds", report.backup_seconds, "s"),
        Metric("restore_seconds", report.restore_seconds, "s"),
    )
    if not report.passed:
        return failed(f"{stream}: the drill failed", tuple(report.problems), *metrics)
    return passed(
        f"{stream}: {report.messages:,} messages backed up, restored into {report.scratch} and "
        f"verified in {took:.2f}s (scratch deleted)",
        (),
        *metrics,
    )
