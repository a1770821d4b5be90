"""`deploykit backup`, `deploykit backup drill` and `deploykit restore`: the event store, kept."""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from collections.abc import Callable, Coroutine
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import typer
from nats.aio.client import Client

from deploykit.backup.drill import DrillReport, drill, drill_stored
from deploykit.backup.fromsql import sql_source
from deploykit.backup.restore import RestoreReport, Source, restore, snapshot_source
from deploykit.backup.snapshot import snapshot_into
from deploykit.backup.store import S3Settings, local_snapshot, open_store, prune
from deploykit.cli import options
from deploykit.errors import ConfigError
from deploykit.jetstream.api import cluster_size, connect
from deploykit.manifest.load import load_manifest
from deploykit.manifest.model import Manifest
from deploykit.manifest.naming import backup_user, provisioning_user
from deploykit.stack.outputs import StackOutputs
from deploykit.stack.target import resolve_outputs

__all__ = ["register"]

T = TypeVar("T")

BACKUP_HELP = """Back up the streams marked `backup: true` (or those named with --stream).

Each stream goes to its own folder under --to: its config, its durable consumers and their
state, and every message up to the last sequence it had when the backup started, closed by a
manifest with sequences, counts and checksums. A folder is written as `NAME.partial` and
renamed when complete, so an interrupted backup never looks whole; run it again. It reads as
the bus's backup user, which cannot write to any stream: production is never touched.

--to s3://BUCKET/PREFIX streams each snapshot into an S3-compatible bucket instead (objects
under PREFIX/NAME/, the manifest put last, so an interrupted upload never looks whole); the
credentials, region and endpoint come from the standard AWS_* variables (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL_S3) or --endpoint and --region.
--keep N then deletes the oldest complete snapshots of each stream beyond the newest N.
A scheduled backup uses --keep as its retention.

The target is --stack NAME (outputs through the Pulumi CLI), --outputs FILE, or the local stack.
"""

DRILL_HELP = """Prove the backups restore: back each stream up to a temporary folder, restore
it into a scratch stream, verify the scratch against the snapshot, delete the scratch.
With --from (a folder or s3://BUCKET/PREFIX, as given to `backup --to`), drill each stream's
newest complete snapshot kept there instead of taking a new one: the backups a schedule wrote.

The verification compares the message count, the first and last sequence and a checksum of
subjects and payloads. Exit 0 when every drill passes, 1 when one fails.
"""

RESTORE_HELP = """Restore a snapshot into a new stream, then verify it against the snapshot.

A snapshot in a bucket (s3://BUCKET/PREFIX/NAME, as `deploykit backup --to s3://...` printed it)
is downloaded to a temporary folder first, with the same AWS_* variables as the backup.

The new stream --into NAME holds the original subjects and sequences but listens only to
`deploykit.restore.NAME.>`, so it can sit beside the live stream without capturing its
traffic. A stream that already has that name is refused unless --allow-destroy (then it is
deleted first). A rerun after an interrupted restore starts over by itself. Exit 0 when the
restored stream matches the snapshot, 1 when it does not, 2 on bad input.

With --from-sql --stream NAME (no SNAPSHOT), the events come from the SQL copy that the
archiver keeps (`backup.sql` in deploykit.yaml) instead: the stream's config from the manifest,
its events as the table holds them at the start, verified the same way against the table.
"""


JSON = typer.Option(False, "--json", help="Print the result as JSON.")
ENDPOINT = typer.Option(
    None, "--endpoint", help="S3: the endpoint URL (default: AWS_ENDPOINT_URL_S3, else AWS)."
)
REGION = typer.Option(None, "--region", help="S3: the region (default: AWS_REGION).")

backup_app = typer.Typer(
    name="backup",
    help="Back up streams; `backup drill` proves they restore.",
    invoke_without_command=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(backup_app)
    app.command("restore", help=RESTORE_HELP)(restore_command)


def _run(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(work())


def _target(stack: str | None, outputs: Path | None, file: Path) -> tuple[Manifest, StackOutputs]:
    manifest = load_manifest(file)
    found, _ = resolve_outputs(stack, outputs, file.resolve().parent)
    return manifest, found


def _streams(manifest: Manifest, named: list[str]) -> list[str]:
    unknown = [s for s in named if s not in manifest.streams]
    if unknown:
        raise ConfigError(
            f"--stream {unknown[0]}: not a stream of the manifest "
            f"(declared: {', '.join(manifest.streams)})"
        )
    chosen = named or [n for n, s in manifest.streams.items() if s.backup]
    if not chosen:
        raise ConfigError("no stream is marked `backup: true`; name streams with --stream")
    return chosen


async def _connection(outputs: StackOutputs, user: str) -> Client:
    return await connect(",".join(outputs.nats.urls), outputs.credential(user))


def _progress(enabled: bool) -> Callable[[str, int, int], None] | None:
    if not enabled:
        return None

    def show(name: str, done: int, total: int) -> None:
        share = f" ({done * 100 // total}%)" if total else ""
        sys.stderr.write(f"\r{name}: {done:,} of {total:,} messages{share}   ")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


@backup_app.callback(help=BACKUP_HELP)
def backup_command(
    ctx: typer.Context,
    to: str = typer.Option(
        "backups", "--to", help="A folder, or s3://BUCKET/PREFIX, for the snapshots."
    ),
    keep: int | None = typer.Option(
        None,
        "--keep",
        min=1,
        help="Then delete each stream's complete snapshots beyond the newest N.",
    ),
    stream: list[str] = typer.Option([], "--stream", help="Back up this stream (repeatable)."),
    endpoint: str | None = ENDPOINT,
    region: str | None = REGION,
    stack: str | None = options.STACK,
    outputs: Path | None = options.OUTPUTS,
    file: Path = options.FILE,
    as_json: bool = JSON,
) -> None:
    if ctx.invoked_subcommand is not None:
        return
    store = open_store(to, S3Settings(endpoint=endpoint, region=region))
    manifest, found = _target(stack, outputs, file)
    names = _streams(manifest, stream)
    show = _progress(sys.stderr.isatty() and not as_json)

    async def work() -> list[dict[str, Any]]:
        done = []
        for name in names:
            bus = manifest.streams[name].bus
            nc = await _connection(found, backup_user(bus))
            try:
                where, snap = await snapshot_into(nc, manifest.system, bus, name, store, show)
            finally:
                await nc.close()
            gone = prune(store, name, keep, where.rsplit("/", 1)[-1]) if keep else []
            removed = [f"{store.location}/{n}" for n in gone]
            done.append({"folder": where, **snap.model_dump(), "removed": removed})
        return done

    results = _run(work)
    if as_json:
        typer.echo(json.dumps(results, indent=2))
        return
    for r in results:
        typer.echo(
            f"{r['stream']}: {r['messages']:,} messages ({r['bytes']:,} bytes), sequences "
            f"{r['first_seq']}..{r['last_seq']}, {len(r['consumers'])} consumers → {r['folder']}"
            + (f" (deleted {len(r['removed'])} older)" if r["removed"] else "")
        )


@backup_app.command("drill", help=DRILL_HELP)
def drill_command(
    stream: list[str] = typer.Option([], "--stream", help="Drill this stream (repeatable)."),
    source: str | None = typer.Option(
        None, "--from", help="Drill the newest snapshot kept here (a folder or s3://...)."
    ),
    endpoint: str | None = ENDPOINT,
    region: str | None = REGION,
    stack: str | None = options.STACK,
    outputs: Path | None = options.OUTPUTS,
    file: Path = options.FILE,
    as_json: bool = JSON,
) -> None:
    store = open_store(source, S3Settings(endpoint=endpoint, region=region)) if source else None
    manifest, found = _target(stack, outputs, file)
    names = _streams(manifest, stream)

    async def work() -> list[DrillReport]:
        reports = []
        for name in names:
            bus = manifest.streams[name].bus
            data = await _connection(found, backup_user(bus))
            admin = await _connection(found, provisioning_user(bus))
            try:
                reports.append(
                    await drill_stored(data, admin, store, name, cluster_size(admin))
                    if store
                    else await drill(data, admin, manifest.system, bus, name, cluster_size(admin))
                )
            finally:
                await data.close()
                await admin.close()
        return reports

    reports = _run(work)
    if as_json:
        typer.echo(json.dumps([{**asdict(r), "passed": r.passed} for r in reports], indent=2))
    else:
        for r in reports:
            verdict = "pass" if r.passed else "FAIL: " + "; ".join(r.problems)
            taken = f"of {r.snapshot} fetched" if r.snapshot else "backed up"
            typer.echo(
                f"{r.stream}: {verdict}: {r.messages:,} messages {taken} in "
                f"{r.backup_seconds:.2f}s, restored into {r.scratch} and verified in "
                f"{r.restore_seconds:.2f}s (scratch deleted)"
            )
    raise typer.Exit(0 if all(r.passed for r in reports) else 1)


def _archive_url(outputs: StackOutputs) -> str:
    url = outputs.database.archive_url if outputs.database else None
    if not url:
        raise ConfigError(
            "restore --from-sql: the stack outputs name no SQL copy (database.archive_url); "
            "turn on `backup: {sql: true}` in deploykit.yaml and deploy (or `deploykit dev up`)"
        )
    return url


def restore_command(
    snapshot: str | None = typer.Argument(
        None,
        help="A snapshot folder, or s3://BUCKET/PREFIX/NAME, written by `deploykit backup` "
        "(not with --from-sql).",
    ),
    into: str = typer.Option(..., "--into", help="The new stream's name."),
    from_sql: bool = typer.Option(
        False, "--from-sql", help="Replay the SQL copy of --stream instead of a snapshot."
    ),
    stream: str | None = typer.Option(
        None, "--stream", help="With --from-sql: the stream whose SQL copy to replay."
    ),
    allow_destroy: bool = typer.Option(
        False, "--allow-destroy", help="Delete an existing stream named --into first."
    ),
    stack: str | None = options.STACK,
    outputs: Path | None = options.OUTPUTS,
    file: Path = options.FILE,
    endpoint: str | None = ENDPOINT,
    region: str | None = REGION,
    as_json: bool = JSON,
) -> None:
    if from_sql == (snapshot is not None):
        raise ConfigError("restore: give a SNAPSHOT folder, or --from-sql --stream NAME (not both)")
    if from_sql and not stream:
        raise ConfigError("restore --from-sql: --stream NAME is required (the stream to replay)")
    if stream and not from_sql:
        raise ConfigError("restore: --stream goes with --from-sql; a snapshot names its stream")
    manifest, found = _target(stack, outputs, file)
    show = _progress(sys.stderr.isatty() and not as_json)

    async def replay(bus: str, source: Source) -> RestoreReport:
        data = await _connection(found, backup_user(bus))
        admin = await _connection(found, provisioning_user(bus))
        try:
            return await restore(
                data,
                admin,
                source,
                into,
                allow_destroy=allow_destroy,
                max_replicas=cluster_size(admin),
                progress=show,
            )
        finally:
            await data.close()
            await admin.close()

    async def work() -> RestoreReport:
        if snapshot is not None:
            with tempfile.TemporaryDirectory(prefix="deploykit-restore-") as scratch:
                settings = S3Settings(endpoint=endpoint, region=region)
                source = snapshot_source(local_snapshot(snapshot, settings, Path(scratch)))
                if source.manifest.bus not in manifest.buses:
                    raise ConfigError(
                        f"{snapshot}: taken on bus {source.manifest.bus!r}, which the manifest "
                        "lacks"
                    )
                return await replay(source.manifest.bus, source)
        assert stream is not None
        async with sql_source(_archive_url(found), manifest, stream) as copy:
            return await replay(copy.manifest.bus, copy)

    report = _run(work)
    if as_json:
        typer.echo(json.dumps({**asdict(report), "verified": report.verified}, indent=2))
    elif report.verified:
        typer.echo(
            f"restored {report.stream} into {report.into}: {report.messages:,} messages, "
            f"sequences {report.first_seq}..{report.last_seq}, "
            f"{len(report.consumers)} consumers, verified in {report.seconds:.2f}s"
            + (f" ({report.gaps_closed} interior gaps closed up)" if report.gaps_closed else "")
        )
    else:
        typer.echo(f"restored {report.stream} into {report.into}, but it does not match:", err=True)
        for problem in report.problems:
            typer.echo(f"  {problem}", err=True)
    raise typer.Exit(0 if report.verified else 1)
