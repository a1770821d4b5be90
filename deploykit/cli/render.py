"""`deploykit render ...`: show what the manifest compiles to, secrets redacted."""

from __future__ import annotations

import json
from pathlib import Path

import typer
import yaml

from deploykit.cli import options
from deploykit.describe.asyncapi import asyncapi_document
from deploykit.describe.diagram import graph, mermaid, svg
from deploykit.errors import ConfigError
from deploykit.laws.authconf import REDACTED, render_accounts_block, render_authorization_json
from deploykit.laws.exports import Links
from deploykit.laws.permissions import Authorization, User, compile_authorization
from deploykit.laws.rules import lint
from deploykit.manifest.fielddocs import markdown
from deploykit.manifest.load import load_manifest
from deploykit.stack.outputs import load_outputs

__all__ = ["register", "render_app"]

render_app = typer.Typer(
    name="render",
    help=(
        "Show what deploykit.yaml compiles to (NATS permissions, ...), secrets redacted, and "
        "the manifest's field reference."
    ),
    no_args_is_help=True,
)

PERMISSIONS_HELP = """Show the NATS accounts, users and permissions the manifest compiles to.

One account per bus with JetStream, with the exports and imports of its cross-bus paths (exactly
what the manifest's `calls`, `consumes` and `sources` use of another bus), one user per service,
a smoke, a provisioning and a backup user per bus, and the system account's `system` user. Passwords are generated per deployment and never
shown. `--json` prints the neutral document for hosted NATS (JWT field names pub/sub/resp);
`--nats` prints the nats-server `accounts` block with passwords redacted.
"""


ASYNCAPI_HELP = """Write the AsyncAPI 3.0 document of one bus (YAML, or JSON with --json).

A bus is one NATS account, so one document: a channel per subject, an operation per service and
use (send, receive, request/reply), payloads from the manifest's contracts, and JetStream streams,
consumers, KV and object stores in `x-deploykit-*` extensions. Open it in AsyncAPI Studio or run
the AsyncAPI CLI on it (`asyncapi validate`, `asyncapi generate fromTemplate ... @asyncapi/html-template`).
--outputs names a target's outputs file, whose NATS URLs become the document's servers.
"""

DIAGRAM_HELP = """Draw the system: buses, services by role, streams, KV and object stores, calls,
emits, queue (thick) and fanout (dotted) consumers, and lint findings in red.

Mermaid text by default (renders on GitHub); SVG with --format svg or an -o FILE ending in .svg.
"""


def register(app: typer.Typer) -> None:
    app.add_typer(render_app)


@render_app.command("permissions", help=PERMISSIONS_HELP)
def permissions_command(
    argument: Path | None = options.FILE_ARGUMENT,
    file_option: Path | None = options.FILE_OPTION,
    as_json: bool = typer.Option(False, "--json", help="The neutral JSON document."),
    as_nats: bool = typer.Option(False, "--nats", help="The nats-server accounts block."),
) -> None:
    if as_json and as_nats:
        raise ConfigError("choose one of --json and --nats")
    authorization = compile_authorization(load_manifest(options.manifest(argument, file_option)))
    if as_json:
        typer.echo(json.dumps(render_authorization_json(authorization), indent=2))
    elif as_nats:
        redacted = dict.fromkeys(authorization.users, REDACTED)
        typer.echo(json.dumps(render_accounts_block(authorization, redacted), indent=2))
    else:
        typer.echo(_text(authorization))


@render_app.command("asyncapi", help=ASYNCAPI_HELP)
def asyncapi_command(
    file: Path = options.FILE,
    bus: str | None = typer.Option(None, "--bus", help="The bus (default: the core bus)."),
    outputs: Path | None = typer.Option(
        None, "--outputs", help="A target's outputs file: its NATS URLs become the servers."
    ),
    as_json: bool = typer.Option(False, "--json", help="JSON instead of YAML."),
    output: Path | None = options.OUTPUT,
) -> None:
    manifest = load_manifest(file)
    bus = bus or manifest.core_bus
    if bus not in manifest.buses:
        raise ConfigError(
            f"--bus {bus}: not a bus of {file} (declared: {', '.join(manifest.buses)})"
        )
    servers = load_outputs(outputs).nats.urls if outputs else None
    document = asyncapi_document(manifest, bus, servers)
    if as_json:
        text = json.dumps(document, indent=2) + "\n"
    else:
        text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    options.write_output(text, output)


@render_app.command("diagram", help=DIAGRAM_HELP)
def diagram_command(
    file: Path = options.FILE,
    form: str | None = typer.Option(None, "--format", help="mermaid or svg."),
    output: Path | None = options.OUTPUT,
) -> None:
    if form is None:
        form = "svg" if output is not None and output.suffix == ".svg" else "mermaid"
    if form not in ("mermaid", "svg"):
        raise ConfigError(f"--format {form}: not a diagram format (mermaid, svg)")
    manifest = load_manifest(file)
    drawing = graph(manifest, lint(manifest))
    options.write_output(svg(drawing) if form == "svg" else mermaid(drawing), output)


def _text(authorization: Authorization) -> str:
    lines = [f"system {authorization.system}: passwords are generated per deployment, not shown"]
    for account in authorization.accounts:
        jetstream = "JetStream enabled" if account.jetstream else "no JetStream"
        lines.append(f"\naccount {account.name} ({jetstream})")
        lines += _link_lines(account.links)
        for user in account.users:
            lines += _user_lines(user)
    return "\n".join(lines)


def _link_lines(links: Links) -> list[str]:
    """What the account shares with other buses and takes from them (cross-bus paths)."""
    lines = []
    for export in links.exports:
        stream = ", a stream of replies" if export.response == "stream" else ""
        to = ", ".join(export.accounts)
        lines.append(f"  export {export.kind} {export.subject} to {to}{stream}")
    for imported in links.imports:
        local = f" as {imported.to}" if imported.to else ""
        lines.append(f"  import {imported.kind} {imported.subject} from {imported.account}{local}")
    return lines


def _user_lines(user: User) -> list[str]:
    p = user.permissions
    rows = [
        ("publish allow", p.publish_allow or ("(nothing)",)),
        ("publish deny", p.publish_deny),
        ("subscribe allow", p.subscribe_allow or ("(nothing)",)),
        ("subscribe deny", p.subscribe_deny),
    ]
    responds = "replies to requests it receives" if p.allow_responses else "sends no replies"
    lines = [f"  user {user.name} ({user.role.value}, inbox {user.inbox_prefix}, {responds})"]
    lines += [f"    {label}: {' '.join(subjects)}" for label, subjects in rows if subjects]
    return lines


@render_app.command("manifest-docs")
def manifest_docs_command() -> None:
    """Print the reference of every manifest field (Markdown): type, default, meaning."""
    typer.echo(markdown(), nl=False)
