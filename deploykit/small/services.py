"""Where each service of the manifest runs on the small tier, and the environment it gets.

rpc and worker services run on Railway from their container image; frontends are Vercel
projects with a deployment of their files, unless `railway.frontends` places them on Railway. The environment follows `deploykit.manifest.naming.service_env` (DEPLOYKIT_SERVICE,
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
from deploykit.stack.config import SmallConfig

__all__ = [
    "archiver_image",
    "deployed_services",
    "frontend_services",
    "railway_frontends",
    "service_env",
]

V = TypeVar("V")  # a value: a string here, a Pulumi Output in the components


def deployed_services(manifest: Manifest, frontends: Sequence[str] = ()) -> list[str]:
    """The rpc and worker services, and the `frontends` placed on Railway, each of which must
    name its container image."""
    names = [
        n
        for n, s in manifest.services.items()
        if s.role in (Role.RPC, Role.WORKER) or n in frontends
    ]
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


def archiver_image(manifest: Manifest, settings: SmallConfig) -> str:
    """The image the SQL copy's archivers run on Railway (`backup.sql`): the backup job's image,
    else the first deployed service's (the team's images have deploykit)."""
    images = [manifest.services[n].run.image or "" for n in deployed_services(manifest)]
    image = settings.backup.image or next(iter(images), "")
    if not image:
        raise ConfigError(
            "deploykit:small.backup.image: backup.sql runs an archiver on Railway from an image "
            "with deploykit installed, and no rpc or worker service names one; set it"
        )
    return image


def railway_frontends(manifest: Manifest, settings: SmallConfig) -> list[str]:
    """The frontend services that Railway runs as long-running processes instead of Vercel."""
    frontends = [n for n, s in manifest.services.items() if s.role is Role.FRONTEND]
    wrong = [n for n in settings.railway.frontends if n not in frontends]
    if wrong:
        raise ConfigError(
            f"deploykit:small.railway.frontends names {', '.join(wrong)}, which "
            f"{'is' if len(wrong) == 1 else 'are'} no frontend service of the manifest "
            f"(frontends: {', '.join(frontends) or 'none'})"
        )
    both = sorted(set(settings.railway.frontends) & set(settings.vercel.frontends))
    if both:
        raise ConfigError(
            f"{', '.join(both)}: listed in deploykit:small.railway.frontends and configured "
            "under deploykit:small.vercel.frontends; a frontend runs on one of them"
        )
    return list(settings.railway.frontends)


def frontend_services(manifest: Manifest, settings: SmallConfig) -> list[str]:
    """The frontend services Vercel deploys (none when `vercel.enabled` is false): every one not
    on Railway, each with its files."""
    on_railway = railway_frontends(manifest, settings)
    names = [
        n for n, s in manifest.services.items() if s.role is Role.FRONTEND and n not in on_railway
    ]
    vercel = settings.vercel
    unknown = sorted(set(vercel.frontends) - set(names))
    if unknown:
        raise ConfigError(
            f"deploykit:small.vercel.frontends names {', '.join(unknown)}, which "
            f"{'is' if len(unknown) == 1 else 'are'} no frontend service of the manifest "
            f"(frontends: {', '.join(names) or 'none'})"
        )
    if not vercel.enabled:
        return []
    missing = [n for n in names if n not in vercel.frontends]
    if missing:
        raise ConfigError(
            "\n".join(
                f"deploykit:small.vercel.frontends.{n}.source: the directory whose files Vercel "
                f"deploys for frontend {n}; set it, or run {n} on Railway by listing it in "
                "deploykit:small.railway.frontends"
                for n in missing
            )
        )
    return names


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
    what the runtime reads as DEPLOYKIT_WIRING (`deploykit.manifest.wiring.wiring_for`, JSON)."""
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
