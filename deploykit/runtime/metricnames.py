"""The metrics the runtime emits, by OpenTelemetry name and by the name Prometheus shows.

The messaging, database and HTTP names follow the OpenTelemetry semantic conventions (messaging
metrics, `db.client.operation.duration`, `db.client.connection.count`,
`http.server.request.duration`); what the conventions do not cover (redeliveries,
consumer lag) is named under `deploykit.`. Dashboards and alert rules import these constants, so
a query can only name a metric that a service really emits. Prometheus names follow the
OpenTelemetry-to-Prometheus rules: dots become underscores, the unit is appended, counters end
in `_total`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["METRICS", "Metric", "prometheus_name"]


@dataclass(frozen=True)
class Metric:
    otel: str
    kind: Literal["counter", "histogram", "gauge"]
    unit: str  # UCUM, as OpenTelemetry writes it: "s", "{message}"
    description: str

    @property
    def prometheus(self) -> str:
        return prometheus_name(self)


_UNIT_SUFFIX = {"s": "seconds", "By": "bytes"}


def prometheus_name(metric: Metric) -> str:
    """`messaging.process.duration` (s, histogram) → `messaging_process_duration_seconds`."""
    name = metric.otel.replace(".", "_")
    suffix = _UNIT_SUFFIX.get(metric.unit)
    if suffix and not name.endswith(suffix):
        name = f"{name}_{suffix}"
    if metric.kind == "counter":
        name = f"{name}_total"
    return name


SENT = Metric(
    "messaging.client.sent.messages", "counter", "{message}", "Messages a service published"
)
CONSUMED = Metric(
    "messaging.client.consumed.messages",
    "counter",
    "{message}",
    "Messages a service received (events, requests)",
)
OPERATION_DURATION = Metric(
    "messaging.client.operation.duration",
    "histogram",
    "s",
    "Time of a publish (with its ack) or a request (with its reply)",
)
PROCESS_DURATION = Metric(
    "messaging.process.duration", "histogram", "s", "Time a handler took for one message"
)
REDELIVERIES = Metric(
    "deploykit.consumer.redeliveries",
    "counter",
    "{message}",
    "Messages received again after a handler failed or timed out",
)
CONSUMER_LAG = Metric(
    "deploykit.consumer.lag", "gauge", "{message}", "Messages pending for a consumer"
)
DB_DURATION = Metric(
    "db.client.operation.duration", "histogram", "s", "Time of one database operation"
)
DB_CONNECTIONS = Metric(
    "db.client.connection.count",
    "gauge",  # an UpDownCounter: Prometheus shows it as a gauge
    "{connection}",
    "Database connections by state (idle, used)",
)
HTTP_DURATION = Metric(
    "http.server.request.duration", "histogram", "s", "Time a frontend took to answer a request"
)

METRICS: tuple[Metric, ...] = (
    SENT,
    CONSUMED,
    OPERATION_DURATION,
    PROCESS_DURATION,
    REDELIVERIES,
    CONSUMER_LAG,
    DB_DURATION,
    DB_CONNECTIONS,
    HTTP_DURATION,
)
