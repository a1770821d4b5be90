"""`Service`: one service instance from start to stop.

    service = Service("owns accounts")

    @service.endpoint("create")          # rpc: answers accounts.create's subject
    async def create(request: Request) -> dict: ...

    @service.consumer("welcome")         # worker: queue or fanout, as deploykit.yaml says
    async def welcome(event: Event) -> None: ...

    service.run()

Start, in order: settings (exit 2 naming a bad variable), metrics, the database schema,
NATS, queue consumers bound and fanout consumers created, endpoints, warm-up of every fanout
consumer, and only then discovery (`$SRV.PING.<service>`) or, for a frontend, `/healthz`
answering 200: ready means able to work. SIGTERM (or SIGINT) stops taking work, lets what is
in flight finish (the message being handled is acked, the fetched rest goes back), then drains
the connection and exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

import nats.errors
from nats.aio.client import Client
from nats.js.client import JetStreamContext
from nats.micro.service import Service as MicroService

from deploykit.manifest.kinds import ConsumeMode, Role
from deploykit.manifest.subjects import is_subset
from deploykit.manifest.wiring import Wiring
from deploykit.runtime import connection, process
from deploykit.runtime.consumers import Event, FanoutConsumer, Handler, QueueConsumer
from deploykit.runtime.database import Database
from deploykit.runtime.emit import HANDLER_EMIT_BOUND, RPC_EMIT_BOUND, publish
from deploykit.runtime.endpoints import InFlight, Request, RequestHandler, register, wrap
from deploykit.runtime.errors import Fatal, RemoteError
from deploykit.runtime.metrics import Metrics
from deploykit.runtime.payloads import Codec, ContractCodec, JsonCodec
from deploykit.runtime.settings import ConfigError, Settings
from deploykit.runtime.typed import parse_as, parser_for

__all__ = ["STOP_GRACE", "Service"]

M = TypeVar("M")

log = logging.getLogger("deploykit.runtime")

STOP_GRACE = 10.0  # seconds in-flight handlers get to finish after SIGTERM
REQUEST_TIMEOUT = 10.0


class Service:
    """Declare handlers, then `run()` (or `await serve(stop)` inside an event loop)."""

    def __init__(
        self,
        description: str = "",
        *,
        version: str = "0.1.0",
        schema: str | None = None,
        codec: Codec | None = None,
        batch: int = 64,
    ) -> None:
        self.description = description
        self.version = version
        self.schema = schema
        self._codec = codec  # the caller's own, else the manifest's contracts (at serve)
        self.codec: Codec = codec or JsonCodec()
        self.batch = batch
        self.metadata: dict[str, str] = {}
        self._endpoints: dict[str, RequestHandler] = {}
        self._consumers: dict[str, Handler] = {}
        self._on_start: list[Callable[[], Awaitable[None]]] = []
        self._http: Any = None
        self._settings: Settings | None = None
        self._nc: Client | None = None
        self._db: Database | None = None
        self._metrics: Metrics | None = None
        self._micro: MicroService | None = None
        self._in_flight = InFlight()
        self._emits_ok: dict[str, bool] = {}
        self.ready = asyncio.Event()

    # -- declaring ------------------------------------------------------------------------------

    def endpoint(self, name: str) -> Callable[[RequestHandler], RequestHandler]:
        """Answer the manifest's endpoint `name` (its subject comes from deploykit.yaml)."""

        def add(handler: RequestHandler) -> RequestHandler:
            parser_for(handler, Request)  # an annotation it cannot resolve fails here, at import
            self._endpoints[name] = handler
            return handler

        return add

    def consumer(self, name: str) -> Callable[[Handler], Handler]:
        """Handle the messages of the manifest's consumer `name` (queue or fanout)."""

        def add(handler: Handler) -> Handler:
            parser_for(handler, Event)  # an annotation it cannot resolve fails here, at import
            self._consumers[name] = handler
            return handler

        return add

    def on_start(self, hook: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        """Run once connected, before any handler (e.g. load a cache)."""
        self._on_start.append(hook)
        return hook

    @property
    def http(self) -> Any:
        """A frontend's aiohttp application (served on PORT, with /healthz); add routes to it."""
        if self._http is None:
            from aiohttp import web

            @web.middleware
            async def timed(request: Any, handler: Any) -> Any:
                return await self._timed(request, handler)

            self._http = web.Application(middlewares=[timed])
            self._http.router.add_get("/healthz", self._healthz)
        return self._http

    async def _timed(self, request: Any, handler: Any) -> Any:
        """`http.server.request.duration` of every request, by method, route and status."""
        from aiohttp import web

        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            info = request.match_info.route.resource
            route = info.canonical if info is not None else "(unmatched)"
            self.metrics.http(request.method, route, status, time.perf_counter() - started)

    # -- what handlers use ----------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            raise RuntimeError("the service is not running")
        return self._settings

    @property
    def nc(self) -> Client:
        if self._nc is None:
            raise RuntimeError("the service is not connected")
        return self._nc

    @property
    def js(self) -> JetStreamContext:
        return self.nc.jetstream()

    @property
    def db(self) -> Database:
        if self._db is None:
            raise RuntimeError("the service has no database (DATABASE_URL)")
        return self._db

    @property
    def metrics(self) -> Metrics:
        if self._metrics is None:
            raise RuntimeError("the service is not running")
        return self._metrics

    async def emit(self, subject: str, payload: Any, *, id: str) -> None:
        """Store an event now, awaiting its ack (retried within a bound, see `emit.py`). `id`
        is its idempotency key: the same id within the stream's duplicate window is stored
        once. `payload` may be a model (`deploykit contracts models`). Inside a queue handler,
        use `event.emit` instead: it is tied to the ack."""
        self._check_emit(subject)
        bound = RPC_EMIT_BOUND if self.settings.wiring.role is Role.RPC else HANDLER_EMIT_BOUND
        data = self.codec.encode(subject, payload)
        await publish(self.js, self.metrics, subject, data, id, bound)

    @overload
    async def request(
        self, call: str, payload: Any, timeout: float = ..., *, reply: None = None
    ) -> Any: ...

    @overload
    async def request(
        self, call: str, payload: Any, timeout: float = ..., *, reply: type[M]
    ) -> M: ...

    async def request(
        self,
        call: str,
        payload: Any,
        timeout: float = REQUEST_TIMEOUT,
        *,
        reply: type[Any] | None = None,
    ) -> Any:
        """Call `service.endpoint` (one of the manifest's `calls`); the decoded reply (parsed
        into `reply` when given, e.g. a generated model), or `RemoteError` with the endpoint's
        error code. Replies come to the service's own inbox."""
        subject = self.settings.wiring.calls.get(call)
        if subject is None:
            known = ", ".join(self.settings.wiring.calls) or "none"
            raise ValueError(f"{call!r} is not in this service's calls in deploykit.yaml ({known})")
        data = self.codec.encode(subject, payload)
        started = asyncio.get_running_loop().time()
        try:
            answer = await self.nc.request(subject, data, timeout=timeout)
        except nats.errors.NoRespondersError:
            self._requested(subject, started, "no_responders")
            raise RemoteError("503", f"no service answers {call}") from None
        except nats.errors.TimeoutError:
            self._requested(subject, started, "timeout")
            raise RemoteError("504", f"no reply from {call} in time") from None
        headers = answer.headers or {}
        code = headers.get("Nats-Service-Error-Code")
        self._requested(subject, started, f"reply_{code}" if code else None)
        if code:
            raise RemoteError(code, headers.get("Nats-Service-Error", "error"))
        data = self.codec.decode(subject, answer.data)
        return data if reply is None else parse_as(reply, data)

    def _requested(self, subject: str, started: float, error: str | None) -> None:
        elapsed = asyncio.get_running_loop().time() - started
        self.metrics.requested(subject, elapsed, error)

    def _check_emit(self, subject: str) -> None:
        ok = self._emits_ok.get(subject)
        if ok is None:
            ok = any(is_subset(subject, e) for e in self.settings.wiring.emits)
            self._emits_ok[subject] = ok
        if not ok:
            declared = ", ".join(self.settings.wiring.emits) or "nothing"
            raise ValueError(
                f"{subject!r} is not in services.{self.settings.service}.emits in deploykit.yaml "
                f"(it emits {declared})"
            )

    # -- running --------------------------------------------------------------------------------

    def run(self) -> None:
        """Read the environment, serve until SIGTERM/SIGINT, exit (2: bad configuration,
        1: cannot run, 0: stopped cleanly)."""
        process.run(self.serve, self._check_declared)

    def _check_declared(self, settings: Settings) -> None:
        self.check_wiring(settings.wiring, settings.service)
        if settings.wiring.role is Role.FRONTEND:
            settings.require_port()
        if self.schema is not None:
            settings.require_database()

    def check_wiring(self, wiring: Wiring, name: str) -> None:
        """Code and manifest agree: every handler is declared, every declaration handled
        (`ConfigError` naming the first that is not)."""
        for kind, code, declared in (
            ("endpoint", self._endpoints, wiring.endpoints),
            ("consumer", self._consumers, wiring.consumes),
        ):
            for missing in sorted(set(code) - set(declared)):
                known = ", ".join(declared) or "none"
                raise ConfigError(
                    f"DEPLOYKIT_WIRING: the code handles {kind} {missing!r}, which "
                    f"services.{name} in deploykit.yaml does not declare (declared: {known})"
                )
            for missing in sorted(set(declared) - set(code)):
                raise ConfigError(
                    f"DEPLOYKIT_WIRING: services.{name} declares {kind} {missing!r} and the "
                    "code has no handler for it"
                )

    async def serve(self, settings: Settings, stop: asyncio.Event) -> None:
        """Start, serve until `stop` is set, stop cleanly."""
        self._check_declared(settings)
        self._settings = settings
        if self._codec is None:
            self.codec = ContractCodec(settings.wiring)
        self._metrics = Metrics(settings)
        tasks: list[asyncio.Task[None]] = []
        runner: Any = None
        try:
            if settings.database_url:
                self._db = Database(settings.database_url, self._metrics)
                if self.schema:
                    await self._db.ensure_schema(self.schema)
            self._nc = await connection.connect(settings)
            for hook in self._on_start:
                await hook()
            consumers = await self._start_consumers()
            tasks = [
                asyncio.create_task(c.run(stop, self.batch), name=f"consumer {c.wiring.consumer}")
                for c in consumers
            ]
            fanouts = [c for c in consumers if isinstance(c, FanoutConsumer)]
            await self._warm_up(fanouts, tasks, stop)
            if stop.is_set():
                return
            if settings.wiring.role is Role.FRONTEND:
                runner = await self._serve_http(settings)
            else:
                await self._join_discovery(settings, consumers)
            self.ready.set()
            await self._until_stopped(stop, tasks)
            log.info(
                "stopping: %d request(s), %s in flight", self._in_flight.count, _busy(consumers)
            )
        finally:
            stop.set()
            await self._finish(tasks, runner)

    async def _start_consumers(self) -> list[QueueConsumer | FanoutConsumer]:
        started: list[QueueConsumer | FanoutConsumer] = []
        for name, handler in self._consumers.items():
            wiring = self.settings.wiring.consumes[name]
            source = self.nc.jetstream(prefix=wiring.api) if wiring.api else self.js
            args = (wiring, handler, self.js, self.metrics, self.codec, self._check_emit, source)
            if wiring.mode is ConsumeMode.QUEUE:
                queue = QueueConsumer(*args)
                await queue.bind()
                started.append(queue)
            else:
                fanout = FanoutConsumer(*args)
                await fanout.create()
                started.append(fanout)
        return started

    async def _warm_up(
        self, fanouts: list[FanoutConsumer], tasks: list[asyncio.Task[None]], stop: asyncio.Event
    ) -> None:
        """Wait until every fanout consumer has replayed its history; a consumer task that ends
        first (Fatal) ends the wait with its error."""
        waits = [asyncio.create_task(f.warmed.wait()) for f in fanouts]
        stopping = asyncio.create_task(stop.wait())
        try:
            pending = set(waits)
            while pending and not stop.is_set():
                done, _ = await asyncio.wait(
                    {*pending, *tasks, stopping}, return_when=asyncio.FIRST_COMPLETED
                )
                for task in done & set(tasks):
                    task.result()  # raises the consumer's error
                    raise Fatal(f"{task.get_name()} ended during warm-up")
                pending -= done
        finally:
            for task in (*waits, stopping):
                task.cancel()

    async def _join_discovery(
        self, settings: Settings, consumers: list[QueueConsumer | FanoutConsumer]
    ) -> None:
        endpoints = [
            (name, settings.wiring.endpoints[name], self._wrapped(name, handler))
            for name, handler in self._endpoints.items()
        ]
        self.metadata.setdefault("role", settings.wiring.role.value)
        instances = [c.name for c in consumers if isinstance(c, FanoutConsumer)]
        if instances:  # which instance answered: its own consumers
            self.metadata["consumer"] = ",".join(instances)
        self._micro = await register(
            self.nc, settings.service, self.version, self.description, self.metadata, endpoints
        )

    def _wrapped(self, name: str, handler: RequestHandler) -> Any:
        subject = self.settings.wiring.endpoints[name]
        return wrap(subject, handler, self.codec, self.metrics, self._in_flight)

    async def _serve_http(self, settings: Settings) -> Any:
        from aiohttp import web

        runner = web.AppRunner(self.http)
        await runner.setup()
        port = settings.require_port()
        try:
            await web.TCPSite(runner, settings.host, port).start()
        except OSError as exc:
            await runner.cleanup()
            raise Fatal(f"cannot listen on {settings.host}:{port}: {exc.strerror}") from None
        log.info("listening on %s:%d", settings.host, port)
        return runner

    async def _healthz(self, request: Any) -> Any:
        from aiohttp import web

        ok = self.ready.is_set() and self._nc is not None and self._nc.is_connected
        return web.json_response({"nats": ok}, status=200 if ok else 503)

    async def _until_stopped(self, stop: asyncio.Event, tasks: list[asyncio.Task[None]]) -> None:
        """Until `stop`; a consumer loop that fails (Fatal) stops the instance with its error."""
        stopping = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait({stopping, *tasks}, return_when=asyncio.FIRST_COMPLETED)
            for task in done - {stopping}:
                task.result()
        finally:
            stopping.cancel()

    async def _finish(self, tasks: list[asyncio.Task[None]], runner: Any) -> None:
        """Consumers finish the message in hand; endpoints stop taking requests and finish those
        received (bounded); then HTTP closes and the connection drains (discovery with it)."""
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_GRACE)
            for task in tasks:
                if not task.done():
                    task.cancel()
        if self._micro is not None:
            await _stop_answering(self._micro)
        if runner is not None:
            await runner.cleanup()
        if self._nc is not None:
            await connection.close(self._nc)
        if self._db is not None:
            await self._db.close()
        if self._metrics is not None:
            self._metrics.shutdown()
        self.ready.clear()


async def _stop_answering(micro: MicroService) -> None:
    """No new requests; those received finish: each endpoint's subscription is drained
    (unsubscribed at the server, its queue worked off). nats-py's `Service.stop()` unsubscribes
    instead, which cancels handlers in flight, so it is not called: the discovery
    subscriptions go with the connection's drain."""
    for endpoint in micro._endpoints:  # nats-py keeps the endpoints' subscriptions private
        sub = endpoint._subscription
        if sub is not None:
            with contextlib.suppress(nats.errors.Error, TimeoutError):
                await asyncio.wait_for(sub.drain(), STOP_GRACE)


def _busy(consumers: list[QueueConsumer | FanoutConsumer]) -> str:
    return f"{sum(c.in_flight for c in consumers)} message(s)"
