"""`deploykit validate`: load the manifest and report every problem with its field path."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from deploykit.cli import options
from deploykit.errors import ManifestError
from deploykit.manifest.fielddocs import field_list
from deploykit.manifest.load import load_manifest
from deploykit.manifest.model import Manifest

__all__ = ["load_or_report", "register"]

HELP = f"""Load deploykit.yaml and check it: types, units, NATS subjects, cross references.

On success prints a one-line summary and exits 0. On failure prints every problem as
`FILE: path.to.field: what is wrong (what is allowed)` and exits 2.

\b
The manifest's fields (`deploykit render manifest-docs` says what each means and allows):
{field_list()}
"""


def load_or_report(file: Path, as_json: bool) -> Manifest:
    """The manifest; when invalid, with --json its problems are printed as JSON (exit 2),
    otherwise the ManifestError goes on to the CLI's handler."""
    try:
        return load_manifest(file)
    except ManifestError as exc:
        if not as_json:
            raise
        problems = [
            {"file": exc.file, "path": p.path, "message": p.message, "allowed": p.allowed}
            for p in exc.problems
        ]
        typer.echo(json.dumps({"valid": False, "problems": problems}, indent=2))
        raise typer.Exit(2) from None


def register(app: typer.Typer) -> None:
    @app.command("validate", help=HELP)
    def validate(
        argument: Path | None = options.FILE_ARGUMENT,
        file_option: Path | None = options.FILE_OPTION,
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        file = options.manifest(argument, file_option)
        manifest = load_or_report(file, as_json)
        counts = {
            "buses": len(manifest.buses),
            "services": len(manifest.services),
            "streams": len(manifest.streams),
            "kv": len(manifest.kv),
            "object_stores": len(manifest.object_stores),
            "databases": len(manifest.databases),
        }
        if as_json:
            typer.echo(json.dumps({"valid": True, "system": manifest.system, **counts}, indent=2))
            return
        summary = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in counts.items())
        typer.echo(f"{file}: valid: system {manifest.system!r}: {summary}")
