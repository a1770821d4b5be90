"""`deploykit render ...`: show what the manifest compiles to, secrets redacted."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from deploykit.cli import options
from deploykit.errors import ConfigError
from deploykit.laws.authconf import REDACTED, render_accounts_block, render_authorization_json
from deploykit.laws.permissions import Authorization, User, compile_authorization
from deploykit.manifest.load import load_manifest

__all__ = ["register", "render_app"]

render_app = typer.Typer(
    name="render",
    help="Show what deploykit.yaml compiles to (NATS permissions, ...), secrets redacted.",
    no_args_is_help=True,
)

PERMISSIONS_HELP = """Show the NATS accounts, users and permissions the manifest compiles to.

One account per bus with JetStream, one user per service, a smoke and a provisioning user per
bus, and the system account's `system` user. Passwords are generated per deployment and never
shown. `--json` prints the neutral document for hosted NATS (JWT field names pub/sub/resp);
`--nats` prints the nats-server `accounts` block with passwords redacted.
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


def _text(authorization: Authorization) -> str:
    lines = [f"system {authorization.system}: passwords are generated per deployment, not shown"]
    for account in authorization.accounts:
        jetstream = "JetStream enabled" if account.jetstream else "no JetStream"
        lines.append(f"\naccount {account.name} ({jetstream})")
        for user in account.users:
            lines += _user_lines(user)
    return "\n".join(lines)


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
