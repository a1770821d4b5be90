"""`deploykit bench`: measure a deployed target from its stack outputs, as its smoke user."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from deploykit.bench import BenchResult, BenchSettings, Mode
from deploykit.cli import options
from deploykit.errors import ConfigError
from deploykit.laws.exports import bench_links
from deploykit.manifest import naming
from deploykit.manifest.crossbus import CrossPath
from deploykit.manifest.load import load_manifest
from deploykit.manifest.units import parse_duration, parse_size
from deploykit.stack.target import resolve_outputs

__all__ = ["register"]

HELP = f"""Measure how much a deployed target takes (NATS core, services, JetStream, KV, the database) from its stack outputs, as the smoke user of the core bus, on the smoke stream and bucket only: subjects and keys are named after the run and removed when it ends; the database modes use a table of their own, created and dropped by the run.

\b
Modes (--mode, repeatable or comma-separated; all by default):
  pubsub        core pub/sub, --clients pairs, 1:1
  fanout        core, 1 publisher to --subscribers subscribers
  service       request/reply through a NATS Service that bench
                starts (--responders): 1 requester, then
                --requesters spread over --clients; latency
                percentiles. Where the smoke user may not answer
                requests: request/reply answered by nats-server
                itself (a direct get of a smoke KV key) instead.
  js-pub-sync   JetStream publish, each awaiting its ack
  js-pub-async  JetStream publish, up to --window acks pending
  js-pull       1 durable pull consumer shared by --clients
  js-ordered    an ordered consumer per client, reading all
  kv-put        KV put, each awaiting its ack
  kv-get        KV get of random keys among --keys
  db-insert     1 insert per transaction
  db-select     1 primary-key select per transaction
  service-crossbus
                request/reply across each pair of buses a call
                joins: the called bus's smoke user answers, on
                its own bus (the baseline), then from the calling
                bus through its import
  js-pull-crossbus
                js-pull on the core bus (the baseline), then from
                each bus that consumes core events, through the
                imported JetStream API
  js-copy-crossbus
                a stream copying the seeded smoke messages on the
                core bus (the baseline), then on each bus that
                copies core events (`sources`), through its imports

The cross-bus figures are printed beside their baseline with the ratio: what crossing an account costs.

Each mode runs --clients worker processes (default: the number of cores) and adds their results up as `nats bench` does. A phase ends after --msgs operations or --duration seconds, whichever comes first.

The manifest (-f) says where the Pulumi project is, for --stack, and which buses the cross-bus modes cross (its `calls` and `consumes` of another bus).
{options.TARGET_HELP}

Exit 0 when every count adds up (sent = received, no errors), 1 when one does not, 2 on bad input or an unreachable target.
"""


class _RichProgress:
    """One transient bar per phase on stderr: operations done (of --msgs) and time elapsed."""

    def __init__(self, console: Console) -> None:
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.task: TaskID | None = None
        self.started = 0.0
        self.duration = 0.0

    def begin(self, label: str, total: int, duration: float) -> None:
        self.bar.start()
        self.task = self.bar.add_task(f"{label} (≤ {duration:g}s)", total=total)

    def update(self, done: int) -> None:
        if self.task is not None:
            self.bar.update(self.task, completed=done)

    def end(self) -> None:
        if self.task is not None:
            self.bar.remove_task(self.task)
            self.task = None
        self.bar.stop()


def _modes(values: list[str]) -> tuple[Mode, ...]:
    chosen: list[Mode] = []
    for value in (v.strip() for item in values for v in item.split(",")):
        try:
            chosen.append(Mode(value))
        except ValueError:
            allowed = ", ".join(m.value for m in Mode)
            raise ConfigError(f"--mode {value}: not a mode (one of {allowed})") from None
    return tuple(dict.fromkeys(chosen))


def _settings(**values: object) -> BenchSettings:
    given = {k: v for k, v in values.items() if v is not None}
    try:
        return BenchSettings(**given)  # type: ignore[arg-type]  # the CLI's raw values; pydantic validates them
    except ValidationError as exc:
        lines = [
            f"--{'.'.join(str(p) for p in e['loc'])}: {e['msg']}".replace("_", "-")
            for e in exc.errors()
        ]
        raise ConfigError("\n".join(lines)) from None


def _parsed(option: str, value: str | None, parse: Callable[[object], float]) -> float | None:
    """A duration or size as typed: a plain number (seconds, bytes) or with its unit."""
    if value is None:
        return None
    try:
        return parse(float(value) if value.replace(".", "", 1).isdigit() else value)
    except ValueError as exc:
        raise ConfigError(f"{option} {value}: {exc}") from None


def _crossings(file: Path) -> list[CrossPath]:
    """Bench's paths between buses, from the manifest; none without one (a target measured
    from its outputs alone)."""
    if not file.exists():
        return []
    return bench_links(load_manifest(file))


def register(app: typer.Typer) -> None:
    @app.command("bench", help=HELP)
    def bench(
        file: Path = options.FILE,
        stack: str | None = options.STACK,
        outputs: Path | None = options.OUTPUTS,
        mode: list[str] = typer.Option([], "--mode", "-m", help="Modes to run (default: all)."),
        clients: int | None = typer.Option(
            None,
            "--clients",
            "-c",
            help="Worker processes per role (default: the number of cores).",
        ),
        msgs: int | None = typer.Option(
            None,
            "--msgs",
            "-n",
            help="Operations per phase, shared by the clients (default: 100000).",
        ),
        duration: str | None = typer.Option(
            None, "--duration", "-d", help='Most seconds per phase, e.g. 5 or "500ms" (default: 5).'
        ),
        size: str | None = typer.Option(
            None,
            "--size",
            "-s",
            help='Payload size of messages, values and rows, e.g. 16 or "16KiB" (default: 128).',
        ),
        subscribers: int | None = typer.Option(
            None, help="fanout subscribers (default: --clients)."
        ),
        responders: int | None = typer.Option(
            None, help="service responders (default: --clients)."
        ),
        requesters: int | None = typer.Option(
            None, help="Concurrent requesters of the second service phase (default: 16)."
        ),
        window: int | None = typer.Option(
            None, help="js-pub-async: most acks outstanding per client (default: 500)."
        ),
        batch: int | None = typer.Option(None, help="js-pull: messages per fetch (default: 500)."),
        keys: int | None = typer.Option(
            None, help="kv-put/kv-get keys per client, db-select rows (default: 1000)."
        ),
        user: str | None = typer.Option(
            None, help="The smoke user (default: the one of the core bus)."
        ),
        database: str | None = typer.Option(
            None, help="Database key of the outputs (default: the first)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
        plot_file: Path | None = typer.Option(
            None, "--plot", help="Write a PNG chart: throughput and latency distribution."
        ),
        no_progress: bool = typer.Option(False, "--no-progress", help="No progress display."),
    ) -> None:
        settings = _settings(
            modes=_modes(mode) if mode else None,
            clients=clients,
            msgs=msgs,
            duration=_parsed("--duration", duration, parse_duration),
            size=_parsed("--size", size, parse_size),
            subscribers=subscribers,
            responders=responders,
            requesters=requesters,
            window=window,
            batch=batch,
            keys=keys,
        )
        from deploykit.bench.runner import run_bench  # the heavy imports, only when bench runs
        from deploykit.bench.target import bench_target, smoke_targets

        stack_outputs, _ = resolve_outputs(stack, outputs, file.resolve().parent)
        if stack_outputs.database is None or not stack_outputs.database.urls:
            if mode and any(m.needs_database for m in settings.modes):
                raise ConfigError("the stack outputs give no database for the db modes")
            settings = settings.model_copy(
                update={"modes": tuple(m for m in settings.modes if not m.needs_database)}
            )
        err = Console(stderr=True)
        progress = _RichProgress(err) if err.is_terminal and not no_progress else None
        need_db = any(m.needs_database for m in settings.modes)
        crossings = _crossings(file) if any(m.crosses_buses for m in settings.modes) else []
        users = {naming.smoke_user(b) for p in crossings for b in (p.importer, p.exporter)}
        started = time.monotonic()
        with (
            bench_target(stack_outputs, user, database, need_db) as (target, summary),
            smoke_targets(stack_outputs, users) as others,
        ):
            result = run_bench(settings, target, summary, progress, crossings, others)
        _show(result, as_json, plot_file, err)
        if not as_json:
            err.print(f"took {time.monotonic() - started:.1f}s", highlight=False)
        if not result.ok:
            raise typer.Exit(1)


def _show(result: BenchResult, as_json: bool, plot_file: Path | None, err: Console) -> None:
    from deploykit.bench.report import notes, plot, table, to_json

    if plot_file is not None:
        plot(result, plot_file)
        err.print(f"chart: {plot_file}", highlight=False)
    if as_json:
        typer.echo(to_json(result))
        return
    out = Console() if sys.stdout.isatty() else Console(width=132)
    out.print(table(result))
    for line in notes(result):
        out.print(f"  {line}", highlight=False, markup=False)
