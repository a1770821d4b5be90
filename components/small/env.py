"""The environment a service gets on the small tier (Railway and Vercel alike).

It follows `deploykit.manifest.naming.service_env` (DEPLOYKIT_SERVICE, NATS_URL, NATS_INBOX_PREFIX,
DATABASE_URL, PORT) with one difference Synadia Cloud imposes: a service authenticates with a
creds file (JWT + NKey seed), not a user and password, so it gets NATS_CREDS, the file's
contents, instead of NATS_USER/NATS_PASSWORD. With metrics, it also gets the standard
OpenTelemetry exporter variables (opentelemetry.io/docs/specs/otel/protocol/exporter).
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

from components.small.grafana import Telemetry
from components.small.synadia import NatsConnection
from deploykit.manifest import naming
from deploykit.manifest.model import Service

__all__ = ["service_env"]


def service_env(
    system: str,
    name: str,
    service: Service,
    nats: NatsConnection,
    database_urls: Mapping[str, pulumi.Output[str]],
    telemetry: Telemetry | None,
    *,
    with_port: bool,
    wiring: str | None = None,
) -> dict[str, pulumi.Input[str]]:
    """Name → value; values that are credentials are secret Outputs. `wiring` is what the
    runtime reads as DEPLOYKIT_WIRING (`deploykit.runtime.wiring.wiring_for`, as JSON)."""
    env: dict[str, pulumi.Input[str]] = dict(service.run.env)
    env |= {
        "DEPLOYKIT_SERVICE": name,
        "NATS_URL": ",".join(nats.urls),
        "NATS_CREDS": nats.creds[name],
        "NATS_INBOX_PREFIX": naming.inbox_prefix(name),
    }
    if wiring:
        env["DEPLOYKIT_WIRING"] = wiring
    if service.database:
        env["DATABASE_URL"] = database_urls[service.database]
    if with_port and service.run.port:
        env["PORT"] = str(service.run.port)
    if telemetry is not None:
        env |= {
            "OTEL_EXPORTER_OTLP_ENDPOINT": telemetry.endpoint,
            "OTEL_EXPORTER_OTLP_HEADERS": telemetry.headers,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_SERVICE_NAME": name,
            "OTEL_RESOURCE_ATTRIBUTES": f"service.namespace={system}",
        }
    return env
