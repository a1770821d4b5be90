"""The `deploykit` command line: one module per command group, registered here.

options.py   effectful: the options every command spells the same way (-f, --stack, --outputs, -o)
             and writing what -o names
validate.py  effectful: `deploykit validate`, and the manifest argument every command shares
lint.py      effectful: `deploykit lint`
render.py    effectful: `deploykit render permissions | manifest-docs | asyncapi | diagram`
contracts.py effectful: `deploykit contracts diff | models`
metal.py     effectful: `deploykit metal artifacts fetch`
backup.py    effectful: `deploykit backup`, `deploykit backup drill`, `deploykit restore`
nats.py      effectful: `deploykit nats plan / apply`
dev.py       effectful: `deploykit dev up / status / logs / down`
smoke.py     effectful: `deploykit smoke`
bench.py     effectful: `deploykit bench`
new.py       effectful: `deploykit new service`

Each module only parses options, calls the pure code and prints. Errors raised on purpose
(DeploykitError) are printed as their message alone and exit with their code; typer's own usage
errors exit 2. No traceback is ever shown for bad input.
"""

from __future__ import annotations

import sys

import typer

from deploykit import __version__
from deploykit.cli import (
    backup,
    bench,
    contracts,
    dev,
    lint,
    metal,
    nats,
    new,
    render,
    smoke,
    validate,
)
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
contracts.register(app)
metal.register(app)
backup.register(app)
new.register(app)


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
