"""`deploykit contracts diff`: which contract changes since a git revision break which services;
`deploykit contracts models`: the typed models of the contracts, as a Python module."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import typer

from deploykit.cli import options
from deploykit.describe.compat import ContractChange, diff_contracts
from deploykit.errors import ConfigError
from deploykit.manifest.load import load_manifest, parse_manifest
from deploykit.manifest.model import Manifest
from deploykit.runtime.codegen import manifest_models

__all__ = ["register"]

contracts_app = typer.Typer(
    name="contracts",
    help="Message contracts: typed models for services; compare schemas across versions.",
    no_args_is_help=True,
)

DIFF_HELP = """Compare the manifest's contracts with an earlier version and name what breaks.

The earlier version is the manifest at GIT_REV (default HEAD: your uncommitted changes), or
the file given with --against. A change is breaking when readers on the old schema cannot read
what the new one allows (a required field removed, a type changed, enum values added) or readers
on the new schema cannot read what the old one allowed, such as a stream's history (a field
made required, a type changed, an enum narrowed). Adding an optional field is safe.

Exit codes: 0 nothing breaks, 1 a breaking change, 2 bad input.
"""


MODELS_HELP = """Write the typed models of the manifest's contracts: a Python module of pydantic
models, one per event, request and reply (`accounts.events.created` → AccountsEventsCreated,
`accounts.rpc.create` → AccountsRpcCreateRequest and AccountsRpcCreateReply).

A handler that annotates `event: Event[AccountsEventsCreated]` (or `Request[...]`) gets
`event.data` as that model; `emit`, `event.emit` and a handler's return value take models. The
runtime still checks every payload against its contract first; the models are its typed view.
Commit the module next to your services and regenerate it when a contract changes:

    deploykit contracts models -o apps/contracts.py

--check compares instead of writing (for CI). Exit codes: 0 written or current, 1 the file
differs from what the contracts give (--check), 2 bad input.
"""


def register(app: typer.Typer) -> None:
    app.add_typer(contracts_app)


@contracts_app.command("diff", help=DIFF_HELP)
def diff_command(
    rev: str = typer.Argument("HEAD", metavar="[GIT_REV]", help="The earlier version."),
    file: Path = options.FILE,
    against: Path | None = typer.Option(
        None, "--against", help="Compare with this manifest file instead of a git revision."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the changes as JSON."),
) -> None:
    new = load_manifest(file)
    old = load_manifest(against) if against else _at_revision(file, rev)
    changes = diff_contracts(old, new)
    if as_json:
        typer.echo(json.dumps([_as_dict(c) for c in changes], indent=2))
    else:
        typer.echo(_text(changes, str(against or rev)))
    raise typer.Exit(1 if any(c.breaking for c in changes) else 0)


@contracts_app.command("models", help=MODELS_HELP)
def models_command(
    file: Path = options.FILE,
    output: Path | None = options.OUTPUT,
    check: bool = typer.Option(
        False, "--check", help="Exit 1 when the -o FILE is not what the contracts give."
    ),
) -> None:
    source = manifest_models(load_manifest(file), file.name)
    if check:
        if output is None:
            raise ConfigError("--check needs -o FILE: the module to compare")
        current = output.read_text(encoding="utf-8") if output.is_file() else None
        if current != source:
            what = "is missing" if current is None else "is stale"
            typer.echo(f"{output} {what}: run deploykit contracts models -f {file} -o {output}")
            raise typer.Exit(1)
        typer.echo(f"{output} is current")
        return
    options.write_output(source, output)


def _at_revision(file: Path, rev: str) -> Manifest:
    """The manifest as committed at `rev` (schema files are read from the working tree)."""
    path = file.resolve()
    try:
        top = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=path.parent,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        shown = subprocess.run(
            ["git", "show", f"{rev}:{path.relative_to(top).as_posix()}"],
            cwd=top,
            capture_output=True,
            text=True,
            check=False,
        )
    except (OSError, subprocess.CalledProcessError):
        raise ConfigError(f"{file}: not in a git checkout; compare files with --against") from None
    if shown.returncode != 0:
        reason = shown.stderr.strip().splitlines()[-1:] or ["unknown"]
        raise ConfigError(f"{file} at {rev}: {reason[0]}")
    return parse_manifest(shown.stdout, f"{file}@{rev}")


def _as_dict(change: ContractChange) -> dict[str, object]:
    return {
        "subject": change.subject,
        "part": change.part,
        "path": change.path,
        "change": change.what,
        "direction": change.direction,
        "breaking": change.breaking,
        "breaks": list(change.breaks),
    }


def _text(changes: list[ContractChange], base: str) -> str:
    if not changes:
        return f"contracts: no changes since {base}"
    lines = []
    for c in changes:
        mark = "BREAKING" if c.breaking else "safe    "
        whom = f" (breaks: {', '.join(c.breaks)})" if c.breaks else ""
        lines.append(f"{mark} {c.subject} {c.part} {c.path}: {c.what}{whom}")
    breaking = sum(c.breaking for c in changes)
    lines.append(f"contracts: {breaking} breaking, {len(changes) - breaking} safe since {base}")
    return "\n".join(lines)
