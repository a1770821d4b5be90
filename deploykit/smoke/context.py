"""What every check shares during a run: the deadline, NATS connections, an HTTP client.

Connections are opened once per user, on first use, and shared by the checks that run
concurrently; a failed connection is remembered, so every check that needs it fails at once
with the same cause instead of trying again. Connecting never retries for long: each server is
tried twice, 0.1 s apart, within the run's deadline. Every error a connection receives from the
server (permissions violations) is kept, so a check can name why a request got no answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import nats.errors
from nats.aio.client import Client

from deploykit.jetstream.api import redact_url
from deploykit.manifest.model import Manifest
from deploykit.smoke.results import CheckFailed
from deploykit.stack.outputs import StackOutputs

__all__ = ["CONNECT_TIMEOUT", "Context", "NatsSession"]

CONNECT_TIMEOUT = 3.0  # seconds, at most, to connect one user


@dataclass
class NatsSession:
    """One user's connection, how long it took, and the errors the server sent it."""

    user: str
    client: Client
    connect_seconds: float
    errors: list[str] = field(default_factory=list)


def _refused(shown: str, user: str, exc: BaseException) -> str:
    if (
        isinstance(exc, nats.errors.AuthorizationError)
        or "authorization violation" in str(exc).lower()
    ):
        return (
            f"cannot connect to {shown} as {user}: authorization violation "
            "(the server refuses this user's credentials)"
        )
    cause = f"{type(exc).__name__} {exc}".strip()
    return f"cannot connect to {shown} as {user}: {cause}"


class Context:
    """One run's shared state; `close` ends every connection it opened."""

    def __init__(
        self, manifest: Manifest, outputs: StackOutputs, timeout: float, run_id: str
    ) -> None:
        self.manifest = manifest
        self.outputs = outputs
        self.run_id = run_id
        self.deadline = time.monotonic() + timeout
        self._sessions: dict[str, asyncio.Task[NatsSession]] = {}
        self._clients: list[Client] = []
        self._http: httpx.AsyncClient | None = None

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def budget(self, cap: float) -> float:
        """A timeout for one operation: `cap` seconds, or what is left of the run if less."""
        return max(0.01, min(cap, self.remaining()))

    async def nats(self, user: str) -> NatsSession:
        """The shared connection of `user` (a key of the outputs' credentials)."""
        if user not in self._sessions:
            self._sessions[user] = asyncio.create_task(self.open(user))
        return await asyncio.shield(self._sessions[user])

    async def open(self, user: str) -> NatsSession:
        """A new connection of `user`, closed with the context; fails with a clear message."""
        credential = self.outputs.credential(user)
        urls = self.outputs.nats.urls
        shown = ", ".join(redact_url(u) for u in urls)
        errors: list[str] = []

        async def collect(exc: Exception) -> None:
            errors.append(f"{type(exc).__name__}: {exc}".strip())

        options: dict[str, Any] = credential.connect_options()
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="deploykit-smoke-") as tmp:
            if credential.creds:
                path = os.path.join(tmp, "user.creds")
                fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(credential.creds)
                options["user_credentials"] = path
            client = Client()
            self._clients.append(client)  # closed with the context even if cut off mid-connect
            try:
                await asyncio.wait_for(
                    client.connect(
                        urls,
                        name=f"deploykit-smoke {user}",
                        connect_timeout=self.budget(CONNECT_TIMEOUT),  # type: ignore[arg-type]  # nats-py annotates int, takes seconds as float
                        allow_reconnect=False,
                        max_reconnect_attempts=1,
                        reconnect_time_wait=0.1,  # type: ignore[arg-type]  # nats-py annotates int, takes seconds as float
                        error_cb=collect,
                        **options,
                    ),
                    self.budget(CONNECT_TIMEOUT),
                )
            except nats.errors.NoServersError:
                cause = errors[-1] if errors else "no server answered"
                raise CheckFailed(
                    f"cannot connect to {shown}: nothing answers ({cause})", unreachable=True
                ) from None
            except (TimeoutError, nats.errors.Error, OSError) as exc:
                raise CheckFailed(
                    _refused(shown, user, exc),
                    unreachable=isinstance(exc, TimeoutError | OSError),
                ) from None
        return NatsSession(user, client, time.monotonic() - started, errors)

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(follow_redirects=True)
        return self._http

    async def close(self) -> None:
        for task in self._sessions.values():
            task.cancel()
        await asyncio.gather(*self._sessions.values(), return_exceptions=True)
        for client in self._clients:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close(), 1.0)
        if self._http is not None:
            await self._http.aclose()

    def secrets(self) -> list[str]:
        """Every secret in the outputs, longest first, so reports can scrub them."""
        found: set[str] = set()
        for cred in self.outputs.nats.credentials.values():
            found |= {s for s in (cred.password, cred.creds) if s}
        database = self.outputs.database
        if database:
            urls = [database.admin_url, *database.urls.values(), *database.replica_urls]
            for url in filter(None, urls):
                found.add(url)
                password = urlsplit(url).password
                if password:
                    found.add(password)
        return sorted(found, key=len, reverse=True)
