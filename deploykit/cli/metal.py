"""`deploykit metal ...`: tools for the metal stack that run outside `pulumi up`.

deploykit metal artifacts fetch DIR    what air-gapped hosts install, fetched once
"""

from __future__ import annotations

from pathlib import Path

import typer

from deploykit.metal.artifacts import catalogue
from deploykit.metal.fetch import DEFAULT_EXPORTER, fetch_artifacts

__all__ = ["register"]

FETCH_HELP = """Fetch everything the metal tier installs on its hosts into DIR, with an index of
sha256 checksums (DIR/artifacts.json). Point the stack at it with `artifacts: {files: DIR}`
(uploaded over SSH) or serve DIR over HTTP and use `artifacts: {mirror: URL}`.

Run it on a Debian machine of the hosts' release that reaches PyPI, the Go module proxy and
Debian's mirror. Debian packages come with their dependencies; give a host's package list
(`scp HOST:/var/lib/dpkg/status base-status`) with --base-status to leave out what the hosts
already have. What cannot be fetched is listed with the reason, and the command exits 1.
"""


def register(app: typer.Typer) -> None:
    metal = typer.Typer(help="Tools for the metal stack (hosts over SSH).", no_args_is_help=True)
    artifacts = typer.Typer(help="Artifacts for hosts without the internet.", no_args_is_help=True)
    metal.add_typer(artifacts, name="artifacts")
    app.add_typer(metal, name="metal")

    @artifacts.command("fetch", help=FETCH_HELP)
    def fetch(
        folder: Path = typer.Argument(..., metavar="DIR", help="Where the files go."),
        suite: str = typer.Option("bookworm", help="The hosts' Debian release."),
        postgres: str = typer.Option("", help="PostgreSQL major version (default: the release's)."),
        base_status: Path | None = typer.Option(
            None, "--base-status", exists=True, dir_okay=False, help="A host's dpkg status file."
        ),
        exporter_version: str = typer.Option(DEFAULT_EXPORTER, help="prometheus-nats-exporter."),
        only: list[str] = typer.Option([], "--only", help="Only these artifacts (repeatable)."),
    ) -> None:
        index = fetch_artifacts(
            folder,
            suite=suite,
            postgres=postgres,
            names=only,
            base_status=base_status,
            exporter_version=exporter_version,
            report=typer.echo,
        )
        for name, entry in index.artifacts.items():
            size = sum(f.size for f in entry.files) / 1e6
            typer.echo(f"{name} {entry.version}: {len(entry.files)} file(s), {size:.1f} MB")
        wanted = only or [
            n for n, a in catalogue(suite, postgres).items() if a.kind != "unavailable"
        ]
        if any(name in index.missing for name in wanted):
            raise typer.Exit(1)
