"""`deploykit dev`: run the whole system on this machine, as the manifest declares it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from deploykit.cli import options
from deploykit.errors import ConfigError
from deploykit.local.processes import tail
from deploykit.local.stack import LocalStack

__all__ = ["register"]

DirOption = typer.Option(
    Path(".deploykit"), "--dir", help="The state folder (pids, logs, data, outputs.json)."
)

HELP = """Run the system locally: a NATS cluster and PostgreSQL on loopback, rendered from the
same templates as the metal tier, the JetStream definitions applied, every service started
with its own credentials. State, logs and data live in .deploykit/ (0700; secrets 0600).

\b
  deploykit dev up        bring it up (idempotent; recovers after a crash)
  deploykit dev status    each process, its pid and ports
  deploykit dev logs      the logs (of one service with NAME)
  deploykit dev down      stop everything it started, keep the data (--wipe: remove it)
"""


def register(app: typer.Typer) -> None:
    dev = typer.Typer(help=HELP, no_args_is_help=True)
    app.add_typer(dev, name="dev")

    @dev.command("up")
    def up(
        file: Path = options.FILE,
        directory: Path = DirOption,
        nodes: int = typer.Option(
            3, "--nodes", min=1, max=5, help="NATS nodes (1 or 3 are usual)."
        ),
        nats_port: int | None = typer.Option(
            None, help="Client port of the first NATS node (default: free)."
        ),
        postgres_port: int | None = typer.Option(None, help="PostgreSQL port (default: free)."),
        timeout: float = typer.Option(60.0, help="Seconds to wait for every service to be ready."),
        as_json: bool = typer.Option(
            False, "--json", help="Print the stack outputs (secrets redacted) as JSON."
        ),
    ) -> None:
        """Bring the local stack up and wait until every service is ready."""
        err = Console(stderr=True, soft_wrap=True)  # a pipe gets whole lines, not 80 columns
        stack = LocalStack(directory, file, report=lambda line: err.print(line, highlight=False))
        started = time.monotonic()
        outputs = stack.up(
            nodes=nodes, nats_port=nats_port, postgres_port=postgres_port, timeout=timeout
        )
        if as_json:
            typer.echo(json.dumps(outputs.redacted(), indent=2))
            return
        err.print(f"[bold green]ready[/] in {time.monotonic() - started:.1f}s", highlight=False)
        for service in outputs.services:
            if service.url:
                err.print(f"  {service.name}: {service.url}", highlight=False)
        err.print(f"  outputs: {stack.dir.outputs_file} (use with `deploykit smoke --outputs`)")
        err.print("  stop with: deploykit dev down", highlight=False)

    @dev.command("down")
    def down(
        file: Path = options.FILE,
        directory: Path = DirOption,
        wipe: bool = typer.Option(False, "--wipe", help="Also delete the data and state."),
    ) -> None:
        """Stop every process the local stack started (and only those)."""
        stopped = LocalStack(directory, file).down(wipe=wipe)
        typer.echo(
            f"stopped {len(stopped)} process(es)" + (": " + ", ".join(stopped) if stopped else "")
        )
        if wipe:
            typer.echo(f"removed {directory}")

    @dev.command("status")
    def status(
        file: Path = options.FILE,
        directory: Path = DirOption,
        as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
    ) -> None:
        """Show each process, whether it runs, and its ports. Exit 1 when something is down."""
        rows = LocalStack(directory, file).status()
        if not rows:
            raise ConfigError(f"no local stack in {directory}: run `deploykit dev up`")
        if as_json:
            typer.echo(
                json.dumps(
                    [
                        {
                            "name": r.name,
                            "kind": r.kind,
                            "pid": r.pid,
                            "running": r.pid is not None,
                            "ports": list(r.ports),
                            "log": str(r.log),
                        }
                        for r in rows
                    ],
                    indent=2,
                )
            )
        else:
            table = Table("process", "kind", "state", "pid", "ports", "log")
            for r in rows:
                state = "[green]running[/]" if r.pid else "[red]stopped[/]"
                table.add_row(
                    r.name,
                    r.kind,
                    state,
                    str(r.pid or "-"),
                    " ".join(map(str, r.ports)),
                    str(r.log),
                )
            Console().print(table)
        if any(r.pid is None for r in rows):
            raise typer.Exit(1)

    @dev.command("logs")
    def logs(
        service: str | None = typer.Argument(
            None, help="A process name (see `dev status`); all by default."
        ),
        file: Path = options.FILE,
        directory: Path = DirOption,
        lines: int = typer.Option(
            40, "--lines", "-n", help="How many lines from the end of each log."
        ),
    ) -> None:
        """Show the last lines of the logs."""
        rows = LocalStack(directory, file).status()
        chosen = [r for r in rows if service in (None, r.name)]
        if not chosen:
            known = ", ".join(r.name for r in rows) or "none (run `deploykit dev up`)"
            raise ConfigError(f"no process named {service!r} (have: {known})")
        for r in chosen:
            if len(chosen) > 1:
                typer.echo(f"==> {r.name} ({r.log}) <==")
            typer.echo(tail(r.log, lines))
