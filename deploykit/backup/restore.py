"""`deploykit restore`: a snapshot (or the SQL copy, `fromsql.py`) into a new stream, verified
against it.

The new stream stores what is published to `deploykit.restore.<name>.<subject>` under the
original `<subject>` (a subject transform), so it never captures a live stream's subjects and
can sit beside the stream it was taken from. It starts at the snapshot's first sequence, so
sequences match the original (interior gaps, such as deleted messages, are closed up and
reported). Headers the server acts on at publish time (`Nats-Msg-Id`, `Nats-Expected-*`,
`Nats-Rollup`, ...) are kept under `Deploykit-Original-*`, so a restore is never deduplicated,
rejected or rolled up by them.

The stream is created and removed by the bus's provisioning user; messages are published and
read back by its backup user. It carries `deploykit.restore.*` metadata: a rerun after an
interrupted restore finds its own unfinished stream and starts over; any other existing stream
of that name is refused unless destruction is explicitly allowed. Its `max_bytes` is sized to
what it holds (twice that, at most the original's), so it fits beside the live stream in the
server's storage; raise it if the restored stream is to take over.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nats.aio.client import Client

from deploykit.backup.archive import (
    CONSUMERS,
    MANIFEST,
    MESSAGES,
    STREAM,
    ContentSum,
    Record,
    SnapshotManifest,
    read_records,
)
from deploykit.backup.pipeline import Pipeline
from deploykit.backup.reader import read_stream
from deploykit.backup.snapshot import Progress
from deploykit.errors import ConfigError, PlanRefused
from deploykit.jetstream.api import STREAM_NOT_FOUND, ApiError, JetStreamApi
from deploykit.manifest.naming import restore_subjects

__all__ = [
    "RestoreReport",
    "Source",
    "load_snapshot",
    "restore",
    "restore_snapshot",
    "snapshot_source",
    "verify_restore",
]

WINDOW = 512  # publishes in flight
RECORD_OVERHEAD = 256  # bytes a stored message takes beyond its payload (subject, headers, index)
FROM = "deploykit.restore.from"
STATUS = "deploykit.restore.status"


@dataclass
class RestoreReport:
    stream: str
    into: str
    messages: int
    first_seq: int
    last_seq: int
    gaps_closed: int
    consumers: list[str]
    seconds: float
    problems: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return not self.problems


def load_snapshot(folder: Path) -> tuple[SnapshotManifest, dict[str, Any], list[dict[str, Any]]]:
    """The manifest, the stream document and the consumers of a complete snapshot folder, with
    the messages file checked against its checksum before anything is restored."""
    if folder.name.endswith(".partial"):
        raise ConfigError(f"{folder}: an unfinished backup (interrupted); run the backup again")
    try:
        manifest = SnapshotManifest.model_validate_json((folder / MANIFEST).read_text())
        stream = json.loads((folder / STREAM).read_text())
        consumers = json.loads((folder / CONSUMERS).read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"{folder}: not a snapshot ({Path(exc.filename).name} missing)") from None
    except ValueError as exc:
        raise ConfigError(f"{folder}: a damaged snapshot: {exc}") from None
    digest = hashlib.sha256()
    with open(folder / MESSAGES, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    if digest.hexdigest() != manifest.file_sha256:
        raise ConfigError(f"{folder / MESSAGES}: checksum mismatch: the snapshot is damaged")
    return manifest, stream, consumers


@dataclass(frozen=True)
class Source:
    """What a restore replays: the figures it is verified against, the stream's config and
    durable consumers, an id that marks its unfinished restores, and the records in order.
    `content` gives the content checksum once the records have been read (a source that has no
    checksum ahead, the SQL copy, sums as it is read: one pass less)."""

    manifest: SnapshotManifest
    config: dict[str, Any]
    consumers: list[dict[str, Any]]
    id: str
    records: Callable[[], AsyncIterator[Record]]
    content: Callable[[], str]


def snapshot_source(folder: Path) -> Source:
    """A snapshot folder as a restore source (checked whole first, see `load_snapshot`)."""
    manifest, stream_doc, consumers = load_snapshot(folder)

    async def records() -> AsyncIterator[Record]:
        with open(folder / MESSAGES, "rb", buffering=1 << 20) as handle:
            for record in read_records(handle):
                yield record

    source_id = f"{manifest.stream}@{manifest.created}"
    return Source(
        manifest,
        stream_doc["config"],
        consumers,
        source_id,
        records,
        lambda: manifest.content_sha256,
    )


async def restore_snapshot(
    data: Client,
    admin: Client,
    folder: Path,
    into: str,
    *,
    allow_destroy: bool = False,
    max_replicas: int | None = None,
    progress: Progress | None = None,
) -> RestoreReport:
    """Restore `folder` into the new stream `into` and verify it; see the module docstring."""
    source = snapshot_source(folder)
    return await restore(
        data,
        admin,
        source,
        into,
        allow_destroy=allow_destroy,
        max_replicas=max_replicas,
        progress=progress,
    )


async def restore(
    data: Client,
    admin: Client,
    source: Source,
    into: str,
    *,
    allow_destroy: bool = False,
    max_replicas: int | None = None,
    progress: Progress | None = None,
) -> RestoreReport:
    """Replay `source` into the new stream `into` and verify it against the source's figures."""
    started = time.monotonic()
    manifest = source.manifest
    api = JetStreamApi(admin)
    await _clear_target(api, into, source.id, allow_destroy)
    config = restored_config(source.config, into, manifest, source.id, max_replicas)
    await api.create_stream(config)
    written = await _publish(data, source, into, progress)
    config["metadata"][STATUS] = "complete"
    await api.update_stream(config)
    restored = [await _consumer(api, into, c) for c in source.consumers]
    report = RestoreReport(
        stream=manifest.stream,
        into=into,
        messages=written,
        first_seq=manifest.first_seq,
        last_seq=manifest.first_seq + written - 1 if written else 0,
        gaps_closed=manifest.gaps,
        consumers=restored,
        seconds=0.0,
    )
    expected = manifest.model_copy(update={"content_sha256": source.content()})
    report.problems = await verify_restore(data, into, expected)
    report.seconds = time.monotonic() - started
    return report


def restored_config(
    original: dict[str, Any],
    into: str,
    manifest: SnapshotManifest,
    snapshot_id: str,
    max_replicas: int | None,
) -> dict[str, Any]:
    """The original config under the new name, storing what restore publishes. Pure."""
    config = {k: v for k, v in original.items() if k not in ("mirror", "sources", "sealed")}
    replicas = int(original.get("num_replicas", 1))
    config.update(
        name=into,
        subjects=[restore_subjects(into)],
        subject_transform={"src": restore_subjects(into), "dest": ">"},
        num_replicas=min(replicas, max_replicas) if max_replicas else replicas,
        metadata={
            **(original.get("metadata") or {}),
            FROM: snapshot_id,
            STATUS: "incomplete",
        },
    )
    if manifest.first_seq > 1:
        config["first_seq"] = manifest.first_seq
    limit = int(original.get("max_bytes", -1))
    needed = max(2 * (manifest.bytes + manifest.messages * RECORD_OVERHEAD), 1 << 20)
    config["max_bytes"] = needed if limit < 0 else min(limit, needed)
    return config


async def _clear_target(api: JetStreamApi, into: str, snapshot_id: str, allow: bool) -> None:
    try:
        info = await api.retried(f"STREAM.INFO.{into}")
    except ApiError as exc:
        if exc.err_code == STREAM_NOT_FOUND:
            return
        raise
    metadata = info["config"].get("metadata") or {}
    ours = metadata.get(FROM) == snapshot_id and metadata.get(STATUS) == "incomplete"
    if not ours and not allow:
        raise PlanRefused(
            f"stream {into} exists ({info['state'].get('messages', 0)} messages): restore never "
            "writes over a stream; choose another --into NAME, or pass --allow-destroy to "
            f"delete {into} first"
        )
    await api.delete_stream(into)


def _publishable(headers: dict[str, str] | None) -> dict[str, str] | None:
    """Headers the server would act on are kept under another name (see the module)."""
    if not headers:
        return None
    return {
        (f"Deploykit-Original-{k[5:]}" if k.startswith("Nats-") else k): v
        for k, v in headers.items()
    }


async def _publish(data: Client, source: Source, into: str, progress: Progress | None) -> int:
    prefix = restore_subjects(into)[:-1]
    written = 0
    shown = time.monotonic()
    async with Pipeline(data, into, source.manifest.first_seq, WINDOW) as pipeline:
        async for record in source.records():
            await pipeline.send(prefix + record.subject, record.data, _publishable(record.headers))
            written += 1
            if progress and time.monotonic() - shown > 0.5:
                shown = time.monotonic()
                progress(into, written, source.manifest.messages)
    if progress:
        progress(into, written, source.manifest.messages)
    return written


async def _consumer(api: JetStreamApi, stream: str, saved: dict[str, Any]) -> str:
    """A durable consumer again, starting after what it had acknowledged."""
    config = dict(saved["config"])
    floor = int((saved.get("ack_floor") or {}).get("stream_seq", 0))
    if floor:
        config.update(deliver_policy="by_start_sequence", opt_start_seq=floor + 1)
    if str(config.get("deliver_subject", "")).startswith("_INBOX"):
        config.pop("deliver_subject")  # a push consumer's inbox belonged to its old client
    name = config.get("name") or config["durable_name"]
    config["name"] = name
    await api.create_consumer(stream, config, "create")
    return str(name)


async def verify_restore(data: Client, stream: str, manifest: SnapshotManifest) -> list[str]:
    """What differs between a restored stream and its snapshot; empty when they match."""
    info = await JetStreamApi(data).retried(f"STREAM.INFO.{stream}")
    state = info.get("state", {})
    problems = []
    want_last = manifest.first_seq + manifest.messages - 1 if manifest.messages else 0
    checks = [
        ("messages", int(state.get("messages", 0)), manifest.messages),
        ("first sequence", int(state.get("first_seq", 0)), manifest.first_seq),
        ("last sequence", int(state.get("last_seq", 0)), want_last),
    ]
    if not manifest.messages:
        checks = checks[:1]
    problems += [
        f"{what}: {got}, the snapshot has {want}" for what, got, want in checks if got != want
    ]
    content = ContentSum()

    def sink(record: Record) -> None:
        content.add(record.subject, record.data)

    await read_stream(data, stream, manifest.first_seq or 1, want_last, sink)
    if content.hexdigest() != manifest.content_sha256:
        problems.append("content checksum of subjects and payloads differs from the snapshot")
    return problems
