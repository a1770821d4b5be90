"""Render compiled authorization for a server: nats-server accounts, or a neutral document.

- `render_accounts_block` is the `accounts` mapping of nats-server.conf (metal and local), with
  plain passwords: the file that holds it is written 0600 and never enters the repository.
- `render_authorization_json` is a neutral document for hosted NATS (Synadia Cloud): accounts,
  users and their permissions in the field names of NATS user JWTs (`pub`, `sub`, `resp`), no
  secret at all.

In both, an empty allow list would allow everything (nats-server and JWTs alike treat "no
allow list" as "allow all"), so a user who may publish nothing gets `deny: [">"]`.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from deploykit.errors import ConfigError
from deploykit.laws.exports import Export, Import
from deploykit.laws.permissions import Authorization, Permissions

__all__ = [
    "REDACTED",
    "generate_passwords",
    "render_accounts_block",
    "render_authorization_json",
]

REDACTED = "********"
DOCUMENT_FORMAT = "deploykit.authorization/v1"


def generate_passwords(authorization: Authorization) -> dict[str, str]:
    """A fresh random password per user; callers keep them in 0600 files or Pulumi secrets."""
    return {name: secrets.token_urlsafe(32) for name in authorization.users}


def render_accounts_block(
    authorization: Authorization, passwords: Mapping[str, str]
) -> dict[str, Any]:
    missing = [name for name in authorization.users if not passwords.get(name)]
    if missing:
        raise ConfigError(f"no password for NATS user(s): {', '.join(missing)}")
    block: dict[str, Any] = {}
    for account in authorization.accounts:
        entry: dict[str, Any] = {"jetstream": "enabled"} if account.jetstream else {}
        entry["users"] = [
            {
                "user": user.name,
                "password": passwords[user.name],
                "permissions": _server_permissions(user.permissions),
            }
            for user in account.users
        ]
        if account.links.exports:
            entry["exports"] = [_server_export(e) for e in account.links.exports]
        if account.links.imports:
            entry["imports"] = [_server_import(i) for i in account.links.imports]
        block[account.name] = entry
    return block


def render_authorization_json(authorization: Authorization) -> dict[str, Any]:
    return {
        "format": DOCUMENT_FORMAT,
        "system": authorization.system,
        "system_account": authorization.system_account,
        "accounts": [
            {
                "name": account.name,
                "jetstream": account.jetstream,
                "exports": [_jwt_export(e) for e in account.links.exports],
                "imports": [_jwt_import(i) for i in account.links.imports],
                "users": [
                    {
                        "name": user.name,
                        "role": user.role.value,
                        "service": user.service,
                        "inbox_prefix": user.inbox_prefix,
                        "permissions": _jwt_permissions(user.permissions),
                    }
                    for user in account.users
                ],
            }
            for account in authorization.accounts
        ],
    }


def _closed(allow: tuple[str, ...], deny: tuple[str, ...]) -> dict[str, list[str]]:
    return {"allow": list(allow), "deny": list(deny)} if allow else {"allow": [], "deny": [">"]}


def _server_permissions(permissions: Permissions) -> dict[str, Any]:
    rendered: dict[str, Any] = {
        "publish": _closed(permissions.publish_allow, permissions.publish_deny),
        "subscribe": _closed(permissions.subscribe_allow, permissions.subscribe_deny),
    }
    if permissions.allow_responses:
        rendered["allow_responses"] = True
    return rendered


def _jwt_permissions(permissions: Permissions) -> dict[str, Any]:
    return {
        "pub": _closed(permissions.publish_allow, permissions.publish_deny),
        "sub": _closed(permissions.subscribe_allow, permissions.subscribe_deny),
        "resp": {"max": 1, "ttl": 0} if permissions.allow_responses else None,
    }


def _server_export(export: Export) -> dict[str, Any]:
    rendered: dict[str, Any] = {export.kind: export.subject, "accounts": list(export.accounts)}
    if export.kind == "service" and export.response != "singleton":
        rendered["response_type"] = export.response
    return rendered


def _server_import(imported: Import) -> dict[str, Any]:
    rendered: dict[str, Any] = {
        imported.kind: {"account": imported.account, "subject": imported.subject}
    }
    if imported.to:
        rendered["to"] = imported.to
    return rendered


def _jwt_export(export: Export) -> dict[str, Any]:
    """An account JWT's export (`type`, `subject`, `response_type`), and the accounts allowed
    to import it (a JWT expresses those as activation tokens)."""
    rendered: dict[str, Any] = {
        "type": export.kind,
        "subject": export.subject,
        "accounts": list(export.accounts),
    }
    if export.kind == "service":
        rendered["response_type"] = export.response.capitalize()
    return rendered


def _jwt_import(imported: Import) -> dict[str, Any]:
    """An account JWT's import: `local_subject` is the name it has in the importing account."""
    return {
        "type": imported.kind,
        "account": imported.account,
        "subject": imported.subject,
        "local_subject": imported.to or imported.subject,
    }
