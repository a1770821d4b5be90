"""The Grafana dashboards and alert rules are pure functions of the manifest: exact output."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from components.small.dashboards import (
    alert_rules,
    nats_dashboard,
    postgres_dashboard,
    services_dashboard,
)
from components.small.grafana import otlp_headers
from deploykit.manifest.load import load_manifest
from deploykit.manifest.model import Manifest

ROOT = Path(__file__).resolve().parents[2]
ALL = 'job=~"acme/(accounts|gateway|projector|welcome)"'


@pytest.fixture(scope="module")
def manifest() -> Manifest:
    return load_manifest(ROOT / "deploykit.yaml")


def test_dashboards_have_stable_uids_a_datasource_choice_and_tiled_panels(
    manifest: Manifest,
) -> None:
    boards = [nats_dashboard(manifest), postgres_dashboard(manifest), services_dashboard(manifest)]
    assert [b["uid"] for b in boards] == ["acme-nats", "acme-postgres", "acme-services"]
    assert [b["title"] for b in boards] == [
        "acme: NATS and JetStream",
        "acme: PostgreSQL",
        "acme: Services",
    ]
    for board in boards:
        assert board["templating"]["list"][0] == {
            "name": "datasource",
            "type": "datasource",
            "query": "prometheus",
            "label": "Metrics",
        }
        positions = [(p["gridPos"]["x"], p["gridPos"]["y"]) for p in board["panels"]]
        assert len(set(positions)) == len(positions)
        assert [p["id"] for p in board["panels"]] == list(range(1, len(positions) + 1))


def test_nats_panels_read_the_messaging_conventions_of_every_service(manifest: Manifest) -> None:
    panels = nats_dashboard(manifest)["panels"]
    assert panels[0]["targets"][0]["expr"] == (
        f"sum by (messaging_destination_name) (rate(messaging_client_sent_messages_total{{{ALL}}}[5m]))"
    )
    assert panels[4]["targets"][0]["expr"] == (
        f'sum by (job, error_type) (rate(messaging_process_duration_seconds_count{{{ALL}, error_type!=""}}[5m]))'
    )


def test_postgres_panels_only_cover_services_that_own_a_database(manifest: Manifest) -> None:
    expr = postgres_dashboard(manifest)["panels"][1]["targets"][0]["expr"]
    assert expr == (
        "histogram_quantile(0.95, sum by (le, job) (rate(db_client_operation_duration_seconds_bucket"
        '{job=~"acme/(accounts|welcome)"}[5m])))'
    )


def test_http_panels_cover_frontends(manifest: Manifest) -> None:
    expr = services_dashboard(manifest)["panels"][3]["targets"][0]["expr"]
    assert 'job=~"acme/(gateway)"' in expr and 'http_response_status_code=~"5.."' in expr


def test_alert_rules(manifest: Manifest) -> None:
    rules = {rule.name: rule for rule in alert_rules(manifest)}
    reporting = rules["services reporting"]
    assert (reporting.expr, reporting.op, reporting.threshold) == (
        f"count(count by (job) (target_info{{{ALL}}}))",
        "lt",
        4,
    )
    assert rules["slow database"].threshold == 1.0
    assert rules["event processing failures"].op == "gt"


def test_otlp_headers_are_basic_auth_with_the_space_encoded() -> None:
    header = otlp_headers("123456", "glc_token")
    assert header == "Authorization=Basic%20" + base64.b64encode(b"123456:glc_token").decode()
