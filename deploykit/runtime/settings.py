"""The environment the kit gives every service instance, on every target, read once at start.

Local and metal set NATS_USER/NATS_PASSWORD, the small tier NATS_CREDS (a .creds document, or
NATS_CREDS_FILE, a path to one); every target sets DEPLOYKIT_SERVICE, NATS_URL,
NATS_INBOX_PREFIX and DEPLOYKIT_WIRING (what deploykit.yaml says about this service, see
`wiring.py`), and DATABASE_URL for a service that names a database. A frontend listens on PORT
at HOST, loopback unless told (a container or a host's private address says so). A missing or
malformed variable is one `ConfigError` that names it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from pydantic import ValidationError

from deploykit.manifest.wiring import Wiring

__all__ = ["DEFAULT_METRICS_ADDR", "ON_USE", "ConfigError", "Exporter", "Settings"]

SUBJECT = re.compile(r"^[^\s.*>]+(\.[^\s.*>]+)*$")
DEFAULT_METRICS_ADDR = ("127.0.0.1", 9464)  # OpenTelemetry's Prometheus exporter port

# What the runtime imports only when a service's settings (or a refused payload) call for it.
# A launcher imports them ahead; whatever lists a service's imports (the metal tier's code
# bundle) must add them, since importing the service alone does not.
DATABASE_MODULE = "psycopg"
PROMETHEUS_MODULES = ("opentelemetry.exporter.prometheus", "prometheus_client")
OTLP_MODULE = "opentelemetry.exporter.otlp.proto.http.metric_exporter"
ON_USE = (DATABASE_MODULE, *PROMETHEUS_MODULES, OTLP_MODULE, "jsonschema")


class ConfigError(Exception):
    """A missing or malformed environment variable; the message names it."""


class Exporter(StrEnum):
    """Where metrics go: scraped as Prometheus text (local, metal), pushed over OTLP (small)."""

    PROMETHEUS = "prometheus"
    OTLP = "otlp"
    NONE = "none"


@dataclass(frozen=True)
class Settings:
    service: str
    nats_urls: list[str]
    inbox_prefix: str
    wiring: Wiring
    nats_user: str | None = None
    nats_password: str | None = field(default=None, repr=False)
    nats_creds: str | None = field(default=None, repr=False)  # the document itself
    nats_creds_file: str | None = None
    tls_ca_file: str | None = None
    database_url: str | None = field(default=None, repr=False)
    port: int | None = None
    host: str = "127.0.0.1"
    exporter: Exporter = Exporter.PROMETHEUS
    metrics_addr: tuple[str, int] = DEFAULT_METRICS_ADDR
    metrics_addr_given: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        def get(name: str) -> str | None:
            return env.get(name, "").strip() or None

        def need(name: str) -> str:
            value = get(name)
            if value is None:
                raise ConfigError(f"{name} is required")
            return value

        service = need("DEPLOYKIT_SERVICE")
        if not re.fullmatch(r"[A-Za-z0-9_-]+", service):
            raise ConfigError(f"DEPLOYKIT_SERVICE={service!r}: use letters, digits, - and _")
        urls = [u.strip() for u in need("NATS_URL").split(",") if u.strip()]
        if not urls:
            raise ConfigError("NATS_URL lists no server")
        user, password = get("NATS_USER"), get("NATS_PASSWORD")
        if bool(user) != bool(password):
            raise ConfigError("NATS_USER and NATS_PASSWORD must be set together")
        creds, creds_file = get("NATS_CREDS"), get("NATS_CREDS_FILE")
        if creds and creds_file:
            raise ConfigError("set NATS_CREDS (a .creds document) or NATS_CREDS_FILE, not both")
        if (creds or creds_file) and user:
            raise ConfigError("set NATS_CREDS or NATS_USER/NATS_PASSWORD, not both")
        inbox = need("NATS_INBOX_PREFIX")
        if not SUBJECT.match(inbox):
            raise ConfigError(f"NATS_INBOX_PREFIX={inbox!r} is not a subject without wildcards")
        try:
            wiring = Wiring.model_validate_json(need("DEPLOYKIT_WIRING"))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(document)"
            raise ConfigError(f"DEPLOYKIT_WIRING: {where}: {first['msg']}") from None
        port = get("PORT")
        metrics_addr = get("DEPLOYKIT_METRICS_ADDR")
        return cls(
            service=service,
            nats_urls=urls,
            inbox_prefix=inbox,
            wiring=wiring,
            nats_user=user,
            nats_password=password,
            nats_creds=creds,
            nats_creds_file=creds_file,
            tls_ca_file=get("NATS_CA_FILE"),
            database_url=get("DATABASE_URL"),
            port=_port("PORT", port) if port else None,
            host=_host(get("HOST") or "127.0.0.1"),
            exporter=_exporter(env),
            metrics_addr=_addr(metrics_addr) if metrics_addr else DEFAULT_METRICS_ADDR,
            metrics_addr_given=metrics_addr is not None,
        )

    def imports(self) -> list[str]:
        """The modules the runtime imports at start for these settings, beyond its own (a
        database, the metrics exporter): a launcher that starts a service ahead of its turn
        imports them while it waits."""
        needed = [DATABASE_MODULE] if self.database_url else []
        if self.exporter is Exporter.PROMETHEUS:
            needed += list(PROMETHEUS_MODULES)
        elif self.exporter is Exporter.OTLP:
            needed.append(OTLP_MODULE)
        return needed

    def require_database(self) -> str:
        if self.database_url is None:
            raise ConfigError("DATABASE_URL is required")
        return self.database_url

    def require_port(self) -> int:
        if self.port is None:
            raise ConfigError("PORT is required")
        return self.port


def _port(name: str, value: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ConfigError(f"{name}={value!r} is not a TCP port (1-65535)")
    return int(value)


def _host(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ConfigError(
            f"HOST={value!r} is not an IP address (e.g. 127.0.0.1, 0.0.0.0, ::)"
        ) from None
    return value


def _addr(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host:
        raise ConfigError(f"DEPLOYKIT_METRICS_ADDR={value!r}: want HOST:PORT, e.g. 127.0.0.1:9464")
    return host.strip("[]"), _port("DEPLOYKIT_METRICS_ADDR", port)


def _exporter(env: Mapping[str, str]) -> Exporter:
    """DEPLOYKIT_METRICS when given; else OTLP where the standard OTLP endpoint is set."""
    value = env.get("DEPLOYKIT_METRICS", "").strip().lower()
    if not value:
        return Exporter.OTLP if env.get("OTEL_EXPORTER_OTLP_ENDPOINT") else Exporter.PROMETHEUS
    try:
        return Exporter(value)
    except ValueError:
        allowed = ", ".join(e.value for e in Exporter)
        raise ConfigError(f"DEPLOYKIT_METRICS={value!r}: one of {allowed}") from None
