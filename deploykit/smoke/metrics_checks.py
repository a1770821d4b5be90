"""Each service serves its runtime metrics, where the outputs say they are scraped
(`metrics_url`: the local stack; the tiers' scrapers and OTLP pushes are Prometheus's and
Grafana's to show).

The page must be Prometheus text, and every runtime-looking family on it (`messaging_`,
`deploykit_`, `db_client_`) must be one of the catalogue's names: a renamed metric is an empty
dashboard panel, found here before anyone looks. Which of the catalogue's metrics a service
shows depends on what it has done since it started (a series appears with its first
measurement); the message lists them.
"""

from __future__ import annotations

from dataclasses import replace

import httpx
from prometheus_client.parser import text_string_to_metric_families

from deploykit.runtime import metricnames
from deploykit.smoke.context import Context
from deploykit.smoke.results import Metric, Outcome, failed, passed, skipped
from deploykit.smoke.verdicts import millis

__all__ = ["RUNTIME_PREFIXES", "judge_metrics", "metrics"]

RUNTIME_PREFIXES = ("messaging_", "deploykit_", "db_client_")
_CATALOGUE = {m.prometheus.removesuffix("_total"): m for m in metricnames.METRICS}


def judge_metrics(service: str, text: str) -> Outcome:
    """Pure: the verdict on one service's metrics page."""
    try:
        families = [f.name for f in text_string_to_metric_families(text)]
    except ValueError as exc:
        return failed(f"{service}: the metrics page is not Prometheus text: {exc}")
    runtime = [f for f in families if f.startswith(RUNTIME_PREFIXES)]
    unknown = sorted(set(runtime) - set(_CATALOGUE))
    if unknown:
        return failed(f"{service}: serves metrics the dashboards do not know: {', '.join(unknown)}")
    shown = sorted(set(runtime))
    listed = ", ".join(shown) if shown else "none yet (no message handled since its start)"
    return passed(f"{service}: {len(shown)} of the catalogue's {len(_CATALOGUE)}: {listed}")


async def metrics(ctx: Context, name: str) -> Outcome:
    declared = next((s for s in ctx.outputs.services if s.name == name), None)
    if declared is None or not declared.metrics_url:
        return skipped(f"the outputs give no metrics URL for {name}")
    url = declared.metrics_url
    try:
        response = await ctx.http.get(url, timeout=ctx.budget(3.0))
    except httpx.HTTPError as exc:
        return failed(f"{name}: {url}: {type(exc).__name__} {exc}".strip())
    took = Metric("response_seconds", response.elapsed.total_seconds(), "s")
    if response.status_code != 200:
        return failed(f"{name}: {url} answered HTTP {response.status_code}", (), took)
    outcome = judge_metrics(name, response.text)
    return replace(outcome, message=f"{outcome.message} ({millis(took.value)})", metrics=(took,))
