"""`deploykit lint`: check a valid manifest against the architecture's laws (`laws/rules.py`)."""

from __future__ import annotations

import json
from dataclasses import asdict
from enum import StrEnum
from pathlib import Path

import typer

from deploykit.cli import options
from deploykit.cli.validate import load_or_report
from deploykit.errors import ConfigError
from deploykit.laws.rules import RULES, TARGET_CLUSTER_SIZE, Finding, Severity, lint

__all__ = ["register"]


class Target(StrEnum):
    LOCAL = "local"
    SMALL = "small"
    METAL = "metal"


HELP = (
    "Check deploykit.yaml against the laws of the architecture.\n\n"
    "Prints each finding with its rule id (DK101...), severity, the service or stream it "
    "concerns, why the rule holds, ending with the name of its law, and the fix. Exits 1 when "
    "an error-level finding exists, 0 otherwise, and 2 when the manifest is invalid (as "
    "`validate`).\n\n"
    "The replication rule DK401 needs the cluster size: give `--target` (local, small and "
    f"metal run {TARGET_CLUSTER_SIZE['metal']}-node clusters) or `--cluster-size N`; without "
    "either it is skipped."
)


def register(app: typer.Typer) -> None:
    @app.command("lint", help=HELP)
    def lint_command(
        argument: Path | None = options.FILE_ARGUMENT,
        file_option: Path | None = options.FILE_OPTION,
        as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON."),
        target: Target | None = typer.Option(
            None, "--target", help="The target, for its cluster size."
        ),
        cluster_size: int | None = typer.Option(
            None, "--cluster-size", help="NATS nodes in the cluster (overrides --target)."
        ),
    ) -> None:
        size = _cluster_size(target, cluster_size)
        file = options.manifest(argument, file_option)
        manifest = load_or_report(file, as_json)
        findings = lint(manifest, size)
        errors = sum(f.severity is Severity.ERROR for f in findings)
        warnings = len(findings) - errors
        if as_json:
            document = {
                "file": str(file),
                "cluster_size": size,
                "errors": errors,
                "warnings": warnings,
                "findings": [asdict(f) for f in findings],
            }
            typer.echo(json.dumps(document, indent=2))
        else:
            for finding in findings:
                typer.echo(_text(str(file), finding))
            typer.echo(_summary(str(file), errors, warnings, size))
        if errors:
            raise typer.Exit(1)


def _cluster_size(target: Target | None, cluster_size: int | None) -> int | None:
    if cluster_size is not None:
        if cluster_size < 1:
            raise ConfigError(f"--cluster-size must be 1 or more, got {cluster_size}")
        return cluster_size
    return TARGET_CLUSTER_SIZE[target.value] if target else None


def _text(file: str, finding: Finding) -> str:
    return (
        f"{file}: {finding.path}: {finding.rule} {finding.severity.value}: "
        f"{finding.concerns}: {finding.message}\n"
        f"  law: {finding.law}\n"
        f"  fix: {finding.fix}"
    )


def _summary(file: str, errors: int, warnings: int, size: int | None) -> str:
    cluster = f"{size}-node cluster" if size else "cluster size unknown, DK401 skipped"
    if not errors and not warnings:
        return f"{file}: keeps every law ({len(RULES)} rules, {cluster})"
    return f"{file}: {errors} error(s), {warnings} warning(s) ({cluster})"
