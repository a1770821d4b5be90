"""NATS itself: every user connects, JetStream answers on every bus, the cluster is whole.

`cluster` is `nats server check meta`: it asks the meta leader (as the `system` user with
`$SYS.REQ.SERVER.PING.JSZ`, else through `/jsz?leader-only=true` on the monitor URLs) and
expects `cluster_size` peers, every one current.
"""

from __future__ import annotations

import asyncio
import json

import httpx
from pydantic import ValidationError

from deploykit.errors import DeploykitError
from deploykit.jetstream.api import redact_url
from deploykit.manifest import naming
from deploykit.smoke.calls import as_json, js_request, request
from deploykit.smoke.context import Context
from deploykit.smoke.results import CheckFailed, Metric, Outcome, failed, passed, skipped
from deploykit.smoke.serverjson import AccountInfo, JetStreamInfo, JszReply
from deploykit.smoke.verdicts import judge_account, judge_meta, millis

__all__ = ["cluster", "connect", "jetstream", "monitor"]


async def connect(ctx: Context, user: str) -> Outcome:
    session = await ctx.nats(user)
    rtt = await session.client.rtt(ctx.budget(2.0))  # type: ignore[arg-type]  # nats-py annotates int, takes seconds as float
    cred = ctx.outputs.credential(user)
    url = session.client.connected_url
    where = redact_url(url.geturl()) if url else "?"
    return passed(
        f"{cred.role} in account {cred.account}: connected to {where} in "
        f"{millis(session.connect_seconds)}, rtt {millis(rtt)}",
        (),
        Metric("connect_seconds", session.connect_seconds, "s"),
        Metric("rtt_seconds", rtt, "s"),
    )


async def jetstream(ctx: Context, bus: str) -> Outcome:
    session = await ctx.nats(naming.smoke_user(bus))
    try:
        data = await js_request(ctx, session, "INFO")
    except DeploykitError as exc:
        return failed(f"JetStream does not answer on bus {bus}: {exc}")
    return judge_account(bus, AccountInfo.model_validate(data))


async def cluster(ctx: Context) -> Outcome:
    size = ctx.outputs.nats.cluster_size
    if size <= 1:
        return skipped("a single server (cluster_size 1): there is no meta cluster")
    if naming.SYSTEM_USER in ctx.outputs.nats.credentials:
        info = await _jsz_as_system(ctx)
    elif _monitor_urls(ctx):
        info = await _jsz_from_monitors(ctx)
    else:
        return skipped("the outputs give neither the system user nor monitor URLs")
    return judge_meta(info.meta_cluster, size)


async def _jsz_as_system(ctx: Context) -> JetStreamInfo:
    session = await ctx.nats(naming.SYSTEM_USER)
    body = json.dumps({"leader_only": True}).encode()
    try:
        msg = await request(ctx, session, "$SYS.REQ.SERVER.PING.JSZ", body, cap=2.0)
    except CheckFailed as exc:
        raise CheckFailed(f"no JetStream meta leader answered: {exc.message}") from None
    try:
        reply = JszReply.model_validate(as_json(msg))
    except ValidationError as exc:
        raise CheckFailed(f"unexpected JSZ reply: {exc.errors()[0]['msg']}") from None
    if reply.error or reply.data is None:
        what = reply.error.description if reply.error else "no data"
        raise CheckFailed(f"JSZ from {reply.server.name or 'a server'}: {what}")
    return reply.data


async def _jsz_from_monitors(ctx: Context) -> JetStreamInfo:
    async def leader_view(url: str) -> JetStreamInfo | None:
        try:
            response = await ctx.http.get(
                f"{url}/jsz", params={"leader-only": "true"}, timeout=ctx.budget(2.0)
            )
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None  # a server that is not the meta leader answers 400
        return JetStreamInfo.model_validate(response.json())

    views = await asyncio.gather(*(leader_view(u) for u in _monitor_urls(ctx)))
    leader = next((v for v in views if v is not None), None)
    if leader is None:
        raise CheckFailed("no monitor URL answered as the JetStream meta leader (no leader?)")
    return leader


def _monitor_urls(ctx: Context) -> list[str]:
    urls = [*ctx.outputs.nats.monitor_urls, *ctx.outputs.observability.nats_monitor_urls]
    return list(dict.fromkeys(u.rstrip("/") for u in urls))


async def monitor(ctx: Context) -> Outcome:
    """Every monitor URL says the server is healthy with JetStream (`/healthz`)."""
    urls = _monitor_urls(ctx)
    if not urls:
        return skipped("the outputs name no NATS monitor URL")

    async def health(url: str) -> str | None:
        try:
            response = await ctx.http.get(
                f"{url}/healthz", params={"js-enabled-only": "true"}, timeout=ctx.budget(2.0)
            )
        except httpx.HTTPError as exc:
            return f"{url}: {type(exc).__name__} {exc}".strip()
        if response.status_code != 200:
            return f"{url}/healthz: HTTP {response.status_code} {response.text.strip()[:120]}"
        return None

    problems = [p for p in await asyncio.gather(*(health(u) for u in urls)) if p]
    if problems:
        return failed(
            f"{len(problems)} of {len(urls)} NATS server(s) unhealthy: {'; '.join(problems)}"
        )
    return passed(f"{len(urls)} NATS server(s) healthy with JetStream (/healthz)")
