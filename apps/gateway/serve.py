"""The gateway as a process (local, or a container's command): uvicorn serving the ASGI app.

uvicorn is what Vercel's own Python runtime runs an ASGI app with (vercel-runtime vendors it),
so the process and the function call the app the same way. The app is imported by the function
host without this module, which is why uvicorn is needed only here. As a process the gateway is
scraped like every service: the runtime's metrics page, with the duration of every request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import Any

import uvicorn

from apps.gateway.server import Connection, Gateway
from deploykit.runtime import Fatal, Settings, connection
from deploykit.runtime.metrics import Metrics

log = logging.getLogger("apps.gateway")


class Server(uvicorn.Server):
    """uvicorn without its own signal handlers: the runtime's process owns SIGTERM and SIGINT."""

    def install_signal_handlers(self) -> None:  # uvicorn < 0.29
        pass

    def capture_signals(self) -> Any:  # uvicorn >= 0.29
        return contextlib.nullcontext()


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before serving so that a taken port is one clear error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise Fatal(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(1024)
    return sock


def check(settings: Settings) -> None:
    """A process listens, so PORT is required (a function host routes requests itself)."""
    settings.require_port()


async def main(settings: Settings, stop: asyncio.Event) -> None:
    metrics = Metrics(settings)
    try:
        nc = await connection.connect(settings)
        gateway = Gateway(Connection(lambda: settings, nc), metrics)
        try:
            port = settings.require_port()
            sock = listen(settings.host, port)
            config = uvicorn.Config(gateway, lifespan="off", access_log=False, log_config=None)
            server = Server(config)
            serving = asyncio.ensure_future(server.serve(sockets=[sock]))
            log.info("listening on %s:%d", settings.host, port)
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait({serving, stopping}, return_when="FIRST_COMPLETED")
            stopping.cancel()
            log.info("stopping: finishing requests in flight")
            server.should_exit = True
            await serving
        finally:
            await gateway.connection.close()
    finally:
        metrics.shutdown()
