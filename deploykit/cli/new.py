"""`deploykit new service`: scaffold a service on the runtime and declare it."""

from __future__ import annotations

from pathlib import Path

import typer

from deploykit.manifest.load import DEFAULT_MANIFEST
from deploykit.manifest.model import ConsumeMode, Role
from deploykit.scaffold.plan import NewService
from deploykit.scaffold.write import create_service

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    new = typer.Typer(help="Create things the manifest describes.", no_args_is_help=True)
    app.add_typer(new, name="new")

    @new.command("service")
    def service(
        name: str = typer.Argument(..., help="The service's name (lowercase, digits, -)."),
        role: Role = typer.Option(..., "--role", help="frontend, rpc or worker."),
        consumes: str | None = typer.Option(None, "--consumes", help="A worker's stream."),
        mode: ConsumeMode = typer.Option(ConsumeMode.QUEUE, "--mode", help="queue or fanout."),
        emits: str | None = typer.Option(None, "--emits", help="An event subject it emits."),
        calls: str | None = typer.Option(
            None, "--calls", help="SERVICE.ENDPOINT a frontend calls."
        ),
        package: str = typer.Option("services", "--package", help="Where the code goes."),
        file: Path = typer.Option(Path(DEFAULT_MANIFEST), "--file", "-f", help="The manifest."),
    ) -> None:
        """Write a small runnable service on the runtime (code, test, Dockerfile) and add it to
        the manifest, keeping its comments. Refused, with nothing written, if the laws refuse
        it. Then `deploykit dev up` runs it and `deploykit smoke` checks it."""
        spec = NewService(name, role, consumes, mode, emits, calls, package)
        for path in create_service(file, spec):
            typer.echo(f"wrote {path}")
