"""Grafana dashboards and alert rules for the small tier, as pure functions of the manifest.

The metrics are what the services push over OTLP with the OpenTelemetry semantic conventions
(messaging: `messaging.client.sent.messages`, `messaging.client.consumed.messages`,
`messaging.process.duration`, `messaging.client.operation.duration`; database:
`db.client.operation.duration`, `db.client.connection.count`; HTTP: `http.server.request.duration`).
Grafana Cloud stores them with dots turned into underscores, `_total` on counters and the unit on
histograms, and sets `job` to `<service.namespace>/<service.name>`, which the small tier makes
`<system>/<service>` (grafana.com/docs/grafana-cloud/send-data/otlp/otlp-format-considerations,
grafana.com/docs/opentelemetry/instrumentation/configuration/resource-attributes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deploykit.manifest.model import Manifest, Role

__all__ = [
    "Rule",
    "alert_rules",
    "nats_dashboard",
    "postgres_dashboard",
    "services_dashboard",
]

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


@dataclass(frozen=True)
class Rule:
    """A Grafana-managed alert: fire when `expr` (instant query) is `op` than `threshold`."""

    name: str
    expr: str
    op: str
    threshold: float
    for_: str
    summary: str


def _jobs(manifest: Manifest, services: list[str] | None = None) -> str:
    names = sorted(manifest.services) if services is None else services
    return f'job=~"{manifest.system}/({"|".join(names) or "none"})"'


def _panel(number: int, title: str, expr: str, legend: str, unit: str) -> dict[str, Any]:
    return {
        "id": number,
        "type": "timeseries",
        "title": title,
        "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": 12, "x": (number - 1) % 2 * 12, "y": (number - 1) // 2 * 8},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": "A", "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}],
    }


def _dashboard(manifest: Manifest, key: str, title: str, panels: list[tuple]) -> dict[str, Any]:
    return {
        "uid": f"{manifest.system}-{key}",
        "title": f"{manifest.system}: {title}",
        "tags": ["deploykit", manifest.system],
        "schemaVersion": 39,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "1m",
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "type": "datasource",
                    "query": "prometheus",
                    "label": "Metrics",
                }
            ]
        },
        "panels": [_panel(n, *spec) for n, spec in enumerate(panels, start=1)],
    }


def nats_dashboard(manifest: Manifest) -> dict[str, Any]:
    """Messages sent and consumed, per subject and consumer; request and processing latency."""
    jobs = _jobs(manifest)
    return _dashboard(
        manifest,
        "nats",
        "NATS and JetStream",
        [
            ("Messages sent /s by subject", f"sum by (messaging_destination_name) (rate(messaging_client_sent_messages_total{{{jobs}}}[5m]))", "{{messaging_destination_name}}", "ops"),
            ("Messages consumed /s by consumer", f"sum by (messaging_consumer_group_name) (rate(messaging_client_consumed_messages_total{{{jobs}}}[5m]))", "{{messaging_consumer_group_name}}", "ops"),
            ("Request and publish latency p95", f"histogram_quantile(0.95, sum by (le, job) (rate(messaging_client_operation_duration_seconds_bucket{{{jobs}}}[5m])))", "{{job}}", "s"),
            ("Event processing latency p95", f"histogram_quantile(0.95, sum by (le, job) (rate(messaging_process_duration_seconds_bucket{{{jobs}}}[5m])))", "{{job}}", "s"),
            ("Processing failures /s", f'sum by (job, error_type) (rate(messaging_process_duration_seconds_count{{{jobs}, error_type!=""}}[5m]))', "{{job}} {{error_type}}", "ops"),
        ],
    )  # fmt: skip


def postgres_dashboard(manifest: Manifest) -> dict[str, Any]:
    """Query rate, latency and errors of the services that own a database; pool usage."""
    users = sorted(name for name, service in manifest.services.items() if service.database)
    jobs = _jobs(manifest, users)
    return _dashboard(
        manifest,
        "postgres",
        "PostgreSQL",
        [
            ("Queries /s by service", f"sum by (job) (rate(db_client_operation_duration_seconds_count{{{jobs}}}[5m]))", "{{job}}", "ops"),
            ("Query latency p95", f"histogram_quantile(0.95, sum by (le, job) (rate(db_client_operation_duration_seconds_bucket{{{jobs}}}[5m])))", "{{job}}", "s"),
            ("Query errors /s", f'sum by (job, error_type) (rate(db_client_operation_duration_seconds_count{{{jobs}, error_type!=""}}[5m]))', "{{job}} {{error_type}}", "ops"),
            ("Connections by state", f"sum by (job, db_client_connection_state) (db_client_connection_count{{{jobs}}})", "{{job}} {{db_client_connection_state}}", "short"),
        ],
    )  # fmt: skip


def services_dashboard(manifest: Manifest) -> dict[str, Any]:
    """Instances reporting per service; HTTP rate, latency and 5xx of the frontends."""
    frontends = sorted(n for n, s in manifest.services.items() if s.role is Role.FRONTEND)
    web = _jobs(manifest, frontends)
    return _dashboard(
        manifest,
        "services",
        "Services",
        [
            ("Instances reporting", f"count by (job) (target_info{{{_jobs(manifest)}}})", "{{job}}", "short"),
            ("HTTP requests /s", f"sum by (job) (rate(http_server_request_duration_seconds_count{{{web}}}[5m]))", "{{job}}", "reqps"),
            ("HTTP latency p95", f"histogram_quantile(0.95, sum by (le, job) (rate(http_server_request_duration_seconds_bucket{{{web}}}[5m])))", "{{job}}", "s"),
            ("HTTP 5xx /s", f'sum by (job) (rate(http_server_request_duration_seconds_count{{{web}, http_response_status_code=~"5.."}}[5m]))', "{{job}}", "reqps"),
        ],
    )  # fmt: skip


def alert_rules(manifest: Manifest) -> list[Rule]:
    """A service down, events failing to process, a slow database."""
    owners = sorted(name for name, service in manifest.services.items() if service.database)
    return [
        Rule(
            "services reporting",
            f"count(count by (job) (target_info{{{_jobs(manifest)}}}))",
            "lt",
            len(manifest.services),
            "5m",
            f"fewer than the {len(manifest.services)} services of {manifest.system} report metrics",
        ),
        Rule(
            "event processing failures",
            f'sum(rate(messaging_process_duration_seconds_count{{{_jobs(manifest)}, error_type!=""}}[5m]))',
            "gt",
            0.1,
            "10m",
            "events keep failing to process; their consumers redeliver them",
        ),
        Rule(
            "slow database",
            f"histogram_quantile(0.95, sum by (le) (rate(db_client_operation_duration_seconds_bucket{{{_jobs(manifest, owners)}}}[5m])))",
            "gt",
            1.0,
            "10m",
            "95% of queries take longer than a second",
        ),
    ]
