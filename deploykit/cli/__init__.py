"""The `deploykit` command line: one module per command group, registered here.

Errors raised on purpose (DeploykitError) are printed as their message alone and exit with
their code; typer's own usage errors exit 2. No traceback is ever shown for bad input.
"""

from __future__ import annotations

import sys

import typer

from deploykit import __version__
from deploykit.cli import bench, dev, lint, metal, nats, render, smoke, validate
from deploykit.errors import DeploykitError

__all__ = ["app", "main"]

app = typer.Typer(
    name="deploykit",
    help=(
        "Deploy a NATS message-bus SaaS from one manifest (deploykit.yaml).\n\n"
        "validate and lint the manifest; render what it compiles to; plan and apply JetStream "
        "definitions; run the whole system locally with `dev`; prove a deployment with `smoke`."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
validate.register(app)
lint.register(app)
render.register(app)
nats.register(app)
dev.register(app)
smoke.register(app)
bench.register(app)
metal.register(app)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"deploykit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Deploy a NATS message-bus SaaS from one manifest."""


def main() -> None:
    try:
        app(standalone_mode=True)
    except DeploykitError as exc:
        typer.echo(str(exc), err=True)
        sys.exit(exc.exit_code)
