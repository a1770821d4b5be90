"""The NATS connection of one service instance: its own user, its own inbox prefix, TLS with the
stack's CA, and reconnects with a growing wait (0.25 s doubling to 8 s, with jitter) that starts
over once connected again, so a restarted cluster is not met by every client at once."""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import random
import shutil
import ssl
import tempfile
from urllib.parse import urlsplit

import nats
import nats.errors
from nats.aio.client import Client

from deploykit.runtime.errors import Fatal
from deploykit.runtime.settings import Settings

__all__ = ["CONNECT_DEADLINE", "close", "connect", "redact"]

log = logging.getLogger("deploykit.runtime")

CONNECT_DEADLINE = 20.0  # seconds to reach NATS at start before giving up with a clear error
BACKOFF_FIRST, BACKOFF_MAX = 0.25, 8.0


def redact(url: str) -> str:
    """A URL without its credentials, safe to log."""
    parts = urlsplit(url)
    if parts.password is None and parts.username is None:
        return url
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()


def _creds_file(document: str) -> str:
    """The .creds document in a 0600 file in a 0700 directory of our own, kept for the life of
    the process: every reconnect reads it."""
    directory = tempfile.mkdtemp(prefix="deploykit-creds-")
    path = os.path.join(directory, "user.creds")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(document)
    atexit.register(shutil.rmtree, directory, True)
    return path


def _tls(settings: Settings) -> ssl.SSLContext | None:
    if settings.tls_ca_file is None:
        return None  # tls:// URLs still verify against the system store (and SSL_CERT_FILE)
    try:
        return ssl.create_default_context(cafile=settings.tls_ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise Fatal(f"NATS_CA_FILE={settings.tls_ca_file}: {exc}") from None


async def connect(settings: Settings) -> Client:
    """Connect as the service's user; `Fatal` when refused (wrong credentials) or when no server
    answers within CONNECT_DEADLINE. Once connected it reconnects forever."""
    nc = Client()
    last_error = ""
    refused = asyncio.Event()

    async def on_error(exc: Exception) -> None:
        nonlocal last_error
        last_error = (str(exc) or type(exc).__name__).removeprefix("nats: ")
        log.warning("nats: %s", last_error)
        if "authorization violation" in last_error.lower():
            refused.set()
        if nc.is_reconnecting:  # nats-py waits reconnect_time_wait between attempts
            wait = min(nc.options["reconnect_time_wait"] * 2, BACKOFF_MAX)
            nc.options["reconnect_time_wait"] = wait * random.uniform(0.8, 1.2)

    async def on_disconnected() -> None:
        log.warning("nats: disconnected")

    async def on_reconnected() -> None:
        nc.options["reconnect_time_wait"] = BACKOFF_FIRST
        log.info("nats: reconnected")

    creds = settings.nats_creds_file or (
        _creds_file(settings.nats_creds) if settings.nats_creds else None
    )
    servers = ", ".join(redact(u) for u in settings.nats_urls)
    connecting = asyncio.ensure_future(
        nc.connect(
            servers=settings.nats_urls,
            name=settings.service,
            user=settings.nats_user,
            password=settings.nats_password,
            user_credentials=creds,
            tls=_tls(settings),
            inbox_prefix=settings.inbox_prefix,
            max_reconnect_attempts=-1,
            reconnect_time_wait=BACKOFF_FIRST,  # type: ignore[arg-type]  # nats-py annotates int, but only sleeps on it
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
        connecting.result()
    except (OSError, nats.errors.Error) as exc:
        raise Fatal(f"cannot connect to NATS at {servers}: {exc}") from None
    who = settings.nats_user or ("(creds)" if creds else "(no user)")
    log.info("connected to NATS at %s as %s", servers, who)
    return nc


async def close(nc: Client) -> None:
    """Drain (finish in-flight messages, then close); a connection that is down just closes."""
    if nc.is_closed:
        return
    try:
        await nc.drain()
    except (nats.errors.Error, TimeoutError):
        await nc.close()
