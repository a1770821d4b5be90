"""The permission compiler and its renderers, on exact output for the reference manifest."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from deploykit.errors import ConfigError, ManifestError
from deploykit.laws.authconf import (
    REDACTED,
    generate_passwords,
    render_accounts_block,
    render_authorization_json,
)
from deploykit.laws.permissions import Authorization, Permissions, UserRole, compile_authorization
from deploykit.local.nats import find_nats_server, plan_local_cluster
from deploykit.manifest.load import parse_manifest
from deploykit.manifest.model import Manifest
from deploykit.testing.clirun import run_cli

ROOT = Path(__file__).resolve().parents[2]

SRV = tuple(
    s
    for verb in ("PING", "INFO", "STATS")
    for s in (f"$SRV.{verb}", f"$SRV.{verb}.{{name}}", f"$SRV.{verb}.{{name}}.*")
)


def srv(name: str) -> tuple[str, ...]:
    return tuple(s.format(name=name) for s in SRV)


EXPECTED = {
    "gateway": Permissions(
        publish_allow=(
            "accounts.rpc.create",
            "accounts.rpc.get",
            "$JS.API.STREAM.INFO.KV_flags",
            "$JS.API.STREAM.MSG.GET.KV_flags",
            "$JS.API.DIRECT.GET.KV_flags",
            "$JS.API.DIRECT.GET.KV_flags.>",
        ),
        subscribe_allow=("_INBOX_gateway.>",),
    ),
    "accounts": Permissions(
        publish_allow=(
            "accounts.events.created",
            "$JS.API.STREAM.INFO.OBJ_exports",
            "$JS.API.STREAM.MSG.GET.OBJ_exports",
            "$JS.API.DIRECT.GET.OBJ_exports",
            "$JS.API.DIRECT.GET.OBJ_exports.>",
            "$JS.API.STREAM.NAMES",
            "$JS.API.CONSUMER.CREATE.OBJ_exports",
            "$JS.API.CONSUMER.INFO.OBJ_exports.*",
            "$JS.API.CONSUMER.DELETE.OBJ_exports.*",
            "$JS.FC.OBJ_exports.>",
            "$O.exports.>",
            "$JS.API.STREAM.PURGE.OBJ_exports",
        ),
        subscribe_allow=(
            "accounts.rpc.create q",
            "accounts.rpc.get q",
            *srv("accounts"),
            "_INBOX_accounts.>",
        ),
        allow_responses=True,
    ),
    "welcome": Permissions(
        publish_allow=(
            "$JS.API.CONSUMER.INFO.ACCOUNTS.welcome",
            "$JS.API.CONSUMER.MSG.NEXT.ACCOUNTS.welcome",
            "$JS.ACK.ACCOUNTS.welcome.>",
            "accounts.events.welcomed",
        ),
        subscribe_allow=(*srv("welcome"), "_INBOX_welcome.>"),
        allow_responses=True,
    ),
    "projector": Permissions(
        publish_allow=(
            "$JS.API.CONSUMER.CREATE.ACCOUNTS.*",
            "$JS.API.CONSUMER.CREATE.ACCOUNTS.*.>",
            "$JS.API.CONSUMER.INFO.ACCOUNTS.*",
            "$JS.API.CONSUMER.MSG.NEXT.ACCOUNTS.*",
            "$JS.API.CONSUMER.DELETE.ACCOUNTS.*",
        ),
        publish_deny=(
            "$JS.API.CONSUMER.CREATE.ACCOUNTS.welcome",
            "$JS.API.CONSUMER.CREATE.ACCOUNTS.welcome.>",
            "$JS.API.CONSUMER.MSG.NEXT.ACCOUNTS.welcome",
            "$JS.API.CONSUMER.DELETE.ACCOUNTS.welcome",
        ),
        subscribe_allow=(*srv("projector"), "_INBOX_projector.>"),
        allow_responses=True,
    ),
    "smoke-analytics": Permissions(
        publish_allow=(
            "$JS.API.INFO",
            "$JS.API.STREAM.LIST",
            "$JS.API.STREAM.NAMES",
            "$SRV.>",
            "$JS.API.STREAM.INFO.PAGEVIEWS",
            "$JS.API.CONSUMER.LIST.PAGEVIEWS",
            "$JS.API.CONSUMER.NAMES.PAGEVIEWS",
            "$JS.API.CONSUMER.INFO.PAGEVIEWS.*",
        ),
        publish_deny=("pageviews.>",),
        subscribe_allow=("_INBOX_smoke-analytics.>",),
    ),
    "provisioning-analytics": Permissions(
        publish_allow=(
            "$JS.API.INFO",
            "$JS.API.STREAM.LIST",
            "$JS.API.STREAM.NAMES",
            "$JS.API.STREAM.CREATE.*",
            "$JS.API.STREAM.UPDATE.*",
            "$JS.API.STREAM.DELETE.*",
            "$JS.API.STREAM.INFO.*",
            "$JS.API.CONSUMER.CREATE.*",
            "$JS.API.CONSUMER.CREATE.*.*",
            "$JS.API.CONSUMER.CREATE.*.*.>",
            "$JS.API.CONSUMER.DURABLE.CREATE.*.*",
            "$JS.API.CONSUMER.DELETE.*.*",
            "$JS.API.CONSUMER.INFO.*.*",
            "$JS.API.CONSUMER.LIST.*",
            "$JS.API.CONSUMER.NAMES.*",
        ),
        publish_deny=(
            "pageviews.>",
            "$KV.>",
            "$O.>",
            "$JS.API.STREAM.MSG.>",
            "$JS.API.STREAM.PURGE.>",
            "$JS.API.DIRECT.>",
            "$JS.API.CONSUMER.MSG.>",
            "$JS.ACK.>",
        ),
        subscribe_allow=("_INBOX_provisioning-analytics.>",),
    ),
    "system": Permissions(publish_allow=("$SYS.REQ.>",), subscribe_allow=("_INBOX_system.>",)),
}


def owner(stream: str) -> tuple[str, ...]:
    return (
        f"$JS.API.STREAM.*.{stream}",
        f"$JS.API.STREAM.MSG.*.{stream}",
        f"$JS.API.DIRECT.GET.{stream}",
        f"$JS.API.DIRECT.GET.{stream}.>",
        f"$JS.API.CONSUMER.*.{stream}",
        f"$JS.API.CONSUMER.*.{stream}.>",
        f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.*",
        f"$JS.API.CONSUMER.MSG.NEXT.{stream}.*",
        f"$JS.ACK.{stream}.>",
        f"$JS.FC.{stream}.>",
    )


def inspect(stream: str) -> tuple[str, ...]:
    return (
        f"$JS.API.STREAM.INFO.{stream}",
        f"$JS.API.CONSUMER.LIST.{stream}",
        f"$JS.API.CONSUMER.NAMES.{stream}",
        f"$JS.API.CONSUMER.INFO.{stream}.*",
    )


EXPECTED["smoke-core"] = Permissions(
    publish_allow=(
        "$JS.API.INFO",
        "$JS.API.STREAM.LIST",
        "$JS.API.STREAM.NAMES",
        "$SRV.>",
        "accounts.rpc.create",
        *inspect("ACCOUNTS"),
        *inspect("KV_flags"),
        *inspect("OBJ_exports"),
        "deploykit.smoke.>",
        *owner("DEPLOYKIT_SMOKE"),
        "$KV.deploykit_smoke.>",
        *owner("KV_deploykit_smoke"),
        "$O.deploykit_smoke.>",
        *owner("OBJ_deploykit_smoke"),
        "deploykit.bench.>",
    ),
    publish_deny=("accounts.events.>", "$KV.flags.>", "$O.exports.>"),
    subscribe_allow=(
        "accounts.events.created",
        "_INBOX_smoke-core.>",
        "deploykit.bench.>",
        *(
            f"$SRV.{v}{t}"
            for v in ("PING", "INFO", "STATS")
            for t in ("", ".deploykit-bench", ".deploykit-bench.*")
        ),
    ),
    allow_responses=True,
)
EXPECTED["provisioning-core"] = EXPECTED["provisioning-analytics"].model_copy(
    update={
        "publish_deny": ("accounts.events.>", *EXPECTED["provisioning-analytics"].publish_deny[1:]),
        "subscribe_allow": ("_INBOX_provisioning-core.>",),
    }
)


@pytest.fixture(scope="module")
def authorization(reference_manifest: Manifest) -> Authorization:
    return compile_authorization(reference_manifest)


def test_accounts_users_and_roles(authorization: Authorization) -> None:
    shape = [
        (a.name, a.jetstream, [(u.name, u.role, u.service) for u in a.users])
        for a in authorization.accounts
    ]
    assert shape == [
        (
            "core",
            True,
            [
                ("gateway", UserRole.FRONTEND, "gateway"),
                ("accounts", UserRole.RPC, "accounts"),
                ("welcome", UserRole.WORKER, "welcome"),
                ("projector", UserRole.WORKER, "projector"),
                ("smoke-core", UserRole.SMOKE, None),
                ("provisioning-core", UserRole.PROVISIONING, None),
                ("backup-core", UserRole.BACKUP, None),
            ],
        ),
        (
            "analytics",
            True,
            [
                ("smoke-analytics", UserRole.SMOKE, None),
                ("provisioning-analytics", UserRole.PROVISIONING, None),
                ("backup-analytics", UserRole.BACKUP, None),
            ],
        ),
        ("SYS", False, [("system", UserRole.SYSTEM, None)]),
    ]
    assert authorization.system_account == "SYS"
    assert all(u.inbox_prefix == f"_INBOX_{n}" for n, u in authorization.users.items())


@pytest.mark.parametrize("user", sorted(EXPECTED))
def test_permissions_of_every_user_are_exact(authorization: Authorization, user: str) -> None:
    assert authorization.users[user].permissions == EXPECTED[user]


def test_nobody_may_read_the_shared_inbox_or_another_users(authorization: Authorization) -> None:
    for name, user in authorization.users.items():
        inboxes = [s for s in user.permissions.subscribe_allow if s.startswith("_INBOX")]
        assert inboxes == [f"_INBOX_{name}.>"]


def test_a_service_named_like_a_deploykit_user_is_refused() -> None:
    text = (ROOT / "deploykit.yaml").read_text().replace("  projector:\n", "  smoke-core:\n")
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text)
    assert "services.smoke-core: the service name 'smoke-core' is the name of one of" in str(
        caught.value
    )


def test_passwords_are_random_per_user(authorization: Authorization) -> None:
    first, second = generate_passwords(authorization), generate_passwords(authorization)
    assert set(first) == set(authorization.users)
    assert len(set(first.values())) == len(first)
    assert all(len(p) >= 40 and p != second[u] for u, p in first.items())


def test_accounts_block_for_nats_server(authorization: Authorization) -> None:
    passwords = {name: f"pw-{name}" for name in authorization.users}
    block = render_accounts_block(authorization, passwords)
    assert list(block) == ["core", "analytics", "SYS"]
    assert block["core"]["jetstream"] == "enabled"
    assert "jetstream" not in block["SYS"]
    assert block["core"]["users"][0] == {
        "user": "gateway",
        "password": "pw-gateway",
        "permissions": {
            "publish": {"allow": list(EXPECTED["gateway"].publish_allow), "deny": []},
            "subscribe": {"allow": ["_INBOX_gateway.>"], "deny": []},
        },
    }
    assert block["core"]["users"][1]["permissions"]["allow_responses"] is True


def test_an_empty_allow_list_allows_nothing() -> None:
    """nats-server reads a missing or empty allow list as "allow all": render a deny-all."""
    manifest = parse_manifest(
        "version: 1\nsystem: s\nbuses: {core: {}}\n"
        "streams: {E: {subjects: [e.>], max_age: 1d, backup: true}}\n"
        "services:\n  idle: {role: worker, consumes: [{stream: E, consumer: c, mode: queue}]}\n"
        "  web: {role: frontend}\n"
    )
    authorization = compile_authorization(manifest)
    block = render_accounts_block(authorization, dict.fromkeys(authorization.users, "x"))
    web = block["core"]["users"][1]
    assert web["permissions"]["publish"] == {"allow": [], "deny": [">"]}
    document = render_authorization_json(authorization)
    assert document["accounts"][0]["users"][1]["permissions"]["pub"] == {
        "allow": [],
        "deny": [">"],
    }


def test_a_missing_password_is_a_clear_error(authorization: Authorization) -> None:
    passwords = dict.fromkeys(authorization.users, "x")
    del passwords["welcome"]
    with pytest.raises(ConfigError, match=r"no password for NATS user\(s\): welcome"):
        render_accounts_block(authorization, passwords)


def test_neutral_document_has_no_secret(authorization: Authorization) -> None:
    document = render_authorization_json(authorization)
    assert document["format"] == "deploykit.authorization/v1"
    assert (document["system"], document["system_account"]) == ("acme", "SYS")
    accounts = {a["name"]: a for a in document["accounts"]}
    rpc = accounts["core"]["users"][1]
    assert rpc == {
        "name": "accounts",
        "role": "rpc",
        "service": "accounts",
        "inbox_prefix": "_INBOX_accounts",
        "permissions": {
            "pub": {"allow": list(EXPECTED["accounts"].publish_allow), "deny": []},
            "sub": {"allow": list(EXPECTED["accounts"].subscribe_allow), "deny": []},
            "resp": {"max": 1, "ttl": 0},
        },
    }
    assert accounts["SYS"]["jetstream"] is False
    assert "password" not in json.dumps(document)


def test_rendered_server_config_is_accepted_by_nats_server(
    authorization: Authorization, tmp_path: Path
) -> None:
    """`nats-server -t` parses the config with the accounts block (subjects with `>` and `$`)."""
    block = render_accounts_block(authorization, generate_passwords(authorization))
    cluster = plan_local_cluster(tmp_path, 1, block)
    cluster.write_configs()
    config = cluster.config_path(cluster.nodes[0])
    assert "\\u003e" not in config.read_text()
    assert config.stat().st_mode & 0o777 == 0o600
    result = subprocess.run(
        [find_nats_server(), "-t", "-c", str(config)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr


def test_render_permissions_text_shows_every_user_and_no_secret() -> None:
    result = run_cli("render", "permissions")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "system acme: passwords are generated per deployment, not shown"
    assert "  user gateway (frontend, inbox _INBOX_gateway, sends no replies)" in lines
    assert (
        "    publish deny: $JS.API.CONSUMER.CREATE.ACCOUNTS.welcome "
        "$JS.API.CONSUMER.CREATE.ACCOUNTS.welcome.> $JS.API.CONSUMER.MSG.NEXT.ACCOUNTS.welcome "
        "$JS.API.CONSUMER.DELETE.ACCOUNTS.welcome"
    ) in lines
    assert "password" not in result.stdout.replace("passwords are generated", "")


def test_render_permissions_json_and_nats_formats() -> None:
    as_json = run_cli("render", "permissions", "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["accounts"][0]["users"][0]["name"] == "gateway"
    as_nats = run_cli("render", "permissions", "--nats")
    assert as_nats.returncode == 0, as_nats.stderr
    users = [u for a in json.loads(as_nats.stdout).values() for u in a["users"]]
    assert len(users) == 11  # 4 services, smoke, provisioning and backup per bus, system
    assert {u["password"] for u in users} == {REDACTED}
    both = run_cli("render", "permissions", "--json", "--nats")
    assert both.returncode == 2
    assert both.stderr.strip() == "choose one of --json and --nats"
