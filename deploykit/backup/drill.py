"""`deploykit backup drill`: prove that a backup restores, without touching production.

Back up the stream, restore it into a scratch stream beside it, verify the scratch against the
snapshot (count, sequences, content checksum), delete the scratch and the snapshot, report.
`drill_stored` does the same with the newest complete snapshot already kept in a store (the
backups a schedule wrote to a bucket), which it copies to a temporary folder first.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from nats.aio.client import Client

from deploykit.backup.archive import MANIFEST, SnapshotManifest
from deploykit.backup.restore import restore_snapshot
from deploykit.backup.snapshot import snapshot_stream
from deploykit.backup.store import SnapshotStore
from deploykit.errors import ConfigError
from deploykit.jetstream.api import STREAM_NOT_FOUND, ApiError, JetStreamApi

__all__ = ["DrillReport", "drill", "drill_stored"]


@dataclass
class DrillReport:
    stream: str
    scratch: str
    messages: int
    bytes: int
    backup_seconds: float  # taking the backup, or fetching the stored one
    restore_seconds: float
    problems: list[str]
    snapshot: str = ""  # the stored snapshot drilled; "" for a fresh backup

    @property
    def passed(self) -> bool:
        return not self.problems


async def drill(
    data: Client, admin: Client, system: str, bus: str, stream: str, max_replicas: int | None
) -> DrillReport:
    with tempfile.TemporaryDirectory(prefix="deploykit-drill-") as tmp:
        started = time.monotonic()
        folder, _ = await snapshot_stream(data, system, bus, stream, Path(tmp))
        took = time.monotonic() - started
        return await _restore_scratch(data, admin, stream, folder, took, max_replicas)


async def drill_stored(
    data: Client, admin: Client, store: SnapshotStore, stream: str, max_replicas: int | None
) -> DrillReport:
    """Restore the newest complete snapshot of `stream` in `store` into a scratch stream,
    verify it, delete the scratch."""
    stored = store.complete(stream)
    if not stored:
        raise ConfigError(f"{store.location}: no complete snapshot of stream {stream}")
    with tempfile.TemporaryDirectory(prefix="deploykit-drill-") as tmp:
        started = time.monotonic()
        folder = store.fetch(stored[-1], Path(tmp))
        took = time.monotonic() - started
        report = await _restore_scratch(data, admin, stream, folder, took, max_replicas)
    report.snapshot = f"{store.location}/{stored[-1]}"
    return report


async def _restore_scratch(
    data: Client, admin: Client, stream: str, folder: Path, took: float, max_replicas: int | None
) -> DrillReport:
    """The snapshot in `folder` restored into a scratch stream, verified, the scratch deleted;
    `took`: the seconds taking (or fetching) the snapshot took."""
    scratch = f"DRILL_{stream}_{secrets.token_hex(3)}"[:255]
    manifest = SnapshotManifest.model_validate_json((folder / MANIFEST).read_text())
    try:
        report = await restore_snapshot(data, admin, folder, scratch, max_replicas=max_replicas)
    finally:
        await _delete_if_there(JetStreamApi(admin), scratch)
    return DrillReport(
        stream=stream,
        scratch=scratch,
        messages=manifest.messages,
        bytes=manifest.bytes,
        backup_seconds=took,
        restore_seconds=report.seconds,
        problems=report.problems,
    )


async def _delete_if_there(api: JetStreamApi, name: str) -> None:
    try:
        await api.delete_stream(name)
    except ApiError as exc:
        if exc.err_code != STREAM_NOT_FOUND:
            raise
