"""OpenTelemetry metrics of one instance, named as `metricnames.py` lists them, exported as
Prometheus text on an HTTP endpoint (local, metal: scraped) or over OTLP (small tier: pushed
to Grafana Cloud, configured by the standard OTEL_EXPORTER_OTLP_* variables).

Attributes follow the messaging semantic conventions: `messaging.system` (nats),
`messaging.destination.name` (the subject), `messaging.consumer.group.name` (the consumer or
the queue group), `messaging.operation.name`/`.type` on publishes and requests, and
`error.type` on failures only (the dashboards count failures as durations with an
`error.type`). Handled messages carry only what the dashboards group by: the SDK hashes every
attribute on every record. Attribute dicts are built once per subject and reused.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import cache
from typing import Any

from opentelemetry.sdk.metrics import Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource

from deploykit.runtime import metricnames as names
from deploykit.runtime.errors import Fatal
from deploykit.runtime.settings import Exporter, Settings

__all__ = ["DURATION_BUCKETS", "Metrics"]

log = logging.getLogger("deploykit.runtime")

# The semantic conventions' advice for messaging and database durations, in seconds.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
Attrs = Mapping[str, str]


@cache
def _dest(subject: str, operation: str, kind: str, group: str = "") -> Attrs:
    attrs: dict[str, str] = {
        "messaging.system": "nats",
        "messaging.destination.name": subject,
        "messaging.operation.name": operation,
        "messaging.operation.type": kind,
    }
    if group:
        attrs["messaging.consumer.group.name"] = group
    return attrs


@cache
def _frozen(items: tuple[tuple[str, str], ...]) -> Attrs:
    return dict(items)


@cache
def _process(subject: str, group: str, error: str | None = None) -> Attrs:
    attrs = {
        "messaging.consumer.group.name": group,
        "messaging.destination.name": subject,
        "messaging.system": "nats",
    }
    return {**attrs, "error.type": error} if error else attrs


@cache
def _failed(subject: str, operation: str, kind: str, group: str, error: str) -> Attrs:
    return {**_dest(subject, operation, kind, group), "error.type": error}


class Metrics:
    """The instruments, and the reader/exporter chosen by the settings."""

    def __init__(self, settings: Settings) -> None:
        self._server: Any = None
        self._pending: dict[tuple[str, str], int] = {}
        self._pending_redelivered: dict[tuple[str, str], int] = {}
        self._durations: list[tuple[str, str, float, str | None]] = []
        resource = Resource.create({"service.name": settings.service})
        readers = self._readers(settings)
        view = View(
            instrument_type=Histogram,
            aggregation=ExplicitBucketHistogramAggregation(DURATION_BUCKETS),
        )
        self.provider = MeterProvider(
            resource=resource, metric_readers=readers, views=[view] if readers else []
        )
        meter = self.provider.get_meter("deploykit.runtime")

        def counter(m: names.Metric) -> Any:
            return meter.create_counter(m.otel, unit=m.unit, description=m.description)

        def histogram(m: names.Metric) -> Any:
            return meter.create_histogram(m.otel, unit=m.unit, description=m.description)

        self._sent = counter(names.SENT)
        self._consumed = counter(names.CONSUMED)
        self._operation = histogram(names.OPERATION_DURATION)
        self._process = histogram(names.PROCESS_DURATION)
        self._redelivered = counter(names.REDELIVERIES)
        self._lag = meter.create_gauge(
            names.CONSUMER_LAG.otel,
            unit=names.CONSUMER_LAG.unit,
            description=names.CONSUMER_LAG.description,
        )
        self._db = histogram(names.DB_DURATION)
        self._connections = meter.create_up_down_counter(
            names.DB_CONNECTIONS.otel,
            unit=names.DB_CONNECTIONS.unit,
            description=names.DB_CONNECTIONS.description,
        )
        self._http = histogram(names.HTTP_DURATION)

    def _readers(self, settings: Settings) -> list[MetricReader]:
        if settings.exporter is Exporter.NONE:
            return []
        if settings.exporter is Exporter.OTLP:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

            return [PeriodicExportingMetricReader(OTLPMetricExporter())]
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from prometheus_client import CollectorRegistry, start_http_server

        registry = CollectorRegistry(auto_describe=True)
        reader = PrometheusMetricReader(registry=registry)
        host, port = settings.metrics_addr
        try:
            self._server, _ = start_http_server(port, host, registry=registry)
        except OSError as exc:
            if settings.metrics_addr_given:
                raise Fatal(f"DEPLOYKIT_METRICS_ADDR={host}:{port}: {exc.strerror}") from None
            log.warning("metrics not served on %s:%d: %s", host, port, exc.strerror)
        else:
            log.info("metrics on http://%s:%d/metrics", host, self._server.server_port)
        return [reader]

    @property
    def port(self) -> int | None:
        """The Prometheus endpoint's port, when one is served."""
        return self._server.server_port if self._server else None

    # -- what the runtime records ---------------------------------------------------------------

    def published(self, subject: str, seconds: float, error: str | None = None) -> None:
        attrs = _dest(subject, "publish", "send")
        if error is None:
            self._sent.add(1, attrs)
            self._operation.record(seconds, attrs)
        else:
            self._operation.record(seconds, _failed(subject, "publish", "send", "", error))

    def requested(self, subject: str, seconds: float, error: str | None = None) -> None:
        attrs = _dest(subject, "request", "send")
        if error is None:
            self._sent.add(1, attrs)
        failed = error and _failed(subject, "request", "send", "", error)
        self._operation.record(seconds, failed or attrs)

    def processed(
        self,
        subject: str,
        group: str,
        seconds: float,
        error: str | None = None,
        redelivered: bool = False,
    ) -> None:
        """One message handled, noted here and handed to OpenTelemetry by `flush` (a consumer
        calls it once per fetched batch, an endpoint once per request): the counters are added
        up per batch, and the durations recorded together, with the attributes a dashboard
        groups by (subject, consumer group, error type). An OpenTelemetry record costs several
        microseconds, most of it per attribute."""
        key = (subject, group)
        self._pending[key] = self._pending.get(key, 0) + 1
        if redelivered:
            self._pending_redelivered[key] = self._pending_redelivered.get(key, 0) + 1
        self._durations.append((subject, group, seconds, error))

    def flush(self) -> None:
        for (subject, group), n in self._pending.items():
            self._consumed.add(n, _process(subject, group))
        for (subject, group), n in self._pending_redelivered.items():
            self._redelivered.add(n, _process(subject, group))
        record = self._process.record
        for subject, group, seconds, error in self._durations:
            record(seconds, _process(subject, group, error))
        self._pending.clear()
        self._pending_redelivered.clear()
        self._durations.clear()

    def lag(self, stream: str, consumer: str, pending: int) -> None:
        attrs = _frozen(
            (
                ("messaging.consumer.group.name", consumer),
                ("messaging.destination.name", stream),
                ("messaging.system", "nats"),
            )
        )
        self._lag.set(pending, attrs)

    def database(self, operation: str, seconds: float, error: str | None = None) -> None:
        attrs = _frozen((("db.operation.name", operation), ("db.system.name", "postgresql")))
        if error is not None:
            attrs = _frozen((*sorted(attrs.items()), ("error.type", error)))
        self._db.record(seconds, attrs)

    def connections(self, state: str, delta: int) -> None:
        """A connection entered (+1) or left (-1) a state: "idle" or "used"."""
        attrs = _frozen((("db.client.connection.state", state), ("db.system.name", "postgresql")))
        self._connections.add(delta, attrs)

    def http(self, method: str, route: str, status: int, seconds: float) -> None:
        attrs = _frozen(
            (
                ("http.request.method", method),
                ("http.response.status_code", str(status)),
                ("http.route", route),
            )
        )
        self._http.record(seconds, attrs)

    def shutdown(self) -> None:
        self.flush()
        self.provider.shutdown()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
