"""A raw JSON client of the JetStream API over a nats-py connection.

Raw JSON, not nats-py's dataclasses: those drop fields they do not know, and an update built
from them silently resets those fields on the server. Every call is counted, mutating ones
apart, so tests can prove that a no-op apply changes nothing. Idempotent calls (reads, creates,
updates) are retried briefly with backoff on timeouts and on "no suitable peers" / "temporarily
unavailable": the first requests to a freshly started cluster fail that way while its meta
leader settles.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import ssl
import tempfile
from dataclasses import dataclass, field
from typing import Any

import nats
import nats.errors
from nats.aio.client import Client

from deploykit.errors import ConnectError
from deploykit.errors import JetStreamApiError as ApiError
from deploykit.stack.outputs import NatsCredential

__all__ = [
    "CONSUMER_NOT_FOUND",
    "STREAM_NOT_FOUND",
    "ApiError",
    "JetStreamApi",
    "ServerState",
    "cluster_size",
    "connect",
    "count_mutations",
    "redact_url",
]

STREAM_NOT_FOUND = 10059
CONSUMER_NOT_FOUND = 10014
NO_SUITABLE_PEERS = 10005
TEMPORARILY_UNAVAILABLE = 10008
_RETRYABLE = frozenset({NO_SUITABLE_PEERS, TEMPORARILY_UNAVAILABLE})
_BACKOFF = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0)
READ_WAIT = 0.2  # seconds a read waits for its first answer (see `retried`)
READ_PATIENCE = 30.0  # seconds a read is asked again while nothing answers it


@dataclass
class ServerState:
    """What one account holds: stream configs by name, durable consumer configs by stream."""

    streams: dict[str, dict[str, Any]]
    consumers: dict[str, dict[str, dict[str, Any]]]


@dataclass
class JetStreamApi:
    """The JetStream API of one account (one connection), with call counters."""

    conn: Client
    timeout: float = 5.0
    prefix: str = "$JS.API"
    calls: dict[str, int] = field(default_factory=dict)

    @property
    def mutations(self) -> int:
        """How many create/update/delete requests were sent (retries included)."""
        return count_mutations(self.calls)

    async def request(
        self, subject: str, body: dict[str, Any] | None = None, timeout: float | None = None
    ) -> dict[str, Any]:
        """One API request; an API error becomes `ApiError`, a dead server `ConnectError`."""
        payload = json.dumps(body).encode() if body is not None else b""
        verb = _verb(subject)
        self.calls[verb] = self.calls.get(verb, 0) + 1
        wait = timeout or self.timeout
        try:
            msg = await self.conn.request(f"{self.prefix}.{subject}", payload, timeout=wait)
        except nats.errors.NoRespondersError:
            raise ConnectError(
                f"{subject}: no JetStream API answered (is JetStream enabled for this account?)"
            ) from None
        except nats.errors.TimeoutError:
            raise ConnectError(f"{subject}: the JetStream API did not answer in time") from None
        except nats.errors.Error as exc:
            raise ConnectError(f"{subject}: {exc}") from None
        data: dict[str, Any] = json.loads(msg.data)
        error = data.get("error")
        if error:
            raise ApiError(
                subject,
                error.get("code", 0),
                error.get("err_code", 0),
                error.get("description", ""),
            )
        return data

    async def retried(self, subject: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """`request`, retried on the transient failures of a cluster that is still settling.

        A read is asked again soon: a request that reaches a stream with no leader yet is never
        answered (it times out; after a restart each stream elects its leader 4 to 9 s after
        its servers started), so a read waits 0.2 s, then a quarter longer each time (up to
        `timeout`), asked again at once, for READ_PATIENCE seconds: it ends within a fraction
        of a second of the leader's election. A write always waits its full `timeout` (one that
        timed out may still have been applied), with a growing pause between attempts."""
        if _verb(subject) in _MUTATING:
            return await self._written(subject, body)
        deadline = asyncio.get_running_loop().time() + READ_PATIENCE
        attempt, pauses = 0, iter(_BACKOFF)
        while True:
            try:
                return await self.request(
                    subject, body, min(self.timeout, READ_WAIT * 1.25**attempt)
                )
            except (ConnectError, ApiError) as exc:
                silent = isinstance(exc, ConnectError)
                transient = isinstance(exc, ConnectError) or exc.err_code in _RETRYABLE
                late = asyncio.get_running_loop().time() > deadline
                if not transient or late or not self.conn.is_connected:
                    raise
                if not silent:  # an answer that says "not now": pause before asking again
                    await asyncio.sleep(next(pauses, _BACKOFF[-1]))
            attempt += 1

    async def _written(self, subject: str, body: dict[str, Any] | None) -> dict[str, Any]:
        for delay in (*_BACKOFF, None):
            try:
                return await self.request(subject, body)
            except (ConnectError, ApiError) as exc:
                transient = isinstance(exc, ConnectError) or exc.err_code in _RETRYABLE
                if delay is None or not transient or not self.conn.is_connected:
                    raise
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def server_state(self) -> ServerState:
        """Every stream's config and every durable consumer's config, from the server's JSON.

        Names, then each one's INFO, rather than STREAM.LIST / CONSUMER.LIST: on a cluster a
        list waits for every stream's (consumer's) leader and, while one has none yet (a
        restarted cluster elects them after its meta leader), answers only after a 4 s
        timeout; an INFO is answered as soon as that one object's leader is there.
        """
        names = await self._names("STREAM.NAMES", "streams")
        configs = await asyncio.gather(*(self.stream_info(name) for name in names))
        streams = {n: c for n, c in zip(names, configs, strict=True) if c is not None}

        async def consumers_of(stream: str) -> dict[str, dict[str, Any]]:
            named = await self._names(f"CONSUMER.NAMES.{stream}", "consumers")
            found = await asyncio.gather(*(self.consumer_info(stream, n) for n in named))
            return {c["name"]: c for c in found if c is not None and c.get("durable_name")}

        found = await asyncio.gather(*(consumers_of(name) for name in streams))
        return ServerState(streams, dict(zip(streams, found, strict=True)))

    async def _names(self, subject: str, key: str) -> list[str]:
        names: list[str] = []
        while True:
            page = await self.retried(subject, {"offset": len(names)})
            names.extend(page.get(key) or [])
            if not page.get(key) or len(names) >= page.get("total", 0):
                return names

    async def stream_info(self, name: str) -> dict[str, Any] | None:
        try:
            return _config(await self.retried(f"STREAM.INFO.{name}"))
        except ApiError as exc:
            if exc.err_code == STREAM_NOT_FOUND:
                return None
            raise

    async def consumer_info(self, stream: str, name: str) -> dict[str, Any] | None:
        try:
            return _config(await self.retried(f"CONSUMER.INFO.{stream}.{name}"))
        except ApiError as exc:
            if exc.err_code in (STREAM_NOT_FOUND, CONSUMER_NOT_FOUND):
                return None
            raise

    async def create_stream(self, config: dict[str, Any]) -> dict[str, Any]:
        return _config(await self.retried(f"STREAM.CREATE.{config['name']}", config))

    async def update_stream(self, config: dict[str, Any]) -> dict[str, Any]:
        return _config(await self.retried(f"STREAM.UPDATE.{config['name']}", config))

    async def delete_stream(self, name: str) -> None:
        await self.request(f"STREAM.DELETE.{name}")

    async def create_consumer(
        self, stream: str, config: dict[str, Any], action: str
    ) -> dict[str, Any]:
        """`action` "create" never touches an existing consumer; "update" never creates one."""
        body = {"stream_name": stream, "config": config, "action": action}
        subject = f"CONSUMER.CREATE.{stream}.{config['name']}"
        return _config(await self.retried(subject, body))

    async def delete_consumer(self, stream: str, name: str) -> None:
        await self.request(f"CONSUMER.DELETE.{stream}.{name}")


_MUTATING = frozenset(
    {"STREAM.CREATE", "STREAM.UPDATE", "STREAM.DELETE", "CONSUMER.CREATE", "CONSUMER.DELETE"}
)


def _config(reply: dict[str, Any]) -> dict[str, Any]:
    """The `config` object of a JetStream API reply (stream and consumer replies carry one)."""
    config: dict[str, Any] = reply["config"]
    return config


def count_mutations(calls: dict[str, int]) -> int:
    """The create/update/delete requests among counted `calls` (verb → count)."""
    return sum(n for verb, n in calls.items() if verb in _MUTATING)


def _verb(subject: str) -> str:
    """`STREAM.CREATE.X` → `STREAM.CREATE`; `INFO` → `INFO`."""
    return ".".join(subject.split(".")[:2])


def redact_url(url: str) -> str:
    """The URL(s) without any `user:password@` part, safe to print."""
    return re.sub(r"//[^/@,]*@", "//", url)


async def connect(
    url: str, credential: NatsCredential | None = None, ca_certificate: str | None = None
) -> Client:
    """One connection for one bus (account), failing fast with a message free of secrets.

    Credentials the server refuses end the attempt at once: against a cluster, nats-py would
    otherwise retry the servers it discovers forever. A `.creds` document is written to a
    0600 temporary file for the time of the handshake; `ca_certificate` (PEM) is the CA a
    `tls://` server's certificate must chain to.
    """
    options: dict[str, Any] = credential.connect_options() if credential else {}
    if ca_certificate:
        options["tls"] = ssl.create_default_context(cadata=ca_certificate)
    refused = asyncio.Event()

    async def quiet(exc: Exception) -> None:
        """nats-py logs connection errors itself; the ConnectError below says it once."""
        if "authorization violation" in str(exc).lower():
            refused.set()

    servers = [u.strip() for u in url.split(",") if u.strip()]
    who = f" as {credential.user}" if credential and credential.user else ""
    with tempfile.TemporaryDirectory(prefix="deploykit-creds-") as tmp:
        if credential and credential.creds:
            path = os.path.join(tmp, "user.creds")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(credential.creds)
            options["user_credentials"] = path
        conn = Client()
        connecting = asyncio.ensure_future(
            conn.connect(
                servers,
                name="deploykit-jetstream",
                connect_timeout=5,
                max_reconnect_attempts=2,  # each server twice, then give up (0 is forever)
                reconnect_time_wait=0.5,  # type: ignore[arg-type]  # nats-py annotates int, but only sleeps on it
                error_cb=quiet,
                **options,
            )
        )
        refusal = asyncio.ensure_future(refused.wait())
        await asyncio.wait({connecting, refusal}, return_when=asyncio.FIRST_COMPLETED)
        refusal.cancel()
        if not connecting.done():
            connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError, nats.errors.Error):
                await connecting
            await conn.close()
        try:
            if refused.is_set():
                raise ConnectError(
                    f"cannot connect to {redact_url(url)}{who}: the server refused the "
                    "credentials (authorization violation)"
                )
            connecting.result()
        except (TimeoutError, nats.errors.Error, OSError) as exc:
            raise ConnectError(
                f"cannot connect to {redact_url(url)}{who}: {type(exc).__name__} {exc}".strip()
            ) from None
        return conn


def cluster_size(conn: Client) -> int | None:
    """How many servers JetStream can place replicas on, from the server's INFO.

    A server outside a cluster is 1; in a cluster, the servers it advertises (itself
    included). None when the cluster does not advertise them: then replicas are not capped.
    """
    info = conn._server_info
    if not info.get("cluster"):
        return 1
    urls = info.get("connect_urls") or []
    return len(urls) or None
