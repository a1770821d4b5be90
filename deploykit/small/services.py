"""Where each service of the manifest runs on the small tier, and the environment it gets.

rpc and worker services run on Railway from their container image; frontends are Vercel
projects. The environment follows `deploykit.manifest.naming.service_env` (DEPLOYKIT_SERVICE,
NATS_URL, NATS_INBOX_PREFIX, DATABASE_URL, PORT) with one difference Synadia Cloud imposes: a
service authenticates with a creds file (JWT + NKey seed), not a user and password, so it gets
NATS_CREDS, the file's contents. With metrics it also gets the standard OpenTelemetry exporter
variables (opentelemetry.io/docs/specs/otel/protocol/exporter).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

from deploykit.errors import ConfigError
from deploykit.manifest import naming
from deploykit.manifest.model import Manifest, Role, Service
from deploykit.stack.config import VercelSettings

__all__ = ["deployed_services", "frontend_services", "service_env"]

V = TypeVar("V")  # a value: a string here, a Pulumi Output in the components


def deployed_services(manifest: Manifest) -> list[str]:
    """The rpc and worker services, each of which must name its container image."""
    names = [n for n, s in manifest.services.items() if s.role in (Role.RPC, Role.WORKER)]
    missing = [n for n in names if not manifest.services[n].run.image]
    if missing:
        raise ConfigError(
            "\n".join(
                f"services.{n}.run.image: the small tier runs services on Railway from a "
                "container image; set one"
                for n in missing
            )
        )
    return names


def frontend_services(manifest: Manifest, settings: VercelSettings) -> list[str]:
    """The frontend services Vercel gets (none when `vercel.enabled` is false); settings for a
    service that is no frontend are a mistake."""
    names = [n for n, s in manifest.services.items() if s.role is Role.FRONTEND]
    unknown = sorted(set(settings.frontends) - set(names))
    if unknown:
        raise ConfigError(
            f"deploykit:small.vercel.frontends names {', '.join(unknown)}, which "
            f"{'is' if len(unknown) == 1 else 'are'} no frontend service of the manifest "
            f"(frontends: {', '.join(names) or 'none'})"
        )
    return names if settings.enabled else []


def service_env(
    system: str,
    name: str,
    service: Service,
    nats_urls: Sequence[str],
    creds: V | str,
    database_urls: Mapping[str, V | str],
    telemetry: tuple[V | str, V | str] | None,
    *,
    with_port: bool,
    wiring: str | None = None,
) -> dict[str, V | str]:
    """Name → value; credentials stay whatever (secret) value the caller passed. `wiring` is
    what the runtime reads as DEPLOYKIT_WIRING (`deploykit.runtime.wiring.wiring_for`, JSON)."""
    env: dict[str, V | str] = dict(service.run.env)
    env |= {
        "DEPLOYKIT_SERVICE": name,
        "NATS_URL": ",".join(nats_urls),
        "NATS_CREDS": creds,
        "NATS_INBOX_PREFIX": naming.inbox_prefix(name),
    }
    if service.database:
        env["DATABASE_URL"] = database_urls[service.database]
    if wiring:
        env["DEPLOYKIT_WIRING"] = wiring
    if with_port and service.run.port:
        env["PORT"] = str(service.run.port)
    if telemetry is not None:
        endpoint, headers = telemetry
        env |= {
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_EXPORTER_OTLP_HEADERS": headers,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_SERVICE_NAME": name,
            "OTEL_RESOURCE_ATTRIBUTES": f"service.namespace={system}",
        }
    return env
