"""`deploykit restore --from-sql`: the SQL copy of one stream as a restore source.

Everything is read in one REPEATABLE READ transaction, so the figures and the rows are the same
moment of the table while the archiver goes on inserting: the count, first and last sequence
and payload bytes, then the rows in sequence order, published and summed (the content checksum
the restored stream is verified against) in the same pass, through a server-side cursor:
memory does not grow with the stream.

The table holds events, not the stream's definition: the restored stream takes its config from
the manifest's declaration of the stream, and it has no durable consumers (the copy holds none).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from urllib.parse import urlsplit

import psycopg

from deploykit.backup.archive import ContentSum, Record, SnapshotManifest
from deploykit.backup.restore import Source
from deploykit.backup.sqlcopy import RANGE, ROWS, record_of
from deploykit.errors import ConfigError
from deploykit.jetstream.desired import stream_config
from deploykit.manifest.model import Manifest
from deploykit.runtime.connection import redact

__all__ = ["ITERSIZE", "sql_source"]

ITERSIZE = 5000  # rows per round trip of the server-side cursor


@asynccontextmanager
async def sql_source(url: str, manifest: Manifest, stream: str) -> AsyncIterator[Source]:
    """The SQL copy of `stream` while the context is open (one transaction throughout)."""
    declared = manifest.streams.get(stream)
    if declared is None:
        known = ", ".join(manifest.streams) or "none"
        raise ConfigError(f"--stream {stream}: not a stream of the manifest (declared: {known})")
    try:
        conn = await psycopg.AsyncConnection.connect(url, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise ConfigError(f"the SQL copy at {redact(url)}: {_reason(exc, url)}") from None
    async with conn:
        await conn.set_isolation_level(psycopg.IsolationLevel.REPEATABLE_READ)
        await conn.set_read_only(True)
        async with conn.transaction():
            row = await (await conn.execute(RANGE, (stream,))).fetchone()
            count, first, last, size = row if row else (0, 0, 0, 0)
            if not count:
                raise ConfigError(
                    f"the SQL copy holds no event of stream {stream} (is `backup.sql` on and "
                    "the stream marked `backup: true`?)"
                )

            summed: list[str] = []  # the checksum of the last complete read

            async def rows() -> AsyncIterator[Record]:
                content = ContentSum()
                async with conn.cursor(name="deploykit_restore") as cursor:
                    cursor.itersize = ITERSIZE
                    await cursor.execute(ROWS, (stream, last))
                    async for found in cursor:
                        record = record_of(found)
                        content.add(record.subject, record.data)
                        yield record
                summed.append(content.hexdigest())

            def content() -> str:
                if not summed:
                    raise RuntimeError("the SQL copy's checksum is known once its rows are read")
                return summed[-1]

            figures = SnapshotManifest(
                system=manifest.system,
                bus=declared.bus,
                stream=stream,
                created=datetime.now(UTC).isoformat(),
                first_seq=first,
                last_seq=last,
                messages=count,
                bytes=size,
                gaps=last - first + 1 - count,
                file_sha256="",
                content_sha256="",  # summed while the rows are published
                consumers=[],
            )
            origins = {s.stream: manifest.streams[s.stream].bus for s in declared.sources}
            config = stream_config(stream, declared, declared.replicas, origins)
            yield Source(figures, config, [], f"sql:{stream}", rows, content)


def _reason(exc: psycopg.Error, url: str) -> str:
    """psycopg's message without the password it may quote."""
    secret = urlsplit(url).password
    text = str(exc).strip()
    return text.replace(secret, "***") if secret else text
