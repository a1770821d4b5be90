"""The snapshot format: one folder per stream, closed by a manifest written last. Pure.

    <stream>-<UTC time>/
      stream.json     the stream's config and state when the backup started
      consumers.json  its durable consumers' configs and states
      messages.dkb    every message: fixed header, subject, headers (JSON), payload
      manifest.json   what was written: sequences, count, bytes, file and content checksums

A folder without `manifest.json` is not a snapshot (the writer renames it into place only
when complete), so an interrupted backup can never be mistaken for a whole one. The content
checksum covers subjects and payloads in stream order, so a restore can be compared with its
snapshot by reading the restored stream back.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from pydantic import BaseModel, ConfigDict

__all__ = [
    "FORMAT",
    "MANIFEST",
    "MESSAGES",
    "ContentSum",
    "Record",
    "SnapshotManifest",
    "Writer",
    "read_records",
    "write_record",
]

FORMAT = 1
MANIFEST = "manifest.json"
MESSAGES = "messages.dkb"
STREAM = "stream.json"
CONSUMERS = "consumers.json"
_HEAD = struct.Struct(">QqHII")  # sequence, time (ns), subject, headers, payload lengths


class Writer(Protocol):
    """Where records go: a binary file, or anything else that takes bytes as one does."""

    def write(self, data: bytes, /) -> int: ...


@dataclass(frozen=True)
class Record:
    seq: int
    time_ns: int
    subject: str
    headers: dict[str, str] | None
    data: bytes


def write_record(out: Writer, record: Record) -> int:
    """Append one record; returns the bytes written."""
    subject = record.subject.encode()
    headers = json.dumps(record.headers, separators=(",", ":")).encode() if record.headers else b""
    out.write(_HEAD.pack(record.seq, record.time_ns, len(subject), len(headers), len(record.data)))
    out.write(subject)
    out.write(headers)
    out.write(record.data)
    return _HEAD.size + len(subject) + len(headers) + len(record.data)


def read_records(source: BinaryIO) -> Iterator[Record]:
    """Records in file order; a truncated file is an error, never a silent short read."""
    while head := source.read(_HEAD.size):
        if len(head) < _HEAD.size:
            raise ValueError("truncated record header")
        seq, time_ns, subject_len, headers_len, data_len = _HEAD.unpack(head)
        body = source.read(subject_len + headers_len + data_len)
        if len(body) < subject_len + headers_len + data_len:
            raise ValueError(f"truncated record at sequence {seq}")
        subject = body[:subject_len].decode()
        raw = body[subject_len : subject_len + headers_len]
        headers = json.loads(raw) if raw else None
        yield Record(seq, time_ns, subject, headers, body[subject_len + headers_len :])


class ContentSum:
    """SHA-256 over subjects and payloads in order: equal for a stream and its restore."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()

    def add(self, subject: str, data: bytes) -> None:
        self._hash.update(subject.encode())
        self._hash.update(b"\0")
        self._hash.update(len(data).to_bytes(8, "big"))
        self._hash.update(data)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


class SnapshotManifest(BaseModel):
    """What one snapshot holds; written last, read first."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: int = FORMAT
    system: str
    bus: str
    stream: str
    created: str  # ISO 8601, UTC
    first_seq: int
    last_seq: int
    messages: int
    bytes: int  # payload bytes
    gaps: int  # sequences between first and last that held no message
    file_sha256: str
    content_sha256: str
    consumers: list[str]
