"""The checks of a smoke run, named, in the order they are reported (see `CATALOGUE_HELP`).

Names are `<group>.<what>`. Every check is independent of the others: they share
connections through the context, never results, so the runner starts them all at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

from deploykit.jetstream.desired import desired_state
from deploykit.manifest.model import Manifest
from deploykit.smoke import (
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

__all__ = ["CATALOGUE_HELP", "GROUPS", "Check", "catalogue"]

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
  database.<key>            connects, reports its version
  database.replication      standbys streaming, lag (metal; else skipped)
  observability.prometheus  answers (skipped when the outputs name none)
  observability.grafana     answers (skipped when the outputs name none)
  probes.<name>             the manifest's probes: reply keys, caused event
"""

GROUPS = (
    "nats",
    "jetstream",
    "roundtrip",
    "services",
    "metrics",
    "laws",
    "database",
    "observability",
    "probes",
)


@dataclass(frozen=True)
class Check:
    name: str
    run: Callable[[Context], Awaitable[Outcome]]

    @property
    def group(self) -> str:
        return self.name.split(".", 1)[0]


def catalogue(manifest: Manifest, outputs: StackOutputs) -> list[Check]:
    """Every check for this manifest and these outputs; each is independent of the others."""
    checks = [
        *(
            Check(f"nats.connect.{user}", partial(nats_checks.connect, user=user))
            for user in outputs.nats.credentials
        ),
        *(
            Check(f"nats.jetstream.{bus}", partial(nats_checks.jetstream, bus=bus))
            for bus in manifest.buses
        ),
        Check("nats.cluster", nats_checks.cluster),
        Check("nats.monitor", nats_checks.monitor),
    ]
    for bus in manifest.buses:
        for obj in desired_state(manifest, bus, outputs.nats.cluster_size).objects:
            run = partial(jetstream_checks.declared, bus=bus, obj=obj)
            checks.append(Check(f"jetstream.{obj.kind}.{obj.name}", run))
    checks += [
        Check("roundtrip.stream", roundtrip.stream),
        Check("roundtrip.kv", roundtrip.key_value),
        Check("roundtrip.object_store", roundtrip.object_store),
    ]
    names = list(dict.fromkeys([*manifest.services, *(s.name for s in outputs.services)]))
    checks += [Check(f"services.{n}", partial(service_checks.service, name=n)) for n in names]
    checks += [
        Check(f"metrics.{s.name}", partial(metrics_checks.metrics, name=s.name))
        for s in outputs.services
        if s.metrics_url
    ]
    checks += [
        Check(f"laws.frontend.{user}", partial(laws_checks.frontend_cannot_emit, user=user))
        for user, cred in outputs.nats.credentials.items()
        if cred.role == "frontend"
    ]
    checks += [
        Check(f"database.{key}", partial(database_checks.connects, key=key))
        for key in manifest.databases
    ]
    checks += [
        Check("database.replication", database_checks.replication),
        Check("observability.prometheus", observability_checks.prometheus),
        Check("observability.grafana", observability_checks.grafana),
    ]
    checks += [Check(f"probes.{p.name}", partial(probes.probe, spec=p)) for p in manifest.probes]
    return checks
