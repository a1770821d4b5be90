"""`deploykit backup drill`: prove that a backup restores, without touching production.

Back up the stream, restore it into a scratch stream beside it, verify the scratch against the
snapshot (count, sequences, content checksum), delete the scratch and the snapshot, report.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from nats.aio.client import Client

from deploykit.backup.restore import restore_snapshot
from deploykit.backup.snapshot import snapshot_stream
from deploykit.jetstream.api import STREAM_NOT_FOUND, ApiError, JetStreamApi

__all__ = ["DrillReport", "drill"]


@dataclass
class DrillReport:
    stream: str
    scratch: str
    messages: int
    bytes: int
    backup_seconds: float
    restore_seconds: float
    problems: list[str]

    @property
    def passed(self) -> bool:
        return not self.problems


async def drill(
    data: Client, admin: Client, system: str, bus: str, stream: str, max_replicas: int | None
) -> DrillReport:
    scratch = f"DRILL_{stream}_{secrets.token_hex(3)}"[:255]
    with tempfile.TemporaryDirectory(prefix="deploykit-drill-") as tmp:
        started = time.monotonic()
        folder, manifest = await snapshot_stream(data, system, bus, stream, Path(tmp))
        backed_up = time.monotonic() - started
        try:
            report = await restore_snapshot(data, admin, folder, scratch, max_replicas=max_replicas)
        finally:
            await _delete_if_there(JetStreamApi(admin), scratch)
    return DrillReport(
        stream=stream,
        scratch=scratch,
        messages=manifest.messages,
        bytes=manifest.bytes,
        backup_seconds=backed_up,
        restore_seconds=report.seconds,
        problems=report.problems,
    )


async def _delete_if_there(api: JetStreamApi, name: str) -> None:
    try:
        await api.delete_stream(name)
    except ApiError as exc:
        if exc.err_code != STREAM_NOT_FOUND:
            raise
