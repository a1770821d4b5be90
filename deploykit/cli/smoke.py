"""`deploykit smoke`: prove that what runs is what was declared."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from deploykit.cli import options
from deploykit.errors import ConfigError, DeploykitError
from deploykit.manifest.load import load_manifest
from deploykit.smoke.checks import CATALOGUE_HELP, catalogue
from deploykit.smoke.report import (
    Format,
    exit_code,
    hint,
    plain,
    summary,
    table,
    to_json,
    to_junit,
    to_nagios,
    to_prometheus,
    unknown,
)
from deploykit.smoke.runner import quiet_library_logs, run_smoke, select
from deploykit.stack.target import resolve_outputs

__all__ = ["register"]

HELP = f"""Check a deployment against the manifest, in a few seconds, and say exactly what is wrong.

Reads the stack outputs of a target: --stack NAME (runs `pulumi stack output --json --show-secrets`), --outputs FILE, or by default the local stack's .deploykit/outputs.json. Every check is named, timed and reported as pass, fail or skip with a reason; the checks run concurrently under one --timeout. A check whose prerequisite failed (no connection, no JetStream, no service) is not run and names that failure, so a stopped stack shows its root cause once, with a hint.

It writes only deploykit's own assets (stream DEPLOYKIT_SMOKE, KV and object store deploykit_smoke) and removes what it wrote. The manifest's probes are the exception: they go through a service's API on purpose; leave them out with --skip probes.

\b
Checks (--only/--skip take a group, a name, or a glob; --list shows them):
{CATALOGUE_HELP}
\b
Formats and exit codes:
  table (default), --json   0 all pass, 1 a check failed, 2 bad input
  --format nagios           0 OK, 2 CRITICAL (a check failed),
                            3 UNKNOWN (bad input); never 1 (WARNING)
  --format prometheus       always 0: the status is a metric
                            (deploykit_smoke_status_code)
  --junit FILE              also write JUnit XML for CI, with any format
"""


def register(app: typer.Typer) -> None:
    @app.command("smoke", help=HELP)
    def smoke(
        stack: str | None = options.STACK,
        outputs: Path | None = options.OUTPUTS,
        file: Path = options.FILE,
        as_json: bool = typer.Option(False, "--json", help="Print JSON (same as --format json)."),
        fmt: str = typer.Option(
            "table", "--format", help="table, json, nagios or prometheus.", metavar="FORMAT"
        ),
        junit: Path | None = typer.Option(None, "--junit", help="Also write JUnit XML here."),
        only: list[str] = typer.Option([], "--only", help="Run only these checks (repeatable)."),
        skip: list[str] = typer.Option([], "--skip", help="Leave these checks out (repeatable)."),
        timeout: float = typer.Option(10.0, "--timeout", help="Seconds for the whole run."),
        list_checks: bool = typer.Option(False, "--list", help="List the check names and exit."),
    ) -> None:
        chosen = _format(fmt, as_json)
        quiet_library_logs()
        try:
            manifest = load_manifest(file)
            stack_outputs, source = resolve_outputs(stack, outputs, file.resolve().parent)
            if list_checks:
                for check in select(catalogue(manifest, stack_outputs), only, skip):
                    typer.echo(check.name)
                return
            run = run_smoke(
                manifest, stack_outputs, source=source, timeout=timeout, only=only, skip=skip
            )
            if junit is not None:
                _write(junit, to_junit(run))
        except DeploykitError as exc:
            shown = unknown(chosen, str(exc))
            if shown is None:
                raise
            typer.echo(str(exc), err=True)
            typer.echo(shown, nl=not shown.endswith("\n"))
            raise typer.Exit(0 if chosen == "prometheus" else 3) from None
        if chosen == "table":
            console = Console()
            if console.is_terminal:
                console.print(table(run))
                console.print(summary(run), highlight=False)
                shown = hint(run)
                if shown:
                    console.print(f"hint: {shown}", highlight=False, markup=False)
            else:  # a pipe or a file: rows at their full length, never wrapped at 80 columns
                typer.echo(plain(run), nl=False)
        elif chosen == "json":
            typer.echo(to_json(run))
        elif chosen == "nagios":
            typer.echo(to_nagios(run))
        else:
            typer.echo(to_prometheus(run), nl=False)
        raise typer.Exit(exit_code(run, chosen))


def _format(fmt: str, as_json: bool) -> Format:
    allowed: tuple[Format, ...] = ("table", "json", "nagios", "prometheus")
    if fmt not in allowed:
        raise typer.BadParameter(
            f"{fmt!r} is not one of {', '.join(allowed)}", param_hint="--format"
        )
    if as_json and fmt not in ("table", "json"):
        raise typer.BadParameter("--json and --format are exclusive", param_hint="--json")
    return "json" if as_json else fmt


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--junit {path}: cannot write: {exc.strerror}") from None
