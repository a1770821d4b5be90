"""`deploykit backup`: each stream into a snapshot folder, complete or not at all.

A stream's config and durable consumers are read first, then its messages up to the last
sequence it had at that moment (later messages belong to the next backup). Everything goes
to `<folder>.partial/`, which is renamed into place only after the manifest is written; a
leftover `.partial` from an interrupted run is removed by the next one. Reads go through the
bus's backup user, which may read streams and write nothing in them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from nats.aio.client import Client

from deploykit.backup.archive import (
    CONSUMERS,
    MANIFEST,
    MESSAGES,
    STREAM,
    ContentSum,
    Record,
    SnapshotManifest,
    write_record,
)
from deploykit.backup.reader import read_stream
from deploykit.errors import ConfigError
from deploykit.jetstream.api import STREAM_NOT_FOUND, ApiError, JetStreamApi

__all__ = ["Progress", "snapshot_stream", "stream_state"]

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
    api = JetStreamApi(nc)
    info = await stream_state(api, stream, bus)
    state: dict[str, Any] = info.get("state", {})
    first, last = int(state.get("first_seq", 0)), int(state.get("last_seq", 0))
    expected = int(state.get("messages", 0))
    consumers = await _durables(api, stream)
    created = datetime.now(UTC)
    final = to / f"{stream}-{created:%Y%m%dT%H%M%S%fZ}"
    partial = final.with_name(final.name + ".partial")
    _remove_partials(to, stream)
    partial.mkdir(parents=True)
    _write_json(partial / STREAM, {"config": info["config"], "state": state})
    _write_json(partial / CONSUMERS, consumers)

    content, file_hash = ContentSum(), hashlib.sha256()
    totals = {"messages": 0, "bytes": 0, "last": 0}
    shown = time.monotonic()

    class _Hashing:
        """Writes records to the file and its hash at once: one pass over the data."""

        def __init__(self, handle: BinaryIO) -> None:
            self.handle = handle

        def write(self, data: bytes) -> int:
            file_hash.update(data)
            return self.handle.write(data)

    with open(partial / MESSAGES, "wb", buffering=1 << 20) as handle:
        out = _Hashing(handle)

        def sink(record: Record) -> None:
            nonlocal shown
            write_record(out, record)
            content.add(record.subject, record.data)
            totals["messages"] += 1
            totals["bytes"] += len(record.data)
            totals["last"] = record.seq
            if progress and time.monotonic() - shown > 0.5:
                shown = time.monotonic()
                progress(stream, totals["messages"], expected)

        await read_stream(nc, stream, first, last, sink)
        handle.flush()
        os.fsync(handle.fileno())
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
    _write_json(partial / MANIFEST, manifest.model_dump())
    partial.rename(final)
    return final, manifest


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


def _remove_partials(to: Path, stream: str) -> None:
    if to.is_dir():
        for leftover in to.glob(f"{stream}-*.partial"):
            shutil.rmtree(leftover)


def _write_json(path: Path, data: Any) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
