"""`deploykit backup`, `deploykit backup drill` and `deploykit restore`: the event store, kept."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import typer
from nats.aio.client import Client

from deploykit.backup.drill import DrillReport, drill
from deploykit.backup.restore import RestoreReport, load_snapshot, restore_snapshot
from deploykit.backup.retention import prune
from deploykit.backup.snapshot import snapshot_stream
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

With --keep N, only the newest N snapshots of each stream backed up stay in --to (older ones
are removed once the new one is complete): what a scheduled backup uses as retention.

The target is --stack NAME (outputs through the Pulumi CLI), --outputs FILE, or the local stack.
Copy the folders to object storage with your usual tool (`aws s3 sync`, `rclone`).
"""

DRILL_HELP = """Prove the backups restore: back each stream up to a temporary folder, restore
it into a scratch stream, verify the scratch against the snapshot, delete the scratch.

The verification compares the message count, the first and last sequence and a checksum of
subjects and payloads. Exit 0 when every drill passes, 1 when one fails.
"""

RESTORE_HELP = """Restore a snapshot folder into a new stream, then verify it against the snapshot.

The new stream --into NAME holds the original subjects and sequences but listens only to
`deploykit.restore.NAME.>`, so it can sit beside the live stream without capturing its
traffic. A stream that already has that name is refused unless --allow-destroy (then it is
deleted first). A rerun after an interrupted restore starts over by itself. Exit 0 when the
restored stream matches the snapshot, 1 when it does not, 2 on bad input.
"""


JSON = typer.Option(False, "--json", help="Print the result as JSON.")

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
    to: Path = typer.Option(Path("backups"), "--to", help="The folder for the snapshots."),
    stream: list[str] = typer.Option([], "--stream", help="Back up this stream (repeatable)."),
    keep: int | None = typer.Option(
        None, "--keep", min=1, help="Keep the newest N snapshots of each stream, remove older."
    ),
    stack: str | None = options.STACK,
    outputs: Path | None = options.OUTPUTS,
    file: Path = options.FILE,
    as_json: bool = JSON,
) -> None:
    if ctx.invoked_subcommand is not None:
        return
    if str(to).startswith(("s3://", "gs://")):
        raise ConfigError(
            f"--to {to}: a local folder only; copy the snapshots to object storage afterwards"
        )
    manifest, found = _target(stack, outputs, file)
    names = _streams(manifest, stream)
    show = _progress(sys.stderr.isatty() and not as_json)

    async def work() -> list[dict[str, Any]]:
        done = []
        for name in names:
            bus = manifest.streams[name].bus
            nc = await _connection(found, backup_user(bus))
            try:
                folder, snap = await snapshot_stream(nc, manifest.system, bus, name, to, show)
            finally:
                await nc.close()
            removed = prune(to, name, keep) if keep else []
            done.append(
                {"folder": str(folder), **snap.model_dump(), "removed": sorted(map(str, removed))}
            )
        return done

    results = _run(work)
    if as_json:
        typer.echo(json.dumps(results, indent=2))
        return
    for r in results:
        typer.echo(
            f"{r['stream']}: {r['messages']:,} messages ({r['bytes']:,} bytes), sequences "
            f"{r['first_seq']}..{r['last_seq']}, {len(r['consumers'])} consumers → {r['folder']}"
        )


@backup_app.command("drill", help=DRILL_HELP)
def drill_command(
    stream: list[str] = typer.Option([], "--stream", help="Drill this stream (repeatable)."),
    stack: str | None = options.STACK,
    outputs: Path | None = options.OUTPUTS,
    file: Path = options.FILE,
    as_json: bool = JSON,
) -> None:
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
                    await drill(data, admin, manifest.system, bus, name, cluster_size(admin))
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
            typer.echo(
                f"{r.stream}: {verdict}: {r.messages:,} messages backed up in "
                f"{r.backup_seconds:.2f}s, restored into {r.scratch} and verified in "
                f"{r.restore_seconds:.2f}s (scratch deleted)"
            )
    raise typer.Exit(0 if all(r.passed for r in reports) else 1)


def restore_command(
    snapshot: Path = typer.Argument(..., help="A snapshot folder written by `deploykit backup`."),
    into: str = typer.Option(..., "--into", help="The new stream's name."),
    allow_destroy: bool = typer.Option(
        False, "--allow-destroy", help="Delete an existing stream named --into first."
    ),
    stack: str | None = options.STACK,
    outputs: Path | None = options.OUTPUTS,
    file: Path = options.FILE,
    as_json: bool = JSON,
) -> None:
    manifest, found = _target(stack, outputs, file)
    snap, _, _ = load_snapshot(snapshot)
    if snap.bus not in manifest.buses:
        raise ConfigError(f"{snapshot}: taken on bus {snap.bus!r}, which the manifest lacks")
    show = _progress(sys.stderr.isatty() and not as_json)

    async def work() -> RestoreReport:
        data = await _connection(found, backup_user(snap.bus))
        admin = await _connection(found, provisioning_user(snap.bus))
        try:
            return await restore_snapshot(
                data,
                admin,
                snapshot,
                into,
                allow_destroy=allow_destroy,
                max_replicas=cluster_size(admin),
                progress=show,
            )
        finally:
            await data.close()
            await admin.close()

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
