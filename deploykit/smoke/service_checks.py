"""Every declared service runs: rpc and workers in NATS Service discovery, frontends on HTTP.

Discovery (`$SRV.INFO.<service>`, `$SRV.PING.<service>`) is asked as the smoke user of the
service's bus and collects answers until the outputs' `instances` have answered or the wait
ends. Workers register only after their warm-up, so a discovered worker is a ready one.
"""

from __future__ import annotations

import httpx
from pydantic import ValidationError

from deploykit.manifest import naming
from deploykit.smoke.context import Context
from deploykit.smoke.results import CheckFailed, Outcome, failed, passed, skipped, unreachable
from deploykit.smoke.serverjson import ServiceInfo
from deploykit.smoke.verdicts import judge_service, millis
from deploykit.stack.discovery import discover
from deploykit.stack.outputs import ServiceOutput

__all__ = ["DISCOVERY_WAIT", "service"]

DISCOVERY_WAIT = 1.5  # seconds to collect discovery answers when fewer than expected arrive


def _declared(ctx: Context, name: str) -> ServiceOutput:
    found = next((s for s in ctx.outputs.services if s.name == name), None)
    if found is None:
        raise CheckFailed(f"service {name} is declared in the manifest but not in the outputs")
    if name not in ctx.manifest.services:
        raise CheckFailed(f"service {name} is in the outputs but not declared in the manifest")
    return found


async def service(ctx: Context, name: str) -> Outcome:
    """The manifest says what the service is (role, endpoints); the outputs how many run."""
    declared = _declared(ctx, name)
    spec = ctx.manifest.services[name]
    if declared.role != spec.role.value:
        return failed(f"service {name} runs as {declared.role}, declared {spec.role.value}")
    if spec.role.value == "frontend":
        return await _frontend(ctx, declared)
    endpoints = {e: spec.endpoint_subject(name, e) for e in spec.endpoints}
    session = await ctx.nats(naming.smoke_user(spec.bus))
    expect = declared.instances
    infos = await discover(
        session.client, "INFO", name, expect=expect, timeout=ctx.budget(DISCOVERY_WAIT)
    )
    try:
        parsed = [ServiceInfo.model_validate(i) for i in infos]
    except ValidationError as exc:
        return failed(f"an instance of {name} sent an invalid INFO: {exc.errors()[0]['msg']}")
    pings = []
    if parsed:
        pings = await discover(
            session.client, "PING", name, expect=len(parsed), timeout=ctx.budget(DISCOVERY_WAIT)
        )
    return judge_service(name, spec.role.value, expect, endpoints, parsed, len(pings))


async def _frontend(ctx: Context, declared: ServiceOutput) -> Outcome:
    if not declared.url:
        return skipped(f"the outputs give no URL for frontend {declared.name}")
    url = f"{declared.url.rstrip('/')}/healthz"
    try:
        response = await ctx.http.get(url, timeout=ctx.budget(3.0))
    except httpx.HTTPError as exc:
        message = f"frontend {declared.name}: {url}: {type(exc).__name__} {exc}".strip()
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            return unreachable(message)
        return failed(message)
    took = response.elapsed.total_seconds()
    if response.status_code != 200:
        return failed(f"frontend {declared.name}: {url} answered HTTP {response.status_code}")
    return passed(f"frontend {declared.name}: {url} answered 200 in {millis(took)}")
