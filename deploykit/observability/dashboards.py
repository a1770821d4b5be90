"""The dashboards and alert rules of both tiers, as pure functions of the manifest.

One description, two renderings. The small tier hands the dashboards to Grafana Cloud and the
rules to Grafana-managed alerting (`grafana_rule`); the metal tier provisions the same dashboards
as files and writes the same rules as a Prometheus rule file (`prometheus_rules`), and adds the
panels and rules of the servers it runs itself (`Servers`).

Every metric queried is one the service runtime emits (`deploykit.runtime.metricnames`) or one
an exporter documents (`exporters.py`). Labels are the OpenTelemetry attributes with dots as
underscores (`messaging.destination.name` → `messaging_destination_name`,
`messaging.consumer.group.name`, `error.type`). A service is told apart by `job` =
`<system>/<service>` on Grafana Cloud (OTLP `service.namespace`/`service.name`,
grafana.com/docs/grafana-cloud/send-data/otlp/otlp-format-considerations) and by `service` on
the metal tier (the apps scrape job copies the pod label `app.kubernetes.io/name`).

Dashboards are built with Grafana's own builders (`grafana-foundation-sdk`), so their JSON
follows Grafana's dashboard schema instead of a hand-written copy of it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml
from grafana_foundation_sdk.builders import dashboard as gdash
from grafana_foundation_sdk.builders import prometheus as gprom
from grafana_foundation_sdk.builders import timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef, GridPos

from deploykit.manifest.model import ConsumeMode, Manifest
from deploykit.runtime import metricnames as m

__all__ = [
    "AlertRule",
    "Board",
    "GrafanaRule",
    "Panel",
    "Servers",
    "Target",
    "alert_rules",
    "boards",
    "dashboard_json",
    "grafana_rule",
    "metal",
    "prometheus_rules",
    "small",
]

CONSUMER_LAG = 1000  # messages behind before a consumer is said to lag
DESTINATION = "messaging_destination_name"
CONSUMER = "messaging_consumer_group_name"
ERROR = "error_type"
FAILED = f', {ERROR}!=""'  # only the measurements of failed operations


@dataclass(frozen=True)
class Servers:
    """The servers the metal tier runs, for their panels and rules (exporters.py)."""

    nats_hosts: int
    engine: Literal["postgres", "yugabyte"]
    replica: bool


@dataclass(frozen=True)
class Target:
    """How one tier's metrics backend names things."""

    system: str
    service_label: str  # the label that names a service
    service_prefix: str  # what its value starts with
    reporting: str | None  # a series each reporting instance has (`{}`: the selector); None: none
    datasource: DataSourceRef
    datasource_variable: bool  # let the viewer pick the data source (Grafana Cloud)
    servers: Servers | None = None

    def select(self, services: Sequence[str]) -> str:
        names = "|".join(services) or "none"
        return f'{self.service_label}=~"{self.service_prefix}({names})"'


def small(manifest: Manifest) -> Target:
    """Grafana Cloud fed by OTLP: `job` is `<system>/<service>`, `target_info` per instance."""
    return Target(
        system=manifest.system,
        service_label="job",
        service_prefix=f"{manifest.system}/",
        reporting="target_info{{{}}}",
        datasource=DataSourceRef(type_val="prometheus", uid="${datasource}"),
        datasource_variable=True,
    )


def metal(manifest: Manifest, servers: Servers, *, pods: bool = True) -> Target:
    """Prometheus scraping the pods (`service` label, `up` per pod) and the exporters; without
    Kubernetes (`pods` false) no scrape target says whether a service runs."""
    return Target(
        system=manifest.system,
        service_label="service",
        service_prefix="",
        reporting='up{{job="apps", {}}} == 1' if pods else None,
        datasource=DataSourceRef(type_val="prometheus", uid="deploykit-prometheus"),
        datasource_variable=False,
        servers=servers,
    )


@dataclass(frozen=True)
class Panel:
    title: str
    queries: tuple[tuple[str, str], ...]  # (PromQL, legend)
    unit: str = "short"


@dataclass(frozen=True)
class Board:
    key: str  # uid suffix and file name
    title: str
    panels: tuple[Panel, ...]


@dataclass(frozen=True)
class AlertRule:
    """Fire when `query op threshold` holds for `for_`; both renderings read these fields."""

    group: str
    name: str
    query: str
    op: Literal[">", "<", ">=", "=="]
    threshold: float
    for_: str | None
    severity: Literal["critical", "warning"]
    summary: str
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def expr(self) -> str:
        return f"{self.query} {self.op} {_number(self.threshold)}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _rate(metric: str, selector: str, extra: str = "") -> str:
    return f"rate({metric}{{{selector}{extra}}}[5m])"


def _p95(metric: m.Metric, selector: str, by: str) -> str:
    inner = _rate(f"{metric.prometheus}_bucket", selector)
    return f"histogram_quantile(0.95, sum by (le, {by}) ({inner}))"


def _owners(manifest: Manifest) -> list[str]:
    return sorted(name for name, service in manifest.services.items() if service.database)


def _queue_consumers(manifest: Manifest) -> list[tuple[str, str, int]]:
    return [
        (name, consume.consumer, consume.max_ack_pending)
        for name, service in manifest.services.items()
        for consume in service.consumes
        if consume.mode is ConsumeMode.QUEUE
    ]


def boards(manifest: Manifest, target: Target) -> list[Board]:
    """Messaging, database and services; the metal tier adds its servers' panels."""
    every = target.select(sorted(manifest.services))
    owners = target.select(_owners(manifest))
    by = target.service_label
    legend = f"{{{{{by}}}}}"
    nats = [
        Panel("Messages sent /s by subject", ((f"sum by ({DESTINATION}) ({_rate(m.SENT.prometheus, every)})", f"{{{{{DESTINATION}}}}}"),), "ops"),
        Panel("Messages consumed /s by consumer", ((f"sum by ({CONSUMER}) ({_rate(m.CONSUMED.prometheus, every)})", f"{{{{{CONSUMER}}}}}"),), "ops"),
        Panel("Request and publish latency p95", ((_p95(m.OPERATION_DURATION, every, by), legend),), "s"),
        Panel("Event processing latency p95", ((_p95(m.PROCESS_DURATION, every, by), legend),), "s"),
        Panel("Processing failures /s", ((f"sum by ({by}, {ERROR}) ({_rate(m.PROCESS_DURATION.prometheus + '_count', every, FAILED)})", f"{legend} {{{{{ERROR}}}}}"),), "ops"),
        Panel("Redeliveries /s by consumer", ((f"sum by ({CONSUMER}) ({_rate(m.REDELIVERIES.prometheus, every)})", f"{{{{{CONSUMER}}}}}"),), "ops"),
        Panel("Consumer lag", ((f"max by ({CONSUMER}) ({m.CONSUMER_LAG.prometheus}{{{every}}})", f"{{{{{CONSUMER}}}}}"),), "short"),
        Panel("Failed requests and publishes /s", ((f"sum by ({by}, {ERROR}) ({_rate(m.OPERATION_DURATION.prometheus + '_count', every, FAILED)})", f"{legend} {{{{{ERROR}}}}}"),), "ops"),
    ]  # fmt: skip
    database = [
        Panel("Queries /s by service", ((f"sum by ({by}) ({_rate(m.DB_DURATION.prometheus + '_count', owners)})", legend),), "ops"),
        Panel("Query latency p95", ((_p95(m.DB_DURATION, owners, by), legend),), "s"),
        Panel("Query errors /s", ((f"sum by ({by}, {ERROR}) ({_rate(m.DB_DURATION.prometheus + '_count', owners, FAILED)})", f"{legend} {{{{{ERROR}}}}}"),), "ops"),
    ]  # fmt: skip
    services = [
        *(
            [Panel("Instances reporting", ((f"count by ({by}) ({target.reporting.format(every)})", legend),))]
            if target.reporting
            else []
        ),
        Panel("Messages handled /s by service", ((f"sum by ({by}) ({_rate(m.CONSUMED.prometheus, every)})", legend),), "ops"),
        *(
            Panel(f"{service}: {consumer} lag", ((f'max({m.CONSUMER_LAG.prometheus}{{{target.select([service])}, {CONSUMER}="{consumer}"}})', consumer),))
            for service, consumer, _ in _queue_consumers(manifest)
        ),
    ]  # fmt: skip
    if target.servers is not None:
        nats += _nats_server_panels()
        database += _database_server_panels()
    return [
        Board("nats", f"{manifest.system}: NATS and JetStream", tuple(nats)),
        Board("database", f"{manifest.system}: database", tuple(database)),
        Board("services", f"{manifest.system}: services", tuple(services)),
    ]


def _nats_server_panels() -> list[Panel]:
    return [
        Panel("Server connections", (("gnatsd_varz_connections", "{{host}}"),)),
        Panel("Server messages in /s", (("rate(gnatsd_varz_in_msgs[5m])", "{{host}}"),), "ops"),
        Panel("Routes", (("gnatsd_varz_routes", "{{host}}"),)),
        Panel("JetStream storage used", (("jetstream_server_total_message_bytes / jetstream_server_max_storage", "{{server_name}}"),), "percentunit"),
        Panel("Stream messages", (("max by (stream_name) (jetstream_stream_total_messages)", "{{stream_name}}"),)),
        Panel("Consumer pending (server)", (('max by (stream_name, consumer_name) (jetstream_consumer_num_pending{is_consumer_leader="true"})', "{{stream_name}}/{{consumer_name}}"),)),
    ]  # fmt: skip


def _database_server_panels() -> list[Panel]:
    return [
        Panel("Servers up", (('up{job=~"postgres|yb-master|yb-tserver"}', "{{job}} {{host}}"),)),
        Panel("Server connections", (("sum by (host) (pg_stat_activity_count)", "{{host}}"),)),
        Panel("Replication lag", (("pg_replication_lag_seconds or pg_replication_lag", "{{host}}"),), "s"),
        Panel("Transactions /s", (("sum by (host) (rate(pg_stat_database_xact_commit[5m]))", "{{host}}"),), "ops"),
    ]  # fmt: skip


def dashboard_json(board: Board, target: Target) -> dict[str, Any]:
    """Grafana's dashboard model of a board: two panels a row, ids in order."""
    builder = (
        gdash.Dashboard(board.title)
        .uid(f"{target.system}-{board.key}")
        .tags(["deploykit", target.system])
        .time("now-6h", "now")
        .refresh("1m")
    )
    if target.datasource_variable:
        builder = builder.with_variable(
            gdash.DatasourceVariable("datasource").label("Metrics").type("prometheus")
        )
    for number, panel in enumerate(board.panels, start=1):
        built = (
            timeseries.Panel()
            .id(number)
            .title(panel.title)
            .datasource(target.datasource)
            .grid_pos(GridPos(h=8, w=12, x=(number - 1) % 2 * 12, y=(number - 1) // 2 * 8))
            .unit(panel.unit)
        )
        for index, (expr, legend) in enumerate(panel.queries):
            built = built.with_target(
                gprom.Dataquery()
                .ref_id(chr(ord("A") + index))
                .expr(expr)
                .legend_format(legend)
                .datasource(target.datasource)
            )
        builder = builder.with_panel(built)
    model: dict[str, Any] = json.loads(json.dumps(builder.build(), cls=JSONEncoder))
    return model


def alert_rules(manifest: Manifest, target: Target) -> list[AlertRule]:
    """What the services say on both tiers; on the metal tier also its hosts and servers."""
    every = target.select(sorted(manifest.services))
    by = target.service_label
    count = len(manifest.services)
    rules = [
        *(
            [AlertRule("deploykit-services", "ServicesNotReporting", f"count(count by ({by}) ({target.reporting.format(every)})) or vector(0)", "<", count, "5m", "critical", f"fewer than the {count} services of {manifest.system} report metrics")]
            if target.reporting
            else []
        ),
        AlertRule("deploykit-services", "EventProcessingFailures", f"sum({_rate(m.PROCESS_DURATION.prometheus + '_count', every, FAILED)})", ">", 0.1, "10m", "warning", "events keep failing to process; their consumers redeliver them"),
        AlertRule("deploykit-services", "ConsumerRedeliveries", f"sum by ({CONSUMER}) ({_rate(m.REDELIVERIES.prometheus, every)})", ">", 0.1, "10m", "warning", f"consumer {{{{ $labels.{CONSUMER} }}}} keeps receiving messages again"),
        AlertRule("deploykit-services", "ConsumerLag", f"max by ({CONSUMER}) ({m.CONSUMER_LAG.prometheus}{{{every}}})", ">", CONSUMER_LAG, "10m", "warning", f"consumer {{{{ $labels.{CONSUMER} }}}} is {{{{ $value }}}} messages behind"),
    ]  # fmt: skip
    if _owners(manifest):
        owners = target.select(_owners(manifest))
        rules.append(AlertRule("deploykit-services", "SlowDatabase", f"histogram_quantile(0.95, sum by (le) ({_rate(m.DB_DURATION.prometheus + '_bucket', owners)}))", ">", 1.0, "10m", "warning", "95% of queries take longer than a second"))  # fmt: skip
    if target.servers is not None:
        rules += _host_rules() + _nats_rules(manifest, target.servers)
        rules += _database_rules(target.servers)
    return rules


def _host_rules() -> list[AlertRule]:
    g = "deploykit-hosts"
    return [
        AlertRule(g, "HostDown", 'up{job="node"}', "==", 0, "2m", "critical", "host {{ $labels.host }} does not answer"),
        AlertRule(g, "HostDiskAlmostFull", 'node_filesystem_avail_bytes{fstype!~"tmpfs|overlay|squashfs"} / node_filesystem_size_bytes', "<", 0.10, "10m", "warning", "less than 10% disk left on {{ $labels.host }} {{ $labels.mountpoint }}"),
        AlertRule(g, "HostMemoryLow", "node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes", "<", 0.10, "10m", "warning", "less than 10% memory available on {{ $labels.host }}"),
        AlertRule(g, "HostClockDrift", "abs(node_timex_offset_seconds)", ">", 0.1, "5m", "warning", "the clock of {{ $labels.host }} drifts (YugabyteDB stops at 500ms)"),
    ]  # fmt: skip


def _nats_rules(manifest: Manifest, servers: Servers) -> list[AlertRule]:
    g = "deploykit-nats"
    rules = [
        AlertRule(g, "NatsServerDown", 'up{job="nats"}', "==", 0, "1m", "critical", "nats-server on {{ $labels.host }} is down"),
        AlertRule(g, "NatsServerUnhealthy", "gnatsd_healthz_status", "==", 1, "1m", "critical", "nats-server on {{ $labels.host }} is unhealthy"),
    ]  # fmt: skip
    if servers.nats_hosts > 1:
        rules += [
            AlertRule(g, "NatsRouteMissing", "gnatsd_varz_routes", "<", servers.nats_hosts - 1, "2m", "critical", f"{{{{ $labels.server_id }}}} routes to fewer than {servers.nats_hosts - 1} peers"),
            AlertRule(g, "JetStreamWithoutMetaLeader", 'jetstream_server_jetstream_disabled{meta_leader=""}', "==", 0, "1m", "critical", "the JetStream cluster has no meta leader: no stream or consumer can be created"),
        ]  # fmt: skip
    rules += [
        AlertRule(g, "JetStreamStreamWithoutLeader", 'count by (account, stream_name) (jetstream_stream_total_messages{stream_leader=""})', ">", 0, "1m", "critical", "stream {{ $labels.stream_name }} has no leader: publishes to it fail"),
        AlertRule(g, "JetStreamStorageNearLimit", "jetstream_server_total_message_bytes / jetstream_server_max_storage", ">", 0.8, "10m", "warning", "JetStream on {{ $labels.server_name }} uses over 80% of max_file_store"),
        AlertRule(g, "JetStreamConsumerLag", 'max by (account, stream_name, consumer_name) (jetstream_consumer_num_pending{is_consumer_leader="true"})', ">", CONSUMER_LAG, "10m", "warning", "consumer {{ $labels.consumer_name }} on {{ $labels.stream_name }} is {{ $value }} messages behind"),
    ]  # fmt: skip
    for name, service in manifest.services.items():
        for consume in service.consumes:
            if consume.mode is not ConsumeMode.QUEUE or consume.max_ack_pending <= 0:
                continue
            threshold = max(1, int(consume.max_ack_pending * 0.9))
            query = f'max(jetstream_consumer_num_ack_pending{{stream_name="{consume.stream}", consumer_name="{consume.consumer}"}})'
            rules.append(AlertRule(g, "JetStreamConsumerAckPendingNearMax", query, ">=", threshold, "5m", "warning", f"{name} ({consume.consumer}) nears max_ack_pending {consume.max_ack_pending}: deliveries are about to stop", {"consumer": consume.consumer}))  # fmt: skip
    for name, stream in manifest.streams.items():
        if stream.discard == "new" and stream.max_bytes > 0:
            query = f'max(jetstream_stream_total_bytes{{stream_name="{name}"}})'
            rules.append(AlertRule(g, "JetStreamStreamNearMaxBytes", query, ">", int(stream.max_bytes * 0.8), "5m", "critical", f"stream {name} (discard new) is over 80% of max_bytes: publishes will be refused", {"stream": name}))  # fmt: skip
    rules.append(AlertRule(g, "NatsSlowConsumers", "increase(gnatsd_varz_slow_consumers[5m])", ">", 0, None, "warning", "nats-server on {{ $labels.host }} dropped slow consumers"))  # fmt: skip
    return rules


def _database_rules(servers: Servers) -> list[AlertRule]:
    g = "deploykit-database"
    if servers.engine == "yugabyte":
        return [AlertRule(g, "YugabyteDown", 'up{job=~"yb-master|yb-tserver"}', "==", 0, "1m", "critical", "{{ $labels.job }} on {{ $labels.host }} is down")]  # fmt: skip
    rules = [
        AlertRule(g, "PostgresDown", 'up{job="postgres"}', "==", 0, "1m", "critical", "PostgreSQL on {{ $labels.host }} is down"),
        AlertRule(g, "PostgresNotAnswering", "pg_up", "==", 0, "1m", "critical", "postgres_exporter on {{ $labels.host }} cannot reach PostgreSQL"),
    ]  # fmt: skip
    if servers.replica:
        rules += [
            AlertRule(g, "PostgresReplicationLag", "max by (host) (pg_replication_lag_seconds or pg_replication_lag)", ">", 60, "5m", "warning", "the replica on {{ $labels.host }} replays WAL over a minute late"),
            AlertRule(g, "PostgresReplicationSlotInactive", "min by (slot_name) (pg_replication_slots_active or pg_replication_slot_slot_is_active)", "==", 0, "5m", "critical", "replication slot {{ $labels.slot_name }} is inactive: WAL piles up on the primary"),
        ]  # fmt: skip
    return rules


def prometheus_rules(rules: Sequence[AlertRule]) -> str:
    """A Prometheus rule file (prometheus.io/docs/prometheus/latest/configuration/alerting_rules)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for rule in rules:
        entry: dict[str, Any] = {"alert": rule.name, "expr": rule.expr}
        if rule.for_:
            entry["for"] = rule.for_
        entry["labels"] = {"severity": rule.severity, **rule.labels}
        entry["annotations"] = {"summary": rule.summary}
        groups.setdefault(rule.group, []).append(entry)
    document = {"groups": [{"name": name, "rules": items} for name, items in groups.items()]}
    header = (
        "# Rendered by deploykit (deploykit/observability/dashboards.py); do not edit.\n"
        "# Thresholds are starting points: tune them, keep the alerts.\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False, width=1000)


@dataclass(frozen=True)
class GrafanaRule:
    """A Grafana-managed alert rule: query A (instant) and threshold B on it, as Grafana's models.

    No data is OK, as in Prometheus: a rule returns no series when nothing is wrong (no failed
    message has an `error_type`), and the rule that must see every service says `or vector(0)`.
    """

    name: str
    query_model: dict[str, Any]
    threshold_model: dict[str, Any]
    for_: str
    labels: dict[str, str]
    annotations: dict[str, str]
    no_data_state: str = "OK"


GRAFANA_EVALUATORS = {">": "gt", "<": "lt"}


def grafana_rule(rule: AlertRule) -> GrafanaRule:
    """Grafana's threshold expression knows `gt` and `lt`; a rule with another operator is only
    for Prometheus (grafana.com/docs/grafana/latest/alerting/fundamentals/alert-rules/queries-conditions)."""
    evaluator = GRAFANA_EVALUATORS.get(rule.op)
    if evaluator is None:
        raise ValueError(f"alert {rule.name}: Grafana thresholds take > or <, not {rule.op}")
    return GrafanaRule(
        name=rule.name,
        query_model={"refId": "A", "expr": rule.query, "instant": True},
        threshold_model={
            "refId": "B",
            "type": "threshold",
            "expression": "A",
            "conditions": [{"evaluator": {"type": evaluator, "params": [rule.threshold]}}],
        },
        for_=rule.for_ or "0s",
        labels={"source": "deploykit", "severity": rule.severity, **rule.labels},
        annotations={"summary": rule.summary},
    )
