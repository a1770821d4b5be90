"""The checks of a smoke run, named, in the order they are reported (see `CATALOGUE_HELP`).

Names are `<group>.<what>`. Checks share connections through the context, never results;
the runner starts them all at once, and a check waits only for the checks it `needs`: when one
of those fails, it is not run and reports that failure as its cause (no connection, no
JetStream, no round trip). `needs_answer` is weaker: it waits, and is not run only when that
check found nothing answering at all (one unreachable cluster is one failure, not one per user).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

from deploykit.jetstream.desired import desired_state
from deploykit.laws.rules import refused_paths
from deploykit.manifest import naming
from deploykit.manifest.crossbus import PathKind, cross_paths
from deploykit.manifest.model import Manifest
from deploykit.smoke import (
    backup_checks,
    crossbus_checks,
    database_checks,
    jetstream_checks,
    laws_checks,
    metrics_checks,
    nats_checks,
    observability_checks,
    probes,
    roundtrip,
    service_checks,
)
from deploykit.smoke.context import Context
from deploykit.smoke.results import Outcome
from deploykit.stack.outputs import StackOutputs

__all__ = ["CATALOGUE_HELP", "GROUPS", "ON_DEMAND", "Check", "catalogue"]

CATALOGUE_HELP = """\
  nats.connect.<user>       each user of the outputs connects (time, rtt)
  nats.jetstream.<bus>      JetStream answers; account limits not nearly used
  nats.cluster              a meta leader, cluster_size peers, each current
                            (online, seen < 5 s, <= 200 operations behind)
  nats.monitor              each monitor URL's /healthz, JetStream enabled
  jetstream.<kind>.<name>   each declared stream, consumer (STREAM/name), kv,
                            object_store (deploykit's own too): exists,
                            matches field by field, replicas current
  roundtrip.stream          publish to DEPLOYKIT_SMOKE, fetch it back, ack
  roundtrip.kv              create, update, stale update refused, delete
  roundtrip.object_store    put, get, delete (object store deploykit_smoke)
  services.<name>           rpc, worker: instances in NATS Service discovery,
                            endpoints, PING; frontend: GET /healthz
  metrics.<name>            each service's metrics page (where the outputs
                            give one): Prometheus text, only catalogue names
  laws.frontend.<user>      the server refuses a frontend's event publish
  crossbus.<kind>.<path>    each cross-bus path of the manifest: a call is
                            answered across, a consumer is reachable through
                            the import, a copy (source) has lag 0
  crossbus.refused.<path>   beside each path, an undeclared subject of the
                            other bus is refused by the server
  database.<key>            connects, reports its version
  database.replication      standbys streaming, lag (metal; else skipped)
  observability.prometheus  answers (skipped when the outputs name none)
  observability.grafana     answers (skipped when the outputs name none)
  probes.<name>             the manifest's probes: reply keys, caused event
  backups.<stream>          on demand only (--only backups): each `backup: true`
                            stream backed up, restored into a scratch stream,
                            verified, the scratch deleted
"""

GROUPS = (
    "nats",
    "jetstream",
    "roundtrip",
    "services",
    "metrics",
    "laws",
    "crossbus",
    "database",
    "observability",
    "probes",
    "backups",
)
ON_DEMAND = ("backups",)
"""Groups a run includes only when `--only` names them (or one of their checks)."""


@dataclass(frozen=True)
class Check:
    name: str
    run: Callable[[Context], Awaitable[Outcome]]
    needs: tuple[str, ...] = ()
    needs_answer: tuple[str, ...] = ()

    @property
    def group(self) -> str:
        return self.name.split(".", 1)[0]


def catalogue(manifest: Manifest, outputs: StackOutputs) -> list[Check]:
    """Every check for this manifest and these outputs, with what each depends on."""
    users = outputs.nats.credentials

    def connected(user: str) -> tuple[str, ...]:
        return (f"nats.connect.{user}",) if user in users else ()

    core_smoke = naming.smoke_user(manifest.core_bus)
    anchor = core_smoke if core_smoke in users else next(iter(users), "")
    reach = connected(anchor)
    checks = [
        *(
            Check(
                f"nats.connect.{user}",
                partial(nats_checks.connect, user=user),
                needs_answer=reach if user != anchor else (),
            )
            for user in users
        ),
        *(
            Check(
                f"nats.jetstream.{bus}",
                partial(nats_checks.jetstream, bus=bus),
                needs=connected(naming.smoke_user(bus)),
            )
            for bus in manifest.buses
        ),
        Check("nats.cluster", nats_checks.cluster, needs=connected(naming.SYSTEM_USER)),
        Check("nats.monitor", nats_checks.monitor, needs_answer=reach),
    ]
    for bus in manifest.buses:
        for obj in desired_state(manifest, bus, outputs.nats.cluster_size).objects:
            run = partial(jetstream_checks.declared, bus=bus, obj=obj)
            checks.append(
                Check(f"jetstream.{obj.kind}.{obj.name}", run, (f"nats.jetstream.{bus}",))
            )
    core_js = (f"nats.jetstream.{manifest.core_bus}",)
    checks += [
        Check("roundtrip.stream", roundtrip.stream, core_js),
        Check("roundtrip.kv", roundtrip.key_value, core_js),
        Check("roundtrip.object_store", roundtrip.object_store, core_js),
    ]
    names = list(dict.fromkeys([*manifest.services, *(s.name for s in outputs.services)]))
    for n in names:
        spec = manifest.services.get(n)
        run = partial(service_checks.service, name=n)
        if spec is not None and spec.role.value == "frontend":
            # a frontend only forwards requests to NATS: with no NATS there is nothing to check
            checks.append(Check(f"services.{n}", run, needs_answer=reach))
        else:
            needs = connected(naming.smoke_user(spec.bus)) if spec is not None else ()
            checks.append(Check(f"services.{n}", run, needs))
    checks += [
        Check(f"metrics.{s.name}", partial(metrics_checks.metrics, name=s.name))
        for s in outputs.services
        if s.metrics_url
    ]
    checks += [
        Check(
            f"laws.frontend.{user}",
            partial(laws_checks.frontend_cannot_emit, user=user),
            connected(user),
        )
        for user, cred in users.items()
        if cred.role == "frontend"
    ]
    checks += crossbus(manifest)
    checks += [
        Check(f"database.{key}", partial(database_checks.connects, key=key))
        for key in manifest.databases
    ]
    checks += [
        Check("database.replication", database_checks.replication),
        Check("observability.prometheus", observability_checks.prometheus),
        Check("observability.grafana", observability_checks.grafana),
    ]
    for p in manifest.probes:
        service = p.request.endpoint.split(".", 1)[0]
        spec = manifest.services.get(service)
        needs = (
            () if spec is None else (*connected(naming.smoke_user(spec.bus)), f"services.{service}")
        )
        checks.append(Check(f"probes.{p.name}", partial(probes.probe, spec=p), needs))
    for name, stream in manifest.streams.items():
        if stream.backup:
            needed = (naming.backup_user(stream.bus), naming.provisioning_user(stream.bus))
            drill = partial(backup_checks.drill_stream, stream=name)
            checks.append(
                Check(f"backups.{name}", drill, tuple(c for u in needed for c in connected(u)))
            )
    return checks


_CROSSBUS = {
    PathKind.CALL: crossbus_checks.call,
    PathKind.CONSUMER: crossbus_checks.consumer,
    PathKind.SOURCE: crossbus_checks.source,
}


def crossbus(manifest: Manifest) -> list[Check]:
    """Per cross-bus path the lint lets through: it crosses, and its neighbour is refused."""
    refused = refused_paths(manifest)
    checks = []
    for path in cross_paths(manifest):
        if path.path in refused:
            continue
        run = partial(_CROSSBUS[path.kind], path=path)
        checks.append(Check(f"crossbus.{path.kind.value}.{path.path}", run))
        refusal = partial(crossbus_checks.refused, path=path)
        checks.append(Check(f"crossbus.refused.{path.path}", refusal))
    return checks
