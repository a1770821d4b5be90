"""RPC endpoints as a NATS Service (nats-py's `nats.micro`): discovery and stats on
`$SRV.{PING,INFO,STATS}`, requests in the queue group `q`, so instances share the load.

A handler gets a `Request` and returns the reply payload; `Reject(code, description)` answers
an error that the caller sees with its code; a payload that does not decode answers 400; a
database error answers 503 "database unavailable"; an event that could not be stored
(`EmitFailed`) answers 503 (the caller retries; the emit's message id makes the retry store it
once); anything else answers 500 without details (they are logged). A stop drains each endpoint's subscription, so requests already received are
answered (see `service._stop_answering`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic

from nats.aio.client import Client
from nats.micro.request import Request as MicroRequest
from nats.micro.request import ServiceError
from nats.micro.service import Service as MicroService
from nats.micro.service import ServiceConfig
from typing_extensions import TypeVar

from deploykit.runtime.database import is_database_error
from deploykit.runtime.errors import EmitFailed, Reject
from deploykit.runtime.metrics import Metrics
from deploykit.runtime.payloads import Codec, PayloadError
from deploykit.runtime.typed import parser_for

__all__ = ["QUEUE_GROUP", "InFlight", "Request", "RequestHandler", "register", "wrap"]

log = logging.getLogger("deploykit.runtime")

QUEUE_GROUP = "q"  # nats.micro's default, which the permission compiler grants


T = TypeVar("T", default=Any)


class Request(Generic[T]):
    """One request: its decoded `data`, `subject` and `headers`. A handler that annotates
    `Request[Model]` gets `data` parsed into `Model` (see `typed.py`); it may return a model."""

    __slots__ = ("data", "headers", "subject")

    def __init__(self, subject: str, data: T, headers: dict[str, str]) -> None:
        self.subject = subject
        self.data: T = data
        self.headers = headers


RequestHandler = Callable[[Request[Any]], Awaitable[Any]]


class InFlight:
    """Counts handlers running (a stop says how many it lets finish)."""

    def __init__(self) -> None:
        self.count = 0

    def enter(self) -> None:
        self.count += 1

    def leave(self) -> None:
        self.count -= 1


def wrap(
    subject: str, handler: RequestHandler, codec: Codec, metrics: Metrics, in_flight: InFlight
) -> Callable[[MicroRequest], Awaitable[None]]:
    parse = parser_for(handler, Request)

    async def run(request: MicroRequest) -> None:
        in_flight.enter()
        started = time.perf_counter()
        error: str | None = None
        try:
            data = codec.decode(subject, request.data)
            if parse is not None:
                data = parse(data)
            result = await handler(Request(subject, data, request.headers or {}))
            await request.respond(codec.encode(subject, result))
        except Reject as exc:
            error = f"reject_{exc.code}"
            raise ServiceError(exc.code, exc.description) from None
        except PayloadError as exc:
            error = "PayloadError"
            raise ServiceError("400", str(exc)) from None
        except EmitFailed as exc:
            error = "EmitFailed"
            log.error("%s: %s", subject, exc)
            raise ServiceError("503", "event not stored; retry the request") from None
        except Exception as exc:
            error = type(exc).__name__
            if is_database_error(exc):
                log.error("%s: the database failed: %s", subject, str(exc).strip())
                raise ServiceError("503", "database unavailable") from None
            log.exception("%s: handler failed", subject)
            raise ServiceError("500", "internal error") from exc
        finally:
            metrics.processed(subject, QUEUE_GROUP, time.perf_counter() - started, error)
            metrics.flush()
            in_flight.leave()

    return run


async def register(
    nc: Client,
    name: str,
    version: str,
    description: str,
    metadata: dict[str, str],
    endpoints: list[tuple[str, str, Callable[[MicroRequest], Awaitable[None]]]],
) -> MicroService:
    """Endpoints first, then discovery: `$SRV.PING.<name>` answering means ready. nats-py keeps
    the `metadata` dict it is given when not empty: update it in place and discovery shows the
    new values."""
    config = ServiceConfig(name=name, version=version, description=description, metadata=metadata)
    service = MicroService(nc, config)
    for endpoint, subject, handler in endpoints:
        await service.add_endpoint(
            name=endpoint, subject=subject, handler=handler, queue_group=QUEUE_GROUP
        )
    await service.start()
    log.info("joined discovery as NATS Service %s (id %s)", name, service.id)
    return service
