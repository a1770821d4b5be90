"""Prometheus and Grafana answer, when the outputs name them.

Prometheus: `GET /api/v1/status/buildinfo` (the Prometheus HTTP API, also served by Grafana
Cloud's Mimir under its `/api/prom` prefix). Grafana: `GET /api/health`, which needs no login
and says whether Grafana reaches its database. A hosted endpoint that wants credentials answers
401/403: it is up, which is what this check proves; querying it is not smoke's job.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from deploykit.smoke.context import Context
from deploykit.smoke.results import Metric, Outcome, failed, passed, skipped
from deploykit.smoke.verdicts import millis

__all__ = ["grafana", "prometheus"]

_NEEDS_LOGIN = (401, 403)

_Verdict = Callable[[str, httpx.Response, float], tuple[bool, str]]
"""Judges an answer (the URL asked, the response, seconds it took): passed?, and the message."""


async def _check(
    ctx: Context, service: str, base: str | None, path: str, verdict: _Verdict
) -> Outcome:
    """GET `path` under the outputs' `base` URL of `service` and judge the answer."""
    if not base:
        return skipped(f"the outputs name no {service} URL")
    url = f"{base.rstrip('/')}{path}"
    try:
        response = await ctx.http.get(url, timeout=ctx.budget(3.0))
    except httpx.HTTPError as exc:
        return failed(f"{service} does not answer: {url}: {type(exc).__name__} {exc}".strip())
    took = response.elapsed.total_seconds()
    ok, message = verdict(url, response, took)
    return (passed if ok else failed)(message, (), Metric("response_seconds", took, "s"))


def _prometheus(url: str, response: httpx.Response, took: float) -> tuple[bool, str]:
    if response.status_code in _NEEDS_LOGIN:
        return True, f"Prometheus answers {url} ({response.status_code}: needs credentials)"
    if response.status_code != 200:
        return False, f"Prometheus: {url} answered HTTP {response.status_code}"
    try:
        version = response.json()["data"]["version"]
    except (ValueError, KeyError, TypeError):
        return False, f"Prometheus: {url} answered 200 without a build version"
    return True, f"Prometheus {version} answers in {millis(took)}"


def _grafana(url: str, response: httpx.Response, took: float) -> tuple[bool, str]:
    if response.status_code != 200:
        return False, f"Grafana: {url} answered HTTP {response.status_code}"
    try:
        health = response.json()
    except ValueError:
        return False, f"Grafana: {url} answered 200 but not JSON"
    if not isinstance(health, dict) or health.get("database") != "ok":
        return False, f"Grafana answers but reports its database {health!r}"
    return True, f"Grafana {health.get('version', '?')} answers, database ok, in {millis(took)}"


async def prometheus(ctx: Context) -> Outcome:
    base = ctx.outputs.observability.prometheus_url
    return await _check(ctx, "Prometheus", base, "/api/v1/status/buildinfo", _prometheus)


async def grafana(ctx: Context) -> Outcome:
    base = ctx.outputs.observability.grafana_url
    return await _check(ctx, "Grafana", base, "/api/health", _grafana)
