"""`deploykit backup`: each stream into a snapshot folder, complete or not at all.

A stream's config and durable consumers are read first, then its messages up to the last
sequence it had at that moment (later messages belong to the next backup). Everything goes to
a store (a folder or an S3 bucket, `store.py`), which makes the snapshot complete only when the
manifest is written, last; a leftover partial from an interrupted run is removed by the next one
once its writer is gone. Reads go through the bus's backup user, which may read streams and
write nothing in them.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nats.aio.client import Client

from deploykit.backup.archive import (
    CONSUMERS,
    MESSAGES,
    STREAM,
    ContentSum,
    Record,
    SnapshotManifest,
    Writer,
    write_record,
)
from deploykit.backup.reader import read_stream
from deploykit.backup.store import LocalStore, SnapshotStore, snapshot_name
from deploykit.errors import ConfigError
from deploykit.jetstream.api import STREAM_NOT_FOUND, ApiError, JetStreamApi

__all__ = ["Progress", "snapshot_into", "snapshot_stream", "stream_state"]

Progress = Callable[[str, int, int], None]  # stream, messages written, messages expected


async def snapshot_stream(
    nc: Client,
    system: str,
    bus: str,
    stream: str,
    to: Path,
    progress: Progress | None = None,
) -> tuple[Path, SnapshotManifest]:
    """Back up one stream into a new folder under `to`; returns the folder and its manifest."""
    where, manifest = await snapshot_into(nc, system, bus, stream, LocalStore(to), progress)
    return Path(where), manifest


async def snapshot_into(
    nc: Client,
    system: str,
    bus: str,
    stream: str,
    store: SnapshotStore,
    progress: Progress | None = None,
) -> tuple[str, SnapshotManifest]:
    """Back up one stream into a new snapshot in `store`; returns where it is and its manifest."""
    api = JetStreamApi(nc)
    info = await stream_state(api, stream, bus)
    state: dict[str, Any] = info.get("state", {})
    first, last = int(state.get("first_seq", 0)), int(state.get("last_seq", 0))
    expected = int(state.get("messages", 0))
    consumers = await _durables(api, stream)
    created = datetime.now(UTC)
    store.remove_leftovers(stream, created)
    writer = store.begin(snapshot_name(stream, created))
    try:
        writer.write_json(STREAM, {"config": info["config"], "state": state})
        writer.write_json(CONSUMERS, consumers)
        content, file_hash = ContentSum(), hashlib.sha256()
        totals = {"messages": 0, "bytes": 0, "last": 0}
        shown = time.monotonic()
        with writer.open(MESSAGES) as handle:
            out = _Hashing(handle, file_hash)

            def sink(record: Record) -> Awaitable[None] | None:
                nonlocal shown
                write_record(out, record)
                content.add(record.subject, record.data)
                totals["messages"] += 1
                totals["bytes"] += len(record.data)
                totals["last"] = record.seq
                if progress and time.monotonic() - shown > 0.5:
                    shown = time.monotonic()
                    progress(stream, totals["messages"], expected)
                return handle.pause()

            await read_stream(nc, stream, first, last, sink)
        if progress:
            progress(stream, totals["messages"], expected)
        count = totals["messages"]
        first_read = first if count else 0
        manifest = SnapshotManifest(
            system=system,
            bus=bus,
            stream=stream,
            created=created.isoformat(),
            first_seq=first_read,
            last_seq=totals["last"],
            messages=count,
            bytes=totals["bytes"],
            gaps=(totals["last"] - first_read + 1 - count) if count else 0,
            file_sha256=file_hash.hexdigest(),
            content_sha256=content.hexdigest(),
            consumers=[c["config"]["durable_name"] for c in consumers],
        )
        return writer.commit(manifest.model_dump()), manifest
    except BaseException:
        writer.abort()
        raise


class _Hashing:
    """Writes records to the snapshot and its hash at once: one pass over the data."""

    def __init__(self, out: Writer, digest: Any) -> None:
        self.out = out
        self.digest = digest

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self.out.write(data)


async def stream_state(api: JetStreamApi, stream: str, bus: str) -> dict[str, Any]:
    """`STREAM.INFO` as the server sends it: config and state (first/last sequence, count)."""
    try:
        return await api.retried(f"STREAM.INFO.{stream}")
    except ApiError as exc:
        if exc.err_code == STREAM_NOT_FOUND:
            raise ConfigError(f"stream {stream}: not found on bus {bus}") from None
        raise


async def _durables(api: JetStreamApi, stream: str) -> list[dict[str, Any]]:
    """The durable consumers' configs and states (ephemeral ones belong to running clients)."""
    out: list[dict[str, Any]] = []
    while True:
        page = await api.retried(f"CONSUMER.LIST.{stream}", {"offset": len(out)})
        entries = page.get("consumers") or []
        out += [
            {
                "config": c["config"],
                "delivered": c.get("delivered"),
                "ack_floor": c.get("ack_floor"),
            }
            for c in entries
        ]
        if not entries or len(out) >= page.get("total", 0):
            return [c for c in out if c["config"].get("durable_name")]
