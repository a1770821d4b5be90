"""What the small tier asks of Grafana Cloud: a stack, a folder, the shared dashboards and alert
rules (deploykit.observability.dashboards), and a token apps push OTLP with.

Apps push OTLP to the stack's gateway with HTTP basic auth, user = stack id, password = an
access-policy token with `metrics:write` (grafana.com/docs/grafana-cloud/send-data/otlp).
"""

from __future__ import annotations

import base64
import json

from deploykit.errors import ConfigError
from deploykit.manifest.model import Manifest
from deploykit.observability import dashboards as observe
from deploykit.stack.config import GrafanaSettings

__all__ = [
    "PUSH_SCOPES",
    "check_settings",
    "dashboards",
    "datasource_name",
    "folder_uid",
    "otlp_headers",
    "rules",
]

PUSH_SCOPES = ["metrics:write", "logs:write", "traces:write"]


def check_settings(settings: GrafanaSettings) -> None:
    if not settings.stackSlug:
        raise ConfigError(
            "deploykit:small.grafana.stackSlug is empty: name the Grafana Cloud stack "
            "(https://<slug>.grafana.net) to create, or set grafana.existingStack to use yours"
        )


def folder_uid(manifest: Manifest) -> str:
    return f"deploykit-{manifest.system}"


def datasource_name(stack_slug: str) -> str:
    """The Prometheus data source Grafana Cloud provisions in every stack."""
    return f"grafanacloud-{stack_slug}-prom"


def dashboards(manifest: Manifest) -> dict[str, str]:
    """Board key → Grafana's dashboard JSON, as the Grafana provider's `config_json` takes it."""
    target = observe.small(manifest)
    return {
        board.key: json.dumps(observe.dashboard_json(board, target), sort_keys=True)
        for board in observe.boards(manifest, target)
    }


def rules(manifest: Manifest) -> list[observe.GrafanaRule]:
    """The shared alert rules as Grafana-managed rules."""
    return [observe.grafana_rule(r) for r in observe.alert_rules(manifest, observe.small(manifest))]


def otlp_headers(stack_id: str, token: str) -> str:
    """OTEL_EXPORTER_OTLP_HEADERS for Grafana Cloud: basic auth, the space percent-encoded."""
    basic = base64.b64encode(f"{stack_id}:{token}".encode()).decode()
    return f"Authorization=Basic%20{basic}"
