"""The service runtime: what a team's own services are written on, so the laws the kit cannot
enforce from outside (warm-up, acknowledged and de-duplicated emits, idempotent redelivery,
drain) are what the easy code does.

    from deploykit.runtime import Event, Service

    service = Service("welcomes each new account, once")

    @service.consumer("welcome")
    async def welcome(event: Event) -> None:
        event.emit("accounts.events.welcomed", event.data, id=f"welcomed-{event.data['id']}")

    service.run()

Files:
service.py      effectful: `Service`, one instance from start to drain (the entry point)
process.py      effectful: one instance's process: logging, settings, SIGTERM as a stop, exit
                codes (a `Service`'s, or a frontend's that serves its own way, e.g. ASGI)
settings.py     pure: the environment the kit gives every service, one error per bad variable
connection.py   effectful: NATS connection (own user or creds, own inbox, TLS CA, backoff), also
                for a frontend without a `Service` (`connect`, `close`)
endpoints.py    effectful: RPC endpoints as a NATS Service (discovery, stats, queue group)
consumers.py    effectful: queue consumers (ack, redelivery, dead letter) and fanout consumers
                (warm-up gate); the idempotency keys of emits
emit.py         effectful: publish with a message id and an awaited ack, retried within a bound
payloads.py     pure: JSON codec judged by the manifest's contracts
typed.py        pure: handlers' `Event[Model]`/`Request[Model]` parsed; `ContractModel`
codegen.py      pure: the typed models of the contracts as a Python module
                (`deploykit contracts models`)
database.py     effectful: the service's own PostgreSQL, timed
metrics.py      effectful: OpenTelemetry instruments, Prometheus endpoint or OTLP export
wiring.py       pure: `deploykit.manifest.wiring` under its earlier name, for services' tests
metricnames.py  pure: the metrics every service emits (OpenTelemetry names and their Prometheus
                form); the dashboards and alert rules of both tiers query exactly these
errors.py       pure: the runtime's exceptions
"""

from deploykit.runtime.consumers import Event
from deploykit.runtime.endpoints import Request
from deploykit.runtime.errors import EmitFailed, Fatal, Reject, RemoteError
from deploykit.runtime.payloads import Codec, JsonCodec, PayloadError
from deploykit.runtime.service import Service
from deploykit.runtime.settings import ConfigError, Settings
from deploykit.runtime.typed import ContractModel

__all__ = [
    "Codec",
    "ConfigError",
    "ContractModel",
    "EmitFailed",
    "Event",
    "Fatal",
    "JsonCodec",
    "PayloadError",
    "Reject",
    "RemoteError",
    "Request",
    "Service",
    "Settings",
]
