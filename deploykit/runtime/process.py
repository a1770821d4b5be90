"""One instance's process, whatever serves in it: a `Service` (its `run`), or a frontend that
serves its own way (an ASGI app under uvicorn). Logs go to stdout; the settings are read once
(a bad one: exit 2, naming it); SIGTERM or SIGINT sets the stop event `main` serves until;
`Fatal` is exit 1 with one clear line; a clean stop is exit 0.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable

from deploykit.runtime.errors import Fatal
from deploykit.runtime.settings import ConfigError, Settings

__all__ = ["Main", "log_to_stdout", "run"]

log = logging.getLogger("deploykit.runtime")

Main = Callable[[Settings, asyncio.Event], Awaitable[None]]


def run(main: Main, check: Callable[[Settings], None] | None = None) -> None:
    """Read the environment (and `check` it: a `ConfigError` is exit 2 too), run `main` until it
    returns, exit."""
    log_to_stdout()
    try:
        settings = Settings.from_env(os.environ)
        if check is not None:
            check(settings)
    except ConfigError as exc:
        log.error("bad configuration: %s", exc)
        sys.exit(2)
    try:
        asyncio.run(_until_signalled(main, settings))
    except Fatal as exc:
        log.error("%s: %s", settings.service, exc)
        sys.exit(1)
    log.info("%s stopped", settings.service)


def log_to_stdout() -> None:
    """Log lines to stdout, each as soon as written: what the targets collect from a process."""
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # a TextIOWrapper at run time
    logging.basicConfig(
        stream=sys.stdout,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


async def _until_signalled(main: Main, settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await main(settings, stop)
