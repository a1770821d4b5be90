"""Where snapshots are kept: a local folder or an S3-compatible bucket, behind one interface.

A snapshot is complete when its manifest exists, and the manifest is always written last: in a
folder the snapshot is written as `NAME.partial/` and renamed into place after the manifest; in a
bucket its objects go under `PREFIX/NAME/` and `manifest.json` is put after every other object
has been uploaded, so an interrupted upload never looks complete. Deleting goes the other way
(manifest first), so an interrupted deletion leaves a partial, never a damaged "complete" one.

Messages are streamed: into the file, or into an S3 multipart upload of PART_SIZE parts (at most
two parts in flight on a background thread; the reader awaits the upload when it is behind),
so memory does not grow with the stream and no local copy of the snapshot is needed (a
scheduled job's disk is small and ephemeral).

Leftover partials are removed only when their writer is gone: in a folder, the writer holds a
lock on `NAME.partial/.lock` (released by the kernel when the process dies, even by kill -9); a
bucket has no such lock, so a partial there is removed once it is older than STALE (no backup
runs that long), and so are multipart uploads that were never completed.

S3: boto3 with the standard AWS_* variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_REGION / AWS_DEFAULT_REGION, AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL); path-style addressing
for any endpoint other than AWS's own, since most S3-compatible servers (MinIO, R2, B2, Garage)
do not serve bucket subdomains.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import re
import shutil
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import urlsplit

from deploykit.backup.archive import CONSUMERS, MANIFEST, MESSAGES, STREAM, Writer
from deploykit.errors import ConfigError

__all__ = [
    "PART_SIZE",
    "STALE",
    "LocalStore",
    "S3Settings",
    "S3Store",
    "Sink",
    "SnapshotStore",
    "SnapshotWriter",
    "local_snapshot",
    "open_store",
    "prune",
    "snapshot_name",
]

PART_SIZE = 8 << 20  # bytes per multipart part (S3's minimum is 5 MiB, except the last)
STALE = timedelta(hours=24)
FILES = (STREAM, CONSUMERS, MESSAGES, MANIFEST)  # in the order they are written
LOCK = ".lock"
_TIME = "%Y%m%dT%H%M%S%fZ"


def snapshot_name(stream: str, created: datetime) -> str:
    return f"{stream}-{created:{_TIME}}"


def _started(stream: str, name: str) -> datetime | None:
    """When the snapshot `name` of `stream` started; None for another stream's (`A-B` is not
    a snapshot of `A`)."""
    match = re.fullmatch(re.escape(stream) + r"-(\d{8}T\d{12}Z)", name)
    return datetime.strptime(match.group(1), _TIME).replace(tzinfo=UTC) if match else None


class Sink(Writer, Protocol):
    """A binary stream that may ask its producer to wait (an upload that is behind)."""

    def pause(self) -> Awaitable[None] | None: ...


class _File:
    """A local file as a Sink: it never asks to wait."""

    def __init__(self, handle: BinaryIO) -> None:
        self.write = handle.write

    def pause(self) -> None:
        return None


class SnapshotWriter(ABC):
    """One snapshot being written; nothing is complete until `commit`."""

    @abstractmethod
    def write_json(self, file: str, data: Any) -> None: ...

    @abstractmethod
    def open(self, file: str) -> contextlib.AbstractContextManager[Sink]:
        """A binary stream for a large file; closed normally it is kept, on an error dropped."""

    @abstractmethod
    def commit(self, manifest: dict[str, Any]) -> str:
        """Write the manifest, last; returns where the snapshot now is."""

    @abstractmethod
    def abort(self) -> None: ...


class SnapshotStore(ABC):
    """A place holding snapshots, named `<stream>-<UTC start time>`."""

    location: str

    @abstractmethod
    def begin(self, name: str) -> SnapshotWriter: ...

    @abstractmethod
    def names(self) -> tuple[set[str], set[str]]:
        """(complete snapshots, partial ones) by name."""

    @abstractmethod
    def delete(self, name: str, *, complete: bool) -> None: ...

    @abstractmethod
    def leftovers(self, stream: str, now: datetime) -> list[str]:
        """Partial snapshots of `stream` whose writer is gone."""

    @abstractmethod
    def fetch(self, name: str, into: Path) -> Path:
        """A local folder holding the complete snapshot `name` (itself, or a copy in `into`)."""

    def complete(self, stream: str) -> list[str]:
        """The complete snapshots of `stream`, oldest first (the names sort by time)."""
        done, _ = self.names()
        return sorted(n for n in done if _started(stream, n))

    def remove_leftovers(self, stream: str, now: datetime | None = None) -> list[str]:
        gone = self.leftovers(stream, now or datetime.now(UTC))
        for name in gone:
            self.delete(name, complete=False)
        return gone


def prune(store: SnapshotStore, stream: str, keep: int, written: str) -> list[str]:
    """Delete complete snapshots of `stream` so that `keep` remain: `written` (the one just
    taken, which holds the newest data even if a clock set back named it older) and the newest
    others; returns the deleted ones."""
    if keep < 1:
        raise ConfigError(f"--keep {keep}: keep at least 1 snapshot")
    others = [n for n in store.complete(stream) if n != written]
    doomed = others[: max(len(others) - (keep - 1), 0)]
    for name in doomed:
        store.delete(name, complete=True)
    return doomed


# --- a local folder ---------------------------------------------------------------------------


class _LocalWriter(SnapshotWriter):
    def __init__(self, root: Path, name: str) -> None:
        self.final = root / name
        self.partial = root / f"{name}.partial"
        self.partial.mkdir(parents=True)
        self._lock = os.open(self.partial / LOCK, os.O_WRONLY | os.O_CREAT, 0o600)
        fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def write_json(self, file: str, data: Any) -> None:
        fd = os.open(self.partial / file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())

    @contextlib.contextmanager
    def open(self, file: str) -> Iterator[Sink]:
        fd = os.open(self.partial / file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb", buffering=1 << 20) as handle:
            yield _File(handle)
            handle.flush()
            os.fsync(handle.fileno())

    def commit(self, manifest: dict[str, Any]) -> str:
        self.write_json(MANIFEST, manifest)
        (self.partial / LOCK).unlink()
        self.partial.rename(self.final)
        os.close(self._lock)
        return str(self.final)

    def abort(self) -> None:
        os.close(self._lock)  # the folder stays for the next run to remove, as after a kill


class LocalStore(SnapshotStore):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.location = str(root)

    def begin(self, name: str) -> SnapshotWriter:
        return _LocalWriter(self.root, name)

    def names(self) -> tuple[set[str], set[str]]:
        if not self.root.is_dir():
            return set(), set()
        folders = [p for p in self.root.iterdir() if p.is_dir()]
        done = {p.name for p in folders if (p / MANIFEST).is_file()}
        partial = {p.name.removesuffix(".partial") for p in folders if p.suffix == ".partial"}
        return done, partial

    def delete(self, name: str, *, complete: bool) -> None:
        folder = self.root / (name if complete else f"{name}.partial")
        (folder / MANIFEST).unlink(missing_ok=True)
        shutil.rmtree(folder, ignore_errors=True)

    def leftovers(self, stream: str, now: datetime) -> list[str]:
        _, partial = self.names()
        return [n for n in sorted(partial) if _started(stream, n) and not self._locked(n)]

    def _locked(self, name: str) -> bool:
        """Whether a running backup holds the partial `name` (it keeps its lock file locked)."""
        try:
            fd = os.open(self.root / f"{name}.partial" / LOCK, os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def fetch(self, name: str, into: Path) -> Path:
        return self.root / name


# --- an S3-compatible bucket ------------------------------------------------------------------


@dataclass(frozen=True)
class S3Settings:
    """Where a bucket is and how to sign for it; None: what boto3 finds (AWS_* variables)."""

    endpoint: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None


def _client(settings: S3Settings) -> Any:
    try:
        import boto3  # type: ignore[import-untyped]
        from botocore.config import Config  # type: ignore[import-untyped]
    except ImportError:
        raise ConfigError(
            "backups to s3:// need boto3, which is part of deploykit's dependencies: "
            "reinstall deploykit (`pip install deploykit`) in this environment"
        ) from None
    endpoint = (
        settings.endpoint
        or os.environ.get("AWS_ENDPOINT_URL_S3")
        or os.environ.get("AWS_ENDPOINT_URL")
    )
    aws = endpoint is None or urlsplit(endpoint).hostname.endswith(".amazonaws.com")  # type: ignore[union-attr]
    region = settings.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    config = Config(
        s3={"addressing_style": "virtual" if aws else "path"},
        retries={"mode": "standard", "max_attempts": 5},
    )
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region or "us-east-1",
        aws_access_key_id=settings.access_key_id,
        aws_secret_access_key=settings.secret_access_key,
        config=config,
    )


class _Upload:
    """A write-only stream into one object: a multipart upload once there is more than one
    part, a single PUT otherwise. Parts go up on a thread; with two of them in flight, `pause`
    gives the producer something to await, so memory stays at a few parts and the event loop
    is never blocked (a blocked loop misses the server's heartbeats)."""

    def __init__(self, client: Any, bucket: str, key: str) -> None:
        self._client, self._bucket, self._key = client, bucket, key
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[Future[dict[str, Any]]] = []
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="s3-upload")

    def write(self, data: bytes, /) -> int:
        self._buffer += data
        if len(self._buffer) >= PART_SIZE:
            self._send(bytes(self._buffer))
            self._buffer.clear()
        return len(data)

    def pause(self) -> Awaitable[None] | None:
        in_flight = [f for f in self._parts if not f.done()]
        if len(in_flight) < 2:
            return None
        return _settled(asyncio.wrap_future(in_flight[0]))

    def _send(self, part: bytes) -> None:
        if self._upload_id is None:
            started = self._client.create_multipart_upload(Bucket=self._bucket, Key=self._key)
            self._upload_id = started["UploadId"]
        number = len(self._parts) + 1
        self._parts.append(self._pool.submit(self._part, number, part))

    def _part(self, number: int, body: bytes) -> dict[str, Any]:
        reply = self._client.upload_part(
            Bucket=self._bucket,
            Key=self._key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=body,
        )
        return {"PartNumber": number, "ETag": reply["ETag"]}

    def finish(self) -> None:
        try:
            if self._upload_id is None:
                self._client.put_object(
                    Bucket=self._bucket, Key=self._key, Body=bytes(self._buffer)
                )
                return
            if self._buffer:
                self._send(bytes(self._buffer))
            parts = [f.result() for f in self._parts]
            self._client.complete_multipart_upload(
                Bucket=self._bucket,
                Key=self._key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": parts},
            )
        finally:
            self._pool.shutdown()

    def cancel(self) -> None:
        self._pool.shutdown(cancel_futures=True)
        if self._upload_id is not None:
            with contextlib.suppress(Exception):  # a leftover upload is aborted when stale
                self._client.abort_multipart_upload(
                    Bucket=self._bucket, Key=self._key, UploadId=self._upload_id
                )


class _S3Writer(SnapshotWriter):
    def __init__(self, store: S3Store, name: str) -> None:
        self._store = store
        self._name = name

    def _put(self, file: str, body: bytes) -> None:
        self._store.client.put_object(
            Bucket=self._store.bucket, Key=self._store.key(self._name, file), Body=body
        )

    def write_json(self, file: str, data: Any) -> None:
        self._put(file, json.dumps(data, indent=2).encode())

    @contextlib.contextmanager
    def open(self, file: str) -> Iterator[Sink]:
        upload = _Upload(self._store.client, self._store.bucket, self._store.key(self._name, file))
        try:
            yield upload
        except BaseException:
            upload.cancel()
            raise
        upload.finish()

    def commit(self, manifest: dict[str, Any]) -> str:
        self.write_json(MANIFEST, manifest)
        return f"{self._store.location}/{self._name}"

    def abort(self) -> None:
        """What was uploaded stays a partial (no manifest) until it is stale."""


class S3Store(SnapshotStore):
    """Snapshots under `s3://BUCKET/PREFIX/NAME/`."""

    def __init__(self, url: str, settings: S3Settings, client: Any | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ConfigError(f"{url}: expected s3://BUCKET or s3://BUCKET/PREFIX")
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        self.location = f"s3://{self.bucket}" + (f"/{self.prefix}" if self.prefix else "")
        self.client = client if client is not None else _client(settings)

    def key(self, name: str, file: str = "") -> str:
        """The key of a snapshot's file, or with no file the prefix of its objects."""
        return self.root + name + "/" + file

    @property
    def root(self) -> str:
        return f"{self.prefix}/" if self.prefix else ""

    def begin(self, name: str) -> SnapshotWriter:
        return _S3Writer(self, name)

    def _objects(self, prefix: str) -> Iterator[dict[str, Any]]:
        pages = self.client.get_paginator("list_objects_v2")
        for page in pages.paginate(Bucket=self.bucket, Prefix=prefix):
            yield from page.get("Contents", [])

    def names(self) -> tuple[set[str], set[str]]:
        found: dict[str, set[str]] = {}
        for item in self._objects(self.root):
            name, _, file = item["Key"].removeprefix(self.root).partition("/")
            if file:
                found.setdefault(name, set()).add(file)
        done = {n for n, files in found.items() if MANIFEST in files}
        return done, set(found) - done

    def delete(self, name: str, *, complete: bool) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.key(name, MANIFEST))
        keys = [item["Key"] for item in self._objects(self.key(name))]
        for start in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[start : start + 1000]]
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})

    def leftovers(self, stream: str, now: datetime) -> list[str]:
        _, partial = self.names()
        self._abort_stale_uploads(stream, now)
        return [
            n
            for n in sorted(partial)
            if (started := _started(stream, n)) is not None and now - started > STALE
        ]

    def _abort_stale_uploads(self, stream: str, now: datetime) -> None:
        pages = self.client.get_paginator("list_multipart_uploads")
        for page in pages.paginate(Bucket=self.bucket, Prefix=self.root):
            for upload in page.get("Uploads", []):
                name = upload["Key"].removeprefix(self.root).split("/")[0]
                if _started(stream, name) and now - upload["Initiated"] > STALE:
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )

    def fetch(self, name: str, into: Path) -> Path:
        done, _ = self.names()
        if name not in done:
            raise ConfigError(f"{self.location}/{name}: no complete snapshot there")
        folder = into / name
        folder.mkdir(parents=True, exist_ok=True)
        for file in FILES:
            with open(folder / file, "wb", opener=_private) as handle:
                self.client.download_fileobj(self.bucket, self.key(name, file), handle)
        return folder


async def _settled(upload: Awaitable[Any]) -> None:
    await upload


def _private(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)


def local_snapshot(location: str, settings: S3Settings, scratch: Path) -> Path:
    """The folder of the snapshot at `location`: itself, or for s3://BUCKET/PREFIX/NAME a copy
    downloaded into `scratch` (a restore reads the messages twice: checksum, then publish)."""
    if not location.startswith("s3://"):
        return Path(location)
    parent, _, name = location.rstrip("/").rpartition("/")
    if parent == "s3:/":
        raise ConfigError(f"{location}: expected s3://BUCKET/PREFIX/NAME of a snapshot")
    return S3Store(parent, settings).fetch(name, scratch)


def open_store(to: str, settings: S3Settings | None = None) -> SnapshotStore:
    """The store `to` names: `s3://BUCKET[/PREFIX]`, or a local folder."""
    if to.startswith("s3://"):
        return S3Store(to, settings or S3Settings())
    if re.match(r"^[a-z][a-z0-9+.-]*://", to):
        raise ConfigError(f"--to {to}: a local folder or s3://BUCKET/PREFIX (S3-compatible)")
    return LocalStore(Path(to))
