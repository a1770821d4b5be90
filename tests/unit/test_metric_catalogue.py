"""What the dashboards and alert rules query is what the runtime emits: every metric a query
names is in the runtime's catalogue (or the exporter's own `target_info`)."""

from __future__ import annotations

import json
import re

from components.small.dashboards import (
    alert_rules,
    nats_dashboard,
    postgres_dashboard,
    services_dashboard,
)
from deploykit.manifest.model import Manifest
from deploykit.runtime.metricnames import METRICS

SERIES_SUFFIXES = ("_bucket", "_count", "_sum")
METRIC_IN_QUERY = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{")  # a selector: name{labels}


def emitted() -> set[str]:
    names = {"target_info"}  # every OpenTelemetry exporter's resource metric
    for metric in METRICS:
        names.add(metric.prometheus)
        if metric.kind == "histogram":
            names |= {metric.prometheus + suffix for suffix in SERIES_SUFFIXES}
    return names


def queried(manifest: Manifest) -> set[str]:
    dashboards = [f(manifest) for f in (nats_dashboard, postgres_dashboard, services_dashboard)]
    text = json.dumps(dashboards) + " ".join(rule.expr for rule in alert_rules(manifest))
    return set(METRIC_IN_QUERY.findall(text))


def test_every_queried_runtime_metric_is_in_the_catalogue(reference_manifest: Manifest) -> None:
    runtime = {
        name
        for name in queried(reference_manifest)
        if name.startswith(("messaging_", "deploykit_", "db_client_", "http_server_", "target_"))
    }
    assert runtime, "no query names a runtime metric: the pattern is wrong"
    assert runtime - emitted() == set()
