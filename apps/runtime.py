"""What the gateway and the cross-bus example's apps (invoices, invoicer) use until they move
onto the kit's runtime (`deploykit.runtime`), which the other apps are written on: settings from
the environment, stdout logging, the NATS connection, NATS Service registration, the
pull-consumer loop, the runtime's metrics page, and a clean stop on SIGTERM.

Settings come from `deploykit.manifest.naming.service_env`; a bad or missing one stops the app with exit
code 2 and a message naming the variable. Anything else that makes the app unable to start or run
(NATS unreachable, a missing consumer, a lost fanout consumer) raises `Fatal`: exit code 1 and
one clear line. Secrets (NATS password, URL credentials) are never logged.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ipaddress
import logging
import os
import re
import shutil
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import nats
import nats.errors
import nats.js.errors
import psycopg
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.client import JetStreamContext
from nats.micro import Handler
from nats.micro.service import Service, ServiceConfig

from apps import __version__
from deploykit.manifest import naming

__all__ = [
    "ConfigError",
    "Database",
    "Fatal",
    "Settings",
    "add_service",
    "close_nats",
    "connect_nats",
    "consume",
    "redact",
    "run",
]

log = logging.getLogger("apps")

CONNECT_DEADLINE = 20.0  # seconds to reach NATS at start before giving up with a clear error
SUBJECT_TOKEN = re.compile(r"^[^\s.*>]+(\.[^\s.*>]+)*$")


class ConfigError(Exception):
    """A missing or malformed environment variable."""


class Fatal(Exception):
    """A reason to stop the app with exit code 1 and one clear message."""


@dataclass(frozen=True)
class Settings:
    """The environment of one service instance (see `deploykit.manifest.naming.service_env`)."""

    service: str
    nats_urls: list[str]
    nats_user: str | None
    nats_password: str | None = field(repr=False)
    inbox_prefix: str
    nats_creds: str | None = field(default=None, repr=False)
    database_url: str | None = field(default=None, repr=False)
    port: int = 8080
    host: str = "127.0.0.1"

    @classmethod
    def from_env(
        cls, env: Mapping[str, str], *, database: bool = False, port: bool = False
    ) -> Settings:
        def need(name: str) -> str:
            value = env.get(name, "").strip()
            if not value:
                raise ConfigError(f"{name} is required")
            return value

        service = need("DEPLOYKIT_SERVICE")
        if not re.fullmatch(r"[A-Za-z0-9_-]+", service):
            raise ConfigError(f"DEPLOYKIT_SERVICE={service!r}: use letters, digits, - and _")
        urls = [u.strip() for u in need("NATS_URL").split(",") if u.strip()]
        if not urls:
            raise ConfigError("NATS_URL lists no server")
        user = env.get("NATS_USER") or None
        password = env.get("NATS_PASSWORD") or None
        if bool(user) != bool(password):
            raise ConfigError("NATS_USER and NATS_PASSWORD must be set together")
        creds = env.get("NATS_CREDS") or None
        if creds and user:
            raise ConfigError(
                "set NATS_CREDS (a .creds document) or NATS_USER/NATS_PASSWORD, not both"
            )
        inbox = env.get("NATS_INBOX_PREFIX") or (naming.inbox_prefix(user) if user else "_INBOX")
        if not SUBJECT_TOKEN.match(inbox):
            raise ConfigError(f"NATS_INBOX_PREFIX={inbox!r} is not a subject without wildcards")
        return cls(
            service=service,
            nats_urls=urls,
            nats_user=user,
            nats_password=password,
            inbox_prefix=inbox,
            nats_creds=creds,
            database_url=need("DATABASE_URL") if database else None,
            port=_port(env.get("PORT", "8080")) if port else 8080,
            host=_host(env.get("HOST", "127.0.0.1")) if port else "127.0.0.1",
        )


def _port(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ConfigError(f"PORT={value!r} is not a TCP port (1-65535)")
    return int(value)


def _host(value: str) -> str:
    """The address to listen on: loopback unless told (a container sets HOST=0.0.0.0)."""
    try:
        ipaddress.ip_address(value.strip())
    except ValueError:
        raise ConfigError(
            f"HOST={value!r} is not an IP address (e.g. 127.0.0.1, 0.0.0.0, ::)"
        ) from None
    return value.strip()


def redact(url: str) -> str:
    """A URL without its credentials, safe to log."""
    parts = urlsplit(url)
    if parts.password is None and parts.username is None:
        return url
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()


def run(
    main: Callable[[Settings, asyncio.Event], Awaitable[None]],
    *,
    database: bool = False,
    port: bool = False,
) -> None:
    """Read the settings, run `main` until it returns (it should on SIGTERM/SIGINT), exit."""
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # logs reach files now
    logging.basicConfig(
        stream=sys.stdout,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = Settings.from_env(os.environ, database=database, port=port)
    except ConfigError as exc:
        log.error("bad configuration: %s", exc)
        sys.exit(2)
    metrics = _metrics_page()
    try:
        asyncio.run(_with_stop_signals(main, settings))
    except Fatal as exc:
        log.error("%s: %s", settings.service, exc)
        sys.exit(1)
    finally:
        if metrics is not None:
            metrics.shutdown()
    log.info("%s stopped", settings.service)


def _metrics_page() -> Any:
    """The runtime's metrics page, so that this app is scraped like the services on the
    runtime; it records nothing of its own until it moves onto `deploykit.runtime`. Imported
    here: an image with only this app's dependencies (no OpenTelemetry) runs without it."""
    try:
        from deploykit.runtime.errors import Fatal as RuntimeFatal
        from deploykit.runtime.metrics import Metrics
        from deploykit.runtime.settings import ConfigError as RuntimeConfigError
        from deploykit.runtime.settings import Settings as RuntimeSettings
    except ImportError as exc:
        log.warning("no metrics page: %s", exc)
        return None
    try:
        return Metrics(RuntimeSettings.from_env(os.environ))
    except (RuntimeConfigError, RuntimeFatal) as exc:
        log.warning("no metrics page: %s", exc)
        return None


async def _with_stop_signals(
    main: Callable[[Settings, asyncio.Event], Awaitable[None]], settings: Settings
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await main(settings, stop)


def creds_file(document: str) -> str:
    """The .creds document (Synadia Cloud's JWT and seed, from NATS_CREDS) in a 0600 file in a
    0700 directory of our own, kept for the life of the process: every reconnect reads it."""
    directory = tempfile.mkdtemp(prefix="deploykit-creds-")
    path = os.path.join(directory, "user.creds")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(document)
    atexit.register(shutil.rmtree, directory, True)
    return path


async def connect_nats(settings: Settings) -> Client:
    """Connect as the service's user with its own inbox prefix (the only inbox it may read),
    reconnecting forever once connected. The first connection is `Fatal` when refused (wrong
    credentials) or when no server answers within CONNECT_DEADLINE."""
    last_error = ""
    refused = asyncio.Event()

    async def on_error(exc: Exception) -> None:
        nonlocal last_error
        last_error = (str(exc) or type(exc).__name__).removeprefix("nats: ")
        log.warning("nats: %s", last_error)
        if "authorization violation" in last_error.lower():
            refused.set()

    async def on_disconnected() -> None:
        log.warning("nats: disconnected")

    async def on_reconnected() -> None:
        log.info("nats: reconnected")

    servers = ", ".join(redact(u) for u in settings.nats_urls)
    connecting = asyncio.ensure_future(
        nats.connect(
            servers=settings.nats_urls,
            name=settings.service,
            user=settings.nats_user,
            password=settings.nats_password,
            user_credentials=creds_file(settings.nats_creds) if settings.nats_creds else None,
            inbox_prefix=settings.inbox_prefix,
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
            connect_timeout=2,
            error_cb=on_error,
            disconnected_cb=on_disconnected,
            reconnected_cb=on_reconnected,
        )
    )
    refusal = asyncio.ensure_future(refused.wait())
    await asyncio.wait(
        {connecting, refusal}, timeout=CONNECT_DEADLINE, return_when="FIRST_COMPLETED"
    )
    refusal.cancel()
    if not connecting.done():
        connecting.cancel()
        raise Fatal(f"cannot connect to NATS at {servers}: {last_error or 'no answer'}")
    try:
        nc = connecting.result()
    except (OSError, nats.errors.Error) as exc:
        raise Fatal(f"cannot connect to NATS at {servers}: {exc}") from None
    log.info("connected to NATS at %s as %s", servers, settings.nats_user or "(no user)")
    return nc


async def close_nats(nc: Client) -> None:
    """Drain (finish in-flight messages, then close); a connection that is down just closes."""
    try:
        await nc.drain()
    except nats.errors.Error:
        await nc.close()


async def add_service(
    nc: Client,
    settings: Settings,
    description: str,
    metadata: dict[str, str],
    endpoints: Sequence[tuple[str, str, Handler]] = (),
) -> Service:
    """Register the NATS Service named like the service, endpoints (name, subject, handler)
    first, so that `$SRV.PING.<service>` answering is the readiness signal. nats-py keeps the
    `metadata` dict it is given (when it is not empty): update it in place and discovery
    (PING, INFO, STATS) reports the new values."""
    config = ServiceConfig(
        name=settings.service, version=__version__, description=description, metadata=metadata
    )
    service = Service(nc, config)
    for name, subject, handler in endpoints:
        await service.add_endpoint(name=name, subject=subject, handler=handler)
    await service.start()
    log.info("registered NATS Service %s (id %s)", settings.service, service.id)
    return service


async def consume(
    sub: JetStreamContext.PullSubscription,
    stop: asyncio.Event,
    handle: Callable[[Sequence[Msg]], Awaitable[Any]],
    batch: int = 64,
) -> None:
    """Fetch from a bound pull consumer and hand each batch to `handle` until `stop`.
    A consumer that stops answering (deleted, or expired after its inactive threshold) is fatal:
    a restart is the way back (a queue worker rebinds; a fanout instance warms up again)."""
    missing = 0
    try:
        while not stop.is_set():
            try:
                msgs = await sub.fetch(batch, timeout=1)
            except TimeoutError:  # nats-py raises both its own and asyncio's
                continue
            except nats.js.errors.ServiceUnavailableError:
                missing += 1
                if missing >= 3:
                    raise Fatal("its JetStream consumer no longer answers") from None
                await asyncio.sleep(1)
                continue
            except nats.errors.Error as exc:
                log.warning("fetch failed: %s", exc or type(exc).__name__)
                await asyncio.sleep(1)
                continue
            missing = 0
            if msgs:  # fetch can return an empty batch, e.g. across a reconnect
                await handle(msgs)
    finally:
        # Before the connection drains: draining a pull subscription waits for its pending
        # queue, which fetch never marks done.
        with contextlib.suppress(nats.errors.Error):
            await sub.unsubscribe()


class Database:
    """One autocommit connection, reopened when it breaks (apps make short, single statements).
    Errors are psycopg's own, for handlers to map; only `ensure_schema` (run at start) is fatal."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = await psycopg.AsyncConnection.connect(
                self._url, autocommit=True, connect_timeout=5
            )
        return self._conn

    async def ensure_schema(self, ddl: str) -> None:
        """Create tables if missing; an advisory lock keeps concurrent replicas from racing."""
        try:
            conn = await self.connection()
            async with conn.transaction():
                await conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext('deploykit.apps.schema'))"
                )
                await conn.execute(ddl)
        except psycopg.Error as exc:
            secret = urlsplit(self._url).password
            reason = str(exc).strip().replace(secret, "***") if secret else str(exc).strip()
            raise Fatal(f"cannot prepare PostgreSQL at {redact(self._url)}: {reason}") from None

    async def _execute(self, sql: str, params: Sequence[Any]) -> psycopg.AsyncCursor[Any]:
        """A connection that died since its last use (PostgreSQL restarted) fails its next
        statement: reopen it and send the statement once more. Safe because every statement
        of the apps is idempotent (`ON CONFLICT`, reads), should the first one have run."""
        conn = await self.connection()
        try:
            return await conn.execute(sql, params)
        except psycopg.OperationalError:
            if not conn.broken:
                raise
        return await (await self.connection()).execute(sql, params)

    async def fetchone(self, sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
        cur = await self._execute(sql, params)
        return await cur.fetchone()

    async def execute(self, sql: str, params: Sequence[Any]) -> int:
        """Run one statement; the number of rows it touched."""
        return (await self._execute(sql, params)).rowcount

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
