"""The exports and imports between accounts, derived from the manifest's cross-bus paths.

Pure. Each bus exports exactly what other buses use of it, each export only to the accounts
that import it, and each bus imports exactly what its services and streams declared; never a
wildcard of a whole account. A path the lint refuses (DK601, DK602) gets nothing. Beside the
declared paths, `deploykit bench` gets its own between the same pairs of buses, for the two
buses' smoke users only and on the kit's subjects (`crossbus.bench_paths`): what crossing an
account costs is measured without touching a service. Per path (`manifest/crossbus.py`):

- call: the endpoint's subject as a service export (singleton replies), imported under the
  same subject; the reply crosses back through the import's response mapping to the caller's
  own inbox, so no reply subject is exported.
- consumer: the three subjects of one pull consumer (`CONSUMER.INFO`, `CONSUMER.MSG.NEXT` with
  a stream of replies, `$JS.ACK.<stream>.<consumer>.>`); the API subjects are imported under
  `deploykit.bus.<bus>.API` (the importer's `$JS.API` is its own JetStream), acks under their
  own names.
- source: what the importing stream's JetStream needs to create its source consumer
  (`CONSUMER.CREATE.<stream>`, or `.<name>.<filter>` with a filter, as nats-server 2.10+ sends
  it) and answer its flow control (`$JS.FC.<stream>.>`), and the delivery subject
  `deploykit.deliver.<bus>.<stream>.>` as a stream export.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pydantic import BaseModel, ConfigDict

from deploykit.laws.rules import refused_paths
from deploykit.manifest import naming
from deploykit.manifest.crossbus import CrossPath, PathKind, bench_paths, cross_paths
from deploykit.manifest.model import Manifest

__all__ = ["Export", "Import", "Links", "bench_links", "compile_links"]

API = "$JS.API"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Export(_Frozen):
    """A subject an account lets `accounts` import: a service (requests) or a stream."""

    kind: Literal["service", "stream"]
    subject: str
    accounts: tuple[str, ...]
    response: Literal["singleton", "stream"] = "singleton"


class Import(_Frozen):
    """A subject of `account` made reachable in the importing account, as `to` if renamed."""

    kind: Literal["service", "stream"]
    account: str
    subject: str
    to: str | None = None


class Links(_Frozen):
    """One account's exports and imports."""

    exports: tuple[Export, ...] = ()
    imports: tuple[Import, ...] = ()


def compile_links(manifest: Manifest) -> dict[str, Links]:
    """Bus → its exports and imports (every bus present, most with none)."""
    exports: dict[str, dict[tuple[str, str], Export]] = {bus: {} for bus in manifest.buses}
    imports: dict[str, dict[tuple[str, str, str], Import]] = {bus: {} for bus in manifest.buses}
    kept = _kept(manifest)
    for path in [*kept, *bench_paths(kept, manifest.core_bus)]:
        for export, imported in _pairs(path):
            key = (export.kind, export.subject)
            known = exports[path.exporter].get(key)
            accounts = (*known.accounts, path.importer) if known else (path.importer,)
            exports[path.exporter][key] = export.model_copy(
                update={"accounts": tuple(dict.fromkeys(accounts))}
            )
            imports[path.importer][(imported.kind, imported.account, imported.subject)] = imported
    return {
        bus: Links(exports=tuple(exports[bus].values()), imports=tuple(imports[bus].values()))
        for bus in manifest.buses
    }


def bench_links(manifest: Manifest) -> list[CrossPath]:
    """The paths `deploykit bench` has between smoke users (those `compile_links` links)."""
    return bench_paths(_kept(manifest), manifest.core_bus)


def _kept(manifest: Manifest) -> list[CrossPath]:
    refused = refused_paths(manifest)
    return [path for path in cross_paths(manifest) if path.path not in refused]


def _pairs(path: CrossPath) -> Iterator[tuple[Export, Import]]:
    """Each export of the path, with the import that uses it."""
    source = naming.account(path.exporter)
    match path.kind:
        case PathKind.CALL:
            assert path.subject
            yield (
                _service(path.subject),
                Import(kind="service", account=source, subject=path.subject),
            )
        case PathKind.CONSUMER:
            stream, consumer = path.stream, path.consumer
            yield from _api(path.exporter, f"CONSUMER.INFO.{stream}.{consumer}")
            yield from _api(path.exporter, f"CONSUMER.MSG.NEXT.{stream}.{consumer}", "stream")
            ack = f"$JS.ACK.{stream}.{consumer}.>"
            yield _service(ack), Import(kind="service", account=source, subject=ack)
        case PathKind.SOURCE:
            stream = path.stream
            create = f"CONSUMER.CREATE.{stream}" + (f".*.{path.subject}" if path.subject else "")
            yield from _api(path.exporter, create)
            flow = f"$JS.FC.{stream}.>"
            yield _service(flow), Import(kind="service", account=source, subject=flow)
            assert path.target
            deliver = f"{naming.source_deliver(path.importer, path.target)}.>"
            yield (
                Export(kind="stream", subject=deliver, accounts=()),
                Import(kind="stream", account=source, subject=deliver),
            )


def _service(subject: str, response: Literal["singleton", "stream"] = "singleton") -> Export:
    return Export(kind="service", subject=subject, accounts=(), response=response)


def _api(
    exporter: str, operation: str, response: Literal["singleton", "stream"] = "singleton"
) -> Iterator[tuple[Export, Import]]:
    subject = f"{API}.{operation}"
    yield (
        _service(subject, response),
        Import(
            kind="service",
            account=naming.account(exporter),
            subject=subject,
            to=f"{naming.crossbus_api(exporter)}.{operation}",
        ),
    )
