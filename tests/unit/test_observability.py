"""The dashboards and alert rules both tiers share: exact queries, and only metrics that exist."""

from __future__ import annotations

import re

import pytest

from deploykit.manifest.model import Manifest
from deploykit.observability import dashboards as observe
from deploykit.observability import exporters
from deploykit.runtime.metricnames import METRICS

ALL = 'job=~"acme/(accounts|gateway|projector|welcome)"'
KEYWORDS = {"by", "without", "or", "and", "unless", "on", "ignoring", "bool", "offset"}
SERVERS = observe.Servers(nats_hosts=3, engine="postgres", replica=True)


def queried_metrics(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: identifiers that are no function, keyword,
    label (inside braces or `by (...)`) or duration."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
        follows = expr[match.end() :].lstrip()[:1]
        if follows != "(" and match.group() not in KEYWORDS:
            names.add(match.group())
    return names


def runtime_series() -> set[str]:
    """What the runtime emits, as Prometheus names; histograms as their three series."""
    names = set()
    for metric in METRICS:
        if metric.kind == "histogram":
            names |= {f"{metric.prometheus}_{s}" for s in ("bucket", "count", "sum")}
        else:
            names.add(metric.prometheus)
    return names


def every_query(manifest: Manifest, target: observe.Target) -> list[str]:
    panels = [q for b in observe.boards(manifest, target) for p in b.panels for q, _ in p.queries]
    return panels + [r.query for r in observe.alert_rules(manifest, target)]


def test_the_query_parser_finds_metrics_and_nothing_else() -> None:
    expr = 'histogram_quantile(0.95, sum by (le, job) (rate(a_bucket{job=~"x|y", e!=""}[5m]))) or b > 1'
    assert queried_metrics(expr) == {"a_bucket", "b"}


def test_the_small_tier_queries_only_what_the_runtime_emits(manifest: Manifest) -> None:
    queried = set().union(*map(queried_metrics, every_query(manifest, observe.small(manifest))))
    assert queried - runtime_series() == {"target_info"}  # Grafana Cloud's, per OTLP resource
    assert queried & runtime_series() == runtime_series() - {
        "messaging_client_operation_duration_seconds_sum",
        "messaging_process_duration_seconds_sum",
        "db_client_operation_duration_seconds_sum",
        "http_server_request_duration_seconds_sum",
    }  # every metric the runtime emits is on a dashboard or in a rule


def test_the_metal_tier_adds_only_documented_exporter_metrics(manifest: Manifest) -> None:
    queried = set().union(
        *map(queried_metrics, every_query(manifest, observe.metal(manifest, SERVERS)))
    )
    assert queried - runtime_series() <= exporters.KNOWN
    assert "gnatsd_varz_routes" in queried and "pg_up" in queried


def test_a_metric_the_runtime_does_not_emit_is_caught(manifest: Manifest) -> None:
    """The check can fail: a name the runtime never emitted is in neither list."""
    assert "http_server_duration_milliseconds_count" not in runtime_series() | exporters.KNOWN


def test_both_tiers_have_the_same_boards_and_service_rules(manifest: Manifest) -> None:
    small = observe.boards(manifest, observe.small(manifest))
    metal = observe.boards(manifest, observe.metal(manifest, SERVERS))
    assert [b.key for b in small] == [b.key for b in metal] == ["nats", "database", "services"]
    for one, other in zip(small, metal, strict=True):
        shared = [p.title for p in one.panels]
        assert [p.title for p in other.panels][: len(shared)] == shared
    small_rules = [r.name for r in observe.alert_rules(manifest, observe.small(manifest))]
    metal_rules = [r.name for r in observe.alert_rules(manifest, observe.metal(manifest, SERVERS))]
    assert metal_rules[: len(small_rules)] == small_rules


def test_small_dashboards_pick_their_data_source_and_tile_their_panels(manifest: Manifest) -> None:
    target = observe.small(manifest)
    for board in observe.boards(manifest, target):
        model = observe.dashboard_json(board, target)
        assert model["uid"] == f"acme-{board.key}"
        assert model["templating"]["list"][0]["name"] == "datasource"
        assert model["templating"]["list"][0]["query"] == "prometheus"
        positions = [(p["gridPos"]["x"], p["gridPos"]["y"]) for p in model["panels"]]
        assert len(set(positions)) == len(positions)
        assert [p["id"] for p in model["panels"]] == list(range(1, len(positions) + 1))
        assert all(p["datasource"]["uid"] == "${datasource}" for p in model["panels"])


def test_exact_queries(manifest: Manifest) -> None:
    nats = observe.boards(manifest, observe.small(manifest))[0]
    assert nats.panels[0].queries[0][0] == (
        f"sum by (messaging_destination_name) (rate(messaging_client_sent_messages_total{{{ALL}}}[5m]))"
    )
    assert nats.panels[4].queries[0][0] == (
        f'sum by (job, error_type) (rate(messaging_process_duration_seconds_count{{{ALL}, error_type!=""}}[5m]))'
    )
    database = observe.boards(manifest, observe.metal(manifest, SERVERS))[1]
    assert database.panels[1].queries[0][0] == (
        "histogram_quantile(0.95, sum by (le, service) (rate(db_client_operation_duration_seconds_bucket"
        '{service=~"(accounts|welcome)"}[5m])))'
    )


def test_alert_rules_render_for_prometheus_and_for_grafana(manifest: Manifest) -> None:
    rules = {r.name: r for r in observe.alert_rules(manifest, observe.small(manifest))}
    reporting = observe.grafana_rule(rules["ServicesNotReporting"])
    assert (
        reporting.query_model["expr"]
        == f"count(count by (job) (target_info{{{ALL}}})) or vector(0)"
    )
    assert reporting.threshold_model["conditions"][0]["evaluator"] == {"type": "lt", "params": [4]}
    assert reporting.no_data_state == "OK"
    text = observe.prometheus_rules([rules["SlowDatabase"]])
    assert (
        "expr: histogram_quantile(0.95, sum by (le) (rate(db_client_operation_duration_seconds_bucket"
        in text
    )
    assert text.rstrip().endswith("summary: 95% of queries take longer than a second")
    equal = observe.AlertRule("g", "X", "up", "==", 0, None, "warning", "s")
    with pytest.raises(ValueError, match="Grafana thresholds take > or <"):
        observe.grafana_rule(equal)


def test_without_pods_no_rule_claims_to_see_a_service_down(manifest: Manifest) -> None:
    target = observe.metal(manifest, SERVERS, pods=False)
    assert "ServicesNotReporting" not in [r.name for r in observe.alert_rules(manifest, target)]
    services = observe.boards(manifest, target)[2]
    assert "Instances reporting" not in [p.title for p in services.panels]
