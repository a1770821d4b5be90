"""Prometheus and Grafana answer, when the outputs name them.

Prometheus: `GET /api/v1/status/buildinfo` (the Prometheus HTTP API, also served by Grafana
Cloud's Mimir under its `/api/prom` prefix). Grafana: `GET /api/health`, which needs no login
and says whether Grafana reaches its database. A hosted endpoint that wants credentials answers
401/403: it is up, which is what this check proves; querying it is not smoke's job.
"""

from __future__ import annotations

import httpx

from deploykit.smoke.context import Context
from deploykit.smoke.results import Metric, Outcome, failed, passed, skipped
from deploykit.smoke.verdicts import millis

__all__ = ["grafana", "prometheus"]

_NEEDS_LOGIN = (401, 403)


async def _get(ctx: Context, url: str) -> httpx.Response | str:
    try:
        return await ctx.http.get(url, timeout=ctx.budget(3.0))
    except httpx.HTTPError as exc:
        return f"{url}: {type(exc).__name__} {exc}".strip()


async def prometheus(ctx: Context) -> Outcome:
    base = ctx.outputs.observability.prometheus_url
    if not base:
        return skipped("the outputs name no Prometheus URL")
    url = f"{base.rstrip('/')}/api/v1/status/buildinfo"
    response = await _get(ctx, url)
    if isinstance(response, str):
        return failed(f"Prometheus does not answer: {response}")
    took = response.elapsed.total_seconds()
    metric = Metric("response_seconds", took, "s")
    if response.status_code in _NEEDS_LOGIN:
        return passed(
            f"Prometheus answers {url} ({response.status_code}: needs credentials)", (), metric
        )
    if response.status_code != 200:
        return failed(f"Prometheus: {url} answered HTTP {response.status_code}", (), metric)
    try:
        version = response.json()["data"]["version"]
    except (ValueError, KeyError, TypeError):
        return failed(f"Prometheus: {url} answered 200 without a build version", (), metric)
    return passed(f"Prometheus {version} answers in {millis(took)}", (), metric)


async def grafana(ctx: Context) -> Outcome:
    base = ctx.outputs.observability.grafana_url
    if not base:
        return skipped("the outputs name no Grafana URL")
    url = f"{base.rstrip('/')}/api/health"
    response = await _get(ctx, url)
    if isinstance(response, str):
        return failed(f"Grafana does not answer: {response}")
    took = response.elapsed.total_seconds()
    metric = Metric("response_seconds", took, "s")
    if response.status_code != 200:
        return failed(f"Grafana: {url} answered HTTP {response.status_code}", (), metric)
    try:
        health = response.json()
    except ValueError:
        return failed(f"Grafana: {url} answered 200 but not JSON", (), metric)
    if not isinstance(health, dict) or health.get("database") != "ok":
        return failed(f"Grafana answers but reports its database {health!r}", (), metric)
    return passed(
        f"Grafana {health.get('version', '?')} answers, database ok, in {millis(took)}", (), metric
    )
