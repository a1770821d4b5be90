"""A service's own PostgreSQL database (DATABASE_URL): one autocommit connection, reopened when
it breaks, every statement timed as `db.client.operation.duration`.

Errors are psycopg's own, for handlers to let fail (a queue handler's message is redelivered,
an endpoint answers 503) or to map; only `ensure_schema` (run at start) is `Fatal`. psycopg is
imported by the first statement, not with the runtime: a service without a database never
spends the twentieth of a second of CPU it takes.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from deploykit.runtime.connection import redact
from deploykit.runtime.errors import Fatal
from deploykit.runtime.metrics import Metrics

if TYPE_CHECKING:
    import psycopg

__all__ = ["Database", "is_database_error"]


def is_database_error(exc: BaseException) -> bool:
    """One of psycopg's errors; a process that never executed psycopg raised none."""
    if "psycopg" not in sys.modules:
        return False
    import psycopg

    return isinstance(exc, psycopg.Error)


class Database:
    def __init__(self, url: str, metrics: Metrics) -> None:
        self._url = url
        self._metrics = metrics
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def connection(self) -> psycopg.AsyncConnection[Any]:
        import psycopg

        if self._conn is None or self._conn.closed or self._conn.broken:
            if self._conn is not None:
                self._metrics.connections("idle", -1)
                self._conn = None
            self._conn = await psycopg.AsyncConnection.connect(
                self._url, autocommit=True, connect_timeout=5
            )
            self._metrics.connections("idle", +1)
        return self._conn

    async def ensure_schema(self, ddl: str) -> None:
        """Create tables if missing; an advisory lock keeps concurrent replicas from racing."""
        import psycopg

        try:
            conn = await self.connection()
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext('deploykit.schema'))")
                await conn.execute(ddl)
        except psycopg.Error as exc:
            secret = urlsplit(self._url).password
            reason = str(exc).strip().replace(secret, "***") if secret else str(exc).strip()
            raise Fatal(f"cannot prepare PostgreSQL at {redact(self._url)}: {reason}") from None

    async def _execute(self, sql: str, params: Sequence[Any]) -> psycopg.AsyncCursor[Any]:
        """A connection that died since its last use (PostgreSQL restarted) fails its next
        statement: reopen it and send the statement once more. Safe only for idempotent
        statements (`ON CONFLICT`, reads), which is what handlers that may be redelivered use."""
        import psycopg

        operation = sql.split(None, 1)[0].upper() if sql.strip() else "?"
        started = time.perf_counter()
        try:
            conn = await self.connection()
            self._busy(True)
            try:
                cur = await conn.execute(sql, params)
            except psycopg.OperationalError:
                if not conn.broken:
                    raise
                self._busy(False)
                conn = await self.connection()
                self._busy(True)
                cur = await conn.execute(sql, params)
            finally:
                if self._conn is conn:
                    self._busy(False)
        except psycopg.Error as exc:
            self._metrics.database(operation, time.perf_counter() - started, type(exc).__name__)
            raise
        self._metrics.database(operation, time.perf_counter() - started)
        return cur

    def _busy(self, used: bool) -> None:
        self._metrics.connections("used", 1 if used else -1)
        self._metrics.connections("idle", -1 if used else 1)

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        cur = await self._execute(sql, params)
        return await cur.fetchone()

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = await self._execute(sql, params)
        return await cur.fetchall()

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; the number of rows it touched."""
        return (await self._execute(sql, params)).rowcount

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._metrics.connections("idle", -1)
            self._conn = None
