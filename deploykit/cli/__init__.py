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

Each module has a `register(app)`; `main` imports only the one the command line names
(COMMANDS), so a command starts without importing the others. Each module only parses options,
calls the pure code and prints. Errors raised on purpose (DeploykitError) are printed as their
message alone and exit with their code; typer's own usage errors exit 2. No traceback is ever
shown for bad input.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import sys

import typer

from deploykit import __version__
from deploykit.errors import DeploykitError

__all__ = ["COMMANDS", "app", "build", "main"]

COMMANDS: dict[str, str] = {
    "validate": "validate",
    "lint": "lint",
    "render": "render",
    "nats": "nats",
    "dev": "dev",
    "smoke": "smoke",
    "bench": "bench",
    "contracts": "contracts",
    "metal": "metal",
    "backup": "backup",
    "restore": "backup",
    "new": "new",
}
"""Each top-level command → the module here that registers it (in the order of `--help`)."""


def _version(value: bool) -> None:
    if value:
        typer.echo(f"deploykit {__version__}")
        raise typer.Exit()


def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Deploy a NATS message-bus SaaS from one manifest."""


def build(command: str | None = None) -> typer.Typer:
    """The app with every command, or with only the module that registers `command`.

    A command imports what it needs and nothing more: `deploykit dev up` does not pay for
    the backup, metal or Pulumi modules (about a second on a busy machine)."""
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
    app.callback()(_root)
    modules = [COMMANDS[command]] if command in COMMANDS else dict.fromkeys(COMMANDS.values())
    for module in modules:
        importlib.import_module(f"deploykit.cli.{module}").register(app)
    return app


def __getattr__(name: str) -> typer.Typer:
    """`app`, every command registered, built on first use (tests and docs read it)."""
    if name == "app":
        built = globals()["app"] = build()
        return built
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    # at exit, before the interpreter's last collection: spare it a walk through every object
    # the command imported or made (0.3 to 2 s of a busy machine's time after the last line)
    atexit.register(gc.freeze)
    command = next((arg for arg in sys.argv[1:] if not arg.startswith("-")), None)
    gc.disable()  # importing the command makes many objects and no garbage: collections
    try:  # would walk them all, again and again (a tenth of the import's CPU)
        app = build(command)
    finally:
        gc.enable()
    try:
        app(standalone_mode=True)
    except DeploykitError as exc:
        typer.echo(str(exc), err=True)
        sys.exit(exc.exit_code)
