"""The reconciler's entry points: plan and apply one bus over its connection, or reconcile all.

Each bus is an account: one connection per bus, and only that bus's objects are planned.
These are the functions the CLI, the Pulumi provider, the local stack and smoke call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from nats.aio.client import Client

from deploykit.errors import ConfigError
from deploykit.jetstream.api import JetStreamApi, connect
from deploykit.jetstream.api import cluster_size as detect_cluster_size
from deploykit.jetstream.apply import DEFAULT_CONCURRENCY, ApplyResult, apply_plan, check_allowed
from deploykit.jetstream.desired import declared_streams, desired_state
from deploykit.jetstream.plan import Plan, compute_plan
from deploykit.manifest.model import Manifest
from deploykit.stack.outputs import NatsCredential

__all__ = ["apply", "plan", "plan_with", "reconcile"]


async def plan_with(
    api: JetStreamApi,
    manifest: Manifest,
    bus: str,
    *,
    cluster_size: int | None,
    prune: bool = False,
) -> Plan:
    """The plan for `bus`, reading the server's state through `api` (whose calls are counted)."""
    if bus not in manifest.buses:
        raise ConfigError(f"unknown bus {bus!r} (declared: {', '.join(sorted(manifest.buses))})")
    desired = desired_state(manifest, bus, cluster_size)
    state = await api.server_state()
    elsewhere = frozenset(s for s, owner in declared_streams(manifest).items() if owner != bus)
    return compute_plan(desired, state.streams, state.consumers, elsewhere, prune=prune)


async def plan(
    conn: Client,
    manifest: Manifest,
    bus: str,
    *,
    cluster_size: int | None = None,
    prune: bool = False,
) -> Plan:
    """The plan for `bus` over `conn`; `cluster_size` None reads it from the server."""
    size = cluster_size if cluster_size is not None else detect_cluster_size(conn)
    return await plan_with(JetStreamApi(conn), manifest, bus, cluster_size=size, prune=prune)


async def apply(
    conn: Client,
    plan: Plan,
    *,
    allow_destroy: bool = False,
    prune: bool = False,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> ApplyResult:
    """Perform exactly the plan's steps; refused whole, before any call, if not allowed."""
    return await apply_plan(
        JetStreamApi(conn), plan, allow_destroy=allow_destroy, prune=prune, concurrency=concurrency
    )


async def _reconcile(
    url: str,
    credentials_by_bus: Mapping[str, NatsCredential | None],
    manifest: Manifest,
    allow_destroy: bool,
    prune: bool,
    cluster_size: int | None,
) -> dict[str, ApplyResult]:
    conns: dict[str, Client] = {}
    try:
        plans = {}
        for bus, credential in credentials_by_bus.items():
            conns[bus] = await connect(url, credential)
            plans[bus] = await plan(
                conns[bus], manifest, bus, cluster_size=cluster_size, prune=prune
            )
        for bus_plan in plans.values():
            check_allowed(bus_plan, allow_destroy=allow_destroy, prune=prune)
        return {
            bus: await apply(conns[bus], bus_plan, allow_destroy=allow_destroy, prune=prune)
            for bus, bus_plan in plans.items()
        }
    finally:
        for conn in conns.values():
            await conn.close()


def reconcile(
    url: str,
    credentials_by_bus: Mapping[str, NatsCredential | None],
    manifest: Manifest,
    *,
    allow_destroy: bool = False,
    prune: bool = False,
    cluster_size: int | None = None,
) -> dict[str, ApplyResult]:
    """Plan and apply every bus in `credentials_by_bus` (None: no authentication).

    Every bus is planned and checked before anything is applied, so a plan refused on one
    bus leaves every bus untouched. `cluster_size` None reads it from the server; a caller that
    started the cluster knows it (a forming cluster's INFO may not list every node yet).
    """
    return asyncio.run(
        _reconcile(url, credentials_by_bus, manifest, allow_destroy, prune, cluster_size)
    )
