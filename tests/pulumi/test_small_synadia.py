"""Synadia Cloud dynamic providers against the local fake, and the pure parts of the Nats step."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dill
import pytest
from pulumi.dynamic import Config, ConfigureRequest
from pulumi.dynamic.dynamic import serialize_provider

from components.small.synadia import AccountProvider, UserProvider, jetstream_limits
from components.small.synadia_links import LinksProvider
from deploykit.errors import ConfigError
from deploykit.laws.exports import compile_links
from deploykit.manifest.load import load_manifest
from deploykit.saas import ApiError, AuthError
from deploykit.saas.synadia import SynadiaClient
from tests.fakes.server import json_reply, text_reply
from tests.fakes.synadia import FakeSynadia, jwt_claims

ROOT = Path(__file__).resolve().parents[2]
LIMITS = {"limits": {"tiered_limits": {"R1": {"disk_storage": 1024, "streams": 2, "consumer": -1}}}}
PERMISSIONS = {"pub": {"allow": ["accounts.rpc.>"]}, "sub": {"allow": ["_INBOX_web.>"]}}


@pytest.fixture
def fake() -> Iterator[FakeSynadia]:
    with FakeSynadia() as server:
        yield server


@pytest.fixture
def waits() -> list[float]:
    return []


def configure(provider: Any, token: str | None) -> Any:
    config = {"deploykit:synadiaToken": token} if token else {}
    provider.configure(ConfigureRequest(Config(config, "deploykit")))
    return provider


@pytest.fixture
def accounts(fake: FakeSynadia, waits: list[float]) -> AccountProvider:
    return configure(AccountProvider(fake.url, {"sleep": waits.append}), fake.token)


@pytest.fixture
def users(fake: FakeSynadia, waits: list[float]) -> UserProvider:
    return configure(UserProvider(fake.url, {"sleep": waits.append}), fake.token)


def account_props(name: str = "core", settings: dict[str, Any] = LIMITS) -> dict[str, Any]:
    return {"system_id": "sys-1", "name": name, "jwt_settings": settings, "public_key": None}


def test_account_create_read_update_delete(accounts: AccountProvider, fake: FakeSynadia) -> None:
    created = accounts.create(account_props())
    assert fake.accounts[created.id]["name"] == "core"
    assert created.outs["public_key"] == f"A{created.id}"
    read = accounts.read(created.id, created.outs)
    assert read.outs == created.outs
    bigger = {
        "limits": {"tiered_limits": {"R1": {"disk_storage": 4096, "streams": 3, "consumer": -1}}}
    }
    updated = accounts.update(created.id, created.outs, account_props(settings=bigger))
    assert fake.accounts[created.id]["jwt_settings"] == bigger
    assert updated.outs["jwt_settings"] == bigger
    accounts.delete(created.id, updated.outs)
    assert accounts.read(created.id, updated.outs).id == ""
    accounts.delete(created.id, updated.outs)  # already gone: not an error


def test_account_diff_replaces_on_identity_updates_on_limits(accounts: AccountProvider) -> None:
    olds = {**account_props(), "public_key": "A1"}
    assert accounts.diff("id", olds, account_props()).changes is False
    renamed = accounts.diff("id", olds, account_props(name="main"))
    assert (renamed.changes, renamed.replaces) == (True, ["name"])
    moved = accounts.diff("id", olds, {**account_props(), "system_id": "sys-2"})
    assert moved.replaces == ["system_id"]
    resized = accounts.diff("id", olds, account_props(settings={"limits": {"tiered_limits": {}}}))
    assert (resized.changes, resized.replaces) == (True, [])


def test_refresh_sees_drift_in_declared_limits_only(
    accounts: AccountProvider, fake: FakeSynadia
) -> None:
    created = accounts.create(account_props())
    stored = fake.accounts[created.id]["jwt_settings"]["limits"]
    stored["conn"] = -1  # a default the API adds: not ours
    assert accounts.read(created.id, created.outs).outs["jwt_settings"] == LIMITS
    stored["tiered_limits"]["R1"]["streams"] = 9  # changed by hand in the console
    drifted = accounts.read(created.id, created.outs).outs["jwt_settings"]
    assert drifted["limits"]["tiered_limits"]["R1"]["streams"] == 9
    assert accounts.diff(
        created.id, {**created.outs, "jwt_settings": drifted}, account_props()
    ).changes


def test_limits_for_a_tier_the_plan_lacks_are_refused_before_creating(
    accounts: AccountProvider, fake: FakeSynadia
) -> None:
    r3 = {"limits": {"tiered_limits": {"R3": {"streams": 1}}}}
    with pytest.raises(
        ConfigError, match=r"offers JetStream tiers R1, not R3; set nats\.maxReplicas"
    ):
        accounts.create(account_props(settings=r3))
    assert fake.accounts == {}


def test_user_creds_are_downloaded_once_and_again_after_a_permission_change(
    accounts: AccountProvider, users: UserProvider, fake: FakeSynadia
) -> None:
    account = accounts.create(account_props())
    props = {"account_id": account.id, "name": "web", "jwt_settings": PERMISSIONS}
    created = users.create(props)
    assert jwt_claims(created.outs["creds"])["nats"] == PERMISSIONS
    assert created.outs["sk_group_id"] == f"SKG-{account.id}"
    assert users.read(created.id, created.outs).outs == created.outs
    assert len(fake.calls("POST", "/creds")) == 1
    narrower = {"pub": {"allow": ["accounts.rpc.get"]}, "sub": {"allow": ["_INBOX_web.>"]}}
    diff = users.diff(created.id, created.outs, {**props, "jwt_settings": narrower})
    assert (diff.changes, diff.replaces) == (True, [])
    updated = users.update(created.id, created.outs, {**props, "jwt_settings": narrower})
    assert jwt_claims(updated.outs["creds"])["nats"] == narrower
    assert updated.outs["creds"] != created.outs["creds"]
    assert fake.users[created.id]["jwt_settings"] == narrower
    assert users.diff(created.id, created.outs, {**props, "account_id": "other"}).replaces == [
        "account_id"
    ]
    users.delete(created.id, updated.outs)
    assert created.id not in fake.users
    assert users.read(created.id, updated.outs).id == ""


def test_importing_a_user_downloads_its_creds(
    accounts: AccountProvider, users: UserProvider
) -> None:
    account = accounts.create(account_props())
    created = users.create({"account_id": account.id, "name": "web", "jwt_settings": PERMISSIONS})
    imported = users.read(created.id, {"jwt_settings": PERMISSIONS})
    assert imported.outs["account_id"] == account.id
    assert "BEGIN NATS USER JWT" in imported.outs["creds"]


def test_a_bad_token_fails_with_where_to_get_one(fake: FakeSynadia) -> None:
    provider = configure(AccountProvider(fake.url), "expired-token")
    with pytest.raises(AuthError, match="deploykit:synadiaToken"):
        provider.create(account_props())


def test_no_token_in_the_stack_config_says_how_to_set_it(fake: FakeSynadia) -> None:
    provider = configure(UserProvider(fake.url), None)
    with pytest.raises(ConfigError, match=r"pulumi config set --secret deploykit:synadiaToken"):
        provider.read("USR0001", {})


def test_429_and_a_5xx_on_reads_are_retried(
    accounts: AccountProvider, fake: FakeSynadia, waits: list[float]
) -> None:
    fake.fail_next(text_reply(429, "too many", **{"Retry-After": "4"}), method="POST")
    created = accounts.create(account_props())
    assert 4.0 in waits
    fake.fail_next(text_reply(503, "unavailable"), method="GET")
    fake.fail_next(text_reply(502, "bad gateway"), method="GET")
    assert accounts.read(created.id, created.outs).id == created.id


def test_a_5xx_on_create_is_not_retried(accounts: AccountProvider, fake: FakeSynadia) -> None:
    fake.fail_next(json_reply(500, {"message": "database unavailable"}), method="POST")
    with pytest.raises(ApiError, match="failed with 500: database unavailable"):
        accounts.create(account_props())
    assert len(fake.calls("POST", "/accounts")) == 1


def test_the_serialized_provider_holds_no_token_and_works_after_loading(fake: FakeSynadia) -> None:
    provider = UserProvider(fake.url)
    serialized = base64.b64decode(serialize_provider(provider))
    assert fake.token.encode() not in serialized
    loaded = configure(dill.loads(serialized), fake.token)
    assert loaded.read("USR9999", {}).id == ""


def test_jetstream_limits_follow_what_each_bus_declares() -> None:
    manifest = load_manifest(ROOT / "deploykit.yaml")
    core = jetstream_limits(manifest, "core", 1)["limits"]["tiered_limits"]
    mib = 1024**2
    # ACCOUNTS 1 GiB + flags (no limit: 64 MiB) + exports 512 MiB + smoke stream 8 MiB, kv and store 64 MiB
    assert core == {
        "R1": {
            "disk_storage": 1024 * mib + 64 * mib + 512 * mib + 8 * mib + 128 * mib,
            "mem_storage": 0,
            "streams": 6,
            "consumer": -1,
        }
    }
    analytics = jetstream_limits(manifest, "analytics", 3)["limits"]["tiered_limits"]
    assert analytics == {
        "R1": {"disk_storage": 256 * mib, "mem_storage": 0, "streams": 1, "consumer": -1}
    }
    paid = jetstream_limits(manifest, "core", 3)["limits"]["tiered_limits"]
    assert paid["R3"]["streams"] == 4 and paid["R1"]["streams"] == 2


def test_two_replicas_have_no_synadia_tier() -> None:
    manifest = load_manifest(ROOT / "deploykit.yaml")
    streams = dict(manifest.streams)
    streams["ACCOUNTS"] = streams["ACCOUNTS"].model_copy(update={"replicas": 2})
    with pytest.raises(
        ConfigError, match="stream ACCOUNTS asks for 2 replicas; Synadia Cloud offers R1 and R3"
    ):
        jetstream_limits(manifest.model_copy(update={"streams": streams}), "core", 3)


def test_links_create_every_export_then_every_import_and_delete_them(fake: FakeSynadia) -> None:
    """The three-bus example's exports and imports: the fake accepts each import only when the
    other account exports it, so the order and the subjects are checked; delete leaves none."""
    manifest = load_manifest(ROOT / "examples" / "three-buses" / "deploykit.yaml")
    client = SynadiaClient(fake.token, fake.url, sleep=lambda _: None)
    accounts = {bus: client.create_account("sys-1", bus).id for bus in manifest.buses}
    keys = {bus: fake.accounts[a]["account_public_key"] for bus, a in accounts.items()}
    links = {b: link.model_dump(mode="json") for b, link in compile_links(manifest).items()}
    provider = configure(LinksProvider(fake.url), fake.token)
    created = provider.create({"accounts": accounts, "keys": keys, "links": links})
    assert len(created.outs["export_ids"]) == len(fake.exports) == 7
    assert len(created.outs["import_ids"]) == len(fake.imports) == 7
    assert {i["importer"] for i in fake.imports.values()} == set(accounts.values())
    assert provider.diff(created.id, created.outs, created.outs).changes is False
    other = {**links, "billing": {"exports": [], "imports": []}}
    changed = provider.diff(created.id, created.outs, {**created.outs, "links": other})
    assert changed.replaces == ["links"]
    provider.delete(created.id, created.outs)
    assert fake.exports == {} and fake.imports == {}
    provider.delete(created.id, created.outs)  # already gone: nothing to do
