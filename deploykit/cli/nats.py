"""`deploykit nats plan|apply`: reconcile the manifest's JetStream definitions with a target."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from typer.core import TyperCommand

from deploykit.cli import options
from deploykit.errors import DeploykitError
from deploykit.jetstream import ApplyResult, Plan, apply, connect, plan
from deploykit.jetstream.apply import check_allowed
from deploykit.jetstream.render import plans_json, print_plan, print_result
from deploykit.manifest.load import load_manifest
from deploykit.manifest.model import Manifest
from deploykit.stack.target import BusTarget, bus_targets

__all__ = ["register"]

TARGET_HELP = """
\b
A target is one of
  --url URL [--user U --password P | --creds FILE] [--bus B]
      one account, so one bus: --bus is required if the manifest has several
  --stack NAME
      a Pulumi stack's outputs, read with the Pulumi CLI
  --outputs FILE
      a stack outputs JSON file
  (none of them)
      the local stack's .deploykit/outputs.json
With outputs, every bus is reached as its provisioning-<bus> user.

Replicas are capped at the cluster size: --cluster-size, else the outputs' cluster_size, else the number of servers the target advertises.
"""

PLAN_HELP = f"""Show what `nats apply` would change, per bus: create, update (each field, old → new), replace (a change the server refuses in place: destroys data), delete (undeclared objects, with --prune), and drift from what the manifest declares.

\b
Exit codes (like `terraform plan -detailed-exitcode`):
  0  no changes
  2  changes to apply
  1  an error (bad manifest or options, unreachable server, refused request)
{TARGET_HELP}"""

APPLY_HELP = f"""Make the target's JetStream definitions match the manifest, then print what was done.

Replace and delete destroy data: the whole plan is refused, and nothing changed, unless --allow-destroy is given; undeclared objects are only deleted with --prune (and --allow-destroy). Exit 0 on success, 2 on any error.
{TARGET_HELP}"""


class _ErrorsExitOne(TyperCommand):
    """`nats plan` keeps exit 2 for "changes", so its usage errors exit 1, like its others."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]  # typer's Context is click's, under typer's name
        try:
            return super().parse_args(ctx, args)
        except Exception as exc:  # click's UsageError, whichever click typer bundles
            if getattr(exc, "exit_code", None) == 2:
                exc.exit_code = 1  # type: ignore[attr-defined]  # click's UsageError, typed as Exception here
            raise


async def _run(
    manifest: Manifest,
    targets: list[BusTarget],
    *,
    prune: bool,
    allow_destroy: bool | None,
) -> tuple[list[Plan], list[ApplyResult]]:
    """Plan every target; with `allow_destroy` not None, check every plan, then apply them."""
    conns = []
    try:
        plans = []
        for t in targets:
            conns.append(await connect(t.url, t.credential))
            plans.append(
                await plan(conns[-1], manifest, t.bus, cluster_size=t.cluster_size, prune=prune)
            )
        if allow_destroy is None:
            return plans, []
        for p in plans:
            check_allowed(p, allow_destroy=allow_destroy, prune=prune)
        results = [
            await apply(conn, p, allow_destroy=allow_destroy, prune=prune)
            for conn, p in zip(conns, plans, strict=True)
        ]
        return plans, results
    finally:
        for conn in conns:
            await conn.close()


def _targets(
    file: Path,
    url: str | None,
    user: str | None,
    password: str | None,
    creds: Path | None,
    stack: str | None,
    outputs: Path | None,
    buses: list[str],
    cluster_size: int | None,
) -> tuple[Manifest, list[BusTarget]]:
    """The manifest and the buses to reach, from the target options plan and apply share."""
    manifest = load_manifest(file)
    targets = bus_targets(
        manifest,
        file.resolve().parent,
        url=url,
        user=user,
        password=password,
        creds=creds,
        stack=stack,
        outputs=outputs,
        buses=buses,
        cluster_size=cluster_size,
    )
    return manifest, targets


def register(app: typer.Typer) -> None:
    nats_app = typer.Typer(
        name="nats",
        help="Plan and apply the manifest's JetStream definitions (streams, consumers, KV, "
        "object stores).",
        no_args_is_help=True,
    )
    app.add_typer(nats_app)

    url_opt = typer.Option(None, "--url", help="NATS server URL(s), comma-separated.")
    user_opt = typer.Option(None, "--user", help="NATS user (with --url).")
    password_opt = typer.Option(
        None, "--password", envvar="NATS_PASSWORD", help="NATS password (or $NATS_PASSWORD)."
    )
    creds_opt = typer.Option(None, "--creds", help="A NATS .creds file (with --url).")
    bus_opt = typer.Option([], "--bus", help="Only this bus (repeatable); default: every bus.")
    size_opt = typer.Option(None, "--cluster-size", min=1, help="Cap replicas at this size.")
    prune_opt = typer.Option(False, "--prune", help="Delete objects the manifest does not declare.")
    json_opt = typer.Option(False, "--json", help="Print JSON instead of a table.")

    @nats_app.command("plan", help=PLAN_HELP, cls=_ErrorsExitOne)
    def plan_cmd(
        file: Path = options.FILE,
        url: str | None = url_opt,
        user: str | None = user_opt,
        password: str | None = password_opt,
        creds: Path | None = creds_opt,
        stack: str | None = options.STACK,
        outputs: Path | None = options.OUTPUTS,
        bus: list[str] = bus_opt,
        cluster_size: int | None = size_opt,
        prune: bool = prune_opt,
        as_json: bool = json_opt,
    ) -> None:
        try:
            manifest, targets = _targets(
                file, url, user, password, creds, stack, outputs, bus, cluster_size
            )
            plans, _ = asyncio.run(_run(manifest, targets, prune=prune, allow_destroy=None))
        except DeploykitError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from None
        if as_json:
            typer.echo(plans_json(plans))
        else:
            console = Console()
            for p in plans:
                print_plan(console, p)
        raise typer.Exit(2 if any(p.has_changes for p in plans) else 0)

    @nats_app.command("apply", help=APPLY_HELP)
    def apply_cmd(
        file: Path = options.FILE,
        url: str | None = url_opt,
        user: str | None = user_opt,
        password: str | None = password_opt,
        creds: Path | None = creds_opt,
        stack: str | None = options.STACK,
        outputs: Path | None = options.OUTPUTS,
        bus: list[str] = bus_opt,
        cluster_size: int | None = size_opt,
        allow_destroy: bool = typer.Option(
            False, "--allow-destroy", help="Allow steps that destroy data (replace, delete)."
        ),
        prune: bool = prune_opt,
        as_json: bool = json_opt,
    ) -> None:
        manifest, targets = _targets(
            file, url, user, password, creds, stack, outputs, bus, cluster_size
        )
        plans, results = asyncio.run(
            _run(manifest, targets, prune=prune, allow_destroy=allow_destroy)
        )
        if as_json:
            data: dict[str, Any] = json.loads(plans_json(plans))
            for entry, result in zip(data["buses"], results, strict=True):
                entry["applied"] = len(result.done)
                entry["mutations"] = result.mutations
            typer.echo(json.dumps(data, indent=2))
            return
        console = Console()
        for p, result in zip(plans, results, strict=True):
            print_plan(console, p)
            print_result(console, result)
