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

from components.small.synadia import AccountProvider, UserProvider
from components.small.synadia_links import LinksProvider
from deploykit.errors import ConfigError
from deploykit.laws.exports import compile_links
from deploykit.manifest.load import load_manifest
from deploykit.saas import ApiError, AuthError
from deploykit.saas.synadia import SynadiaClient
from deploykit.testing.fakes.server import json_reply, text_reply
from deploykit.testing.fakes.synadia import FakeSynadia, jwt_claims

ROOT = Path(__file__).resolve().parents[2]

LIMITS = {"conn": 10, "tiered_limits": {"1": {"disk_storage": 1024, "streams": 2, "consumer": -1}}}
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


def account_props(name: str = "core", limits: dict[str, Any] = LIMITS) -> dict[str, Any]:
    return {"system_id": "sys-1", "name": name, "limits": limits, "public_key": None}


def test_account_create_read_update_delete(accounts: AccountProvider, fake: FakeSynadia) -> None:
    created = accounts.create(account_props())
    assert fake.accounts[created.id]["name"] == "core"
    assert created.outs["public_key"] == f"A{created.id}"
    read = accounts.read(created.id, created.outs)
    assert read.outs == created.outs
    bigger = {
        "conn": 20,
        "tiered_limits": {"1": {"disk_storage": 4096, "streams": 3, "consumer": -1}},
    }
    updated = accounts.update(created.id, created.outs, account_props(limits=bigger))
    assert fake.accounts[created.id]["jwt_settings"]["limits"] == {
        "conn": 20,
        "tiered_limits": {"R1": {"disk_storage": 4096, "streams": 3, "consumer": -1}},
    }
    assert updated.outs["limits"] == bigger
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
    resized = accounts.diff("id", olds, account_props(limits={"tiered_limits": {}}))
    assert (resized.changes, resized.replaces) == (True, [])


def test_refresh_sees_drift_in_declared_limits_only(
    accounts: AccountProvider, fake: FakeSynadia
) -> None:
    created = accounts.create(account_props())
    stored = fake.accounts[created.id]["jwt_settings"]["limits"]
    stored["leaf"] = -1  # a default the API adds: not ours
    assert accounts.read(created.id, created.outs).outs["limits"] == LIMITS
    stored["tiered_limits"]["R1"]["streams"] = 9  # changed by hand in the console
    drifted = accounts.read(created.id, created.outs).outs["limits"]
    assert drifted["tiered_limits"]["1"]["streams"] == 9
    assert accounts.diff(created.id, {**created.outs, "limits": drifted}, account_props()).changes


def test_limits_for_a_tier_the_plan_lacks_are_refused_before_creating(
    accounts: AccountProvider, fake: FakeSynadia
) -> None:
    r3 = {"tiered_limits": {"3": {"streams": 1}}}
    with pytest.raises(
        ConfigError,
        match=r"offers JetStream tiers R1, none of them for 3 replicas; set deploykit:small\.nats\.maxReplicas",
    ):
        accounts.create(account_props(limits=r3))
    assert fake.accounts == {}


def test_tiers_are_named_as_the_system_spells_them() -> None:
    """The spec gives `jetstream_tiers` no enum: a system spelling them `r1`/`r3` still works
    (failed before: the client sent `R1`, a tier that system does not have)."""
    with FakeSynadia(tiers=("r1", "r3")) as fake:
        accounts = configure(AccountProvider(fake.url, {"sleep": lambda _: None}), fake.token)
        limits = {"tiered_limits": {"1": {"streams": 1}, "3": {"streams": 2}}}
        created = accounts.create(account_props(limits=limits))
        stored = fake.accounts[created.id]["jwt_settings"]["limits"]["tiered_limits"]
        assert stored == {"r1": {"streams": 1}, "r3": {"streams": 2}}
        assert accounts.read(created.id, created.outs).outs["limits"] == limits


def test_an_update_that_drops_a_tier_removes_it() -> None:
    """PATCH merges: a tier left out would stay; it is sent as null (OperatorLimitsPatch)."""
    with FakeSynadia(tiers=("R1", "R3")) as fake:
        accounts = configure(AccountProvider(fake.url, {"sleep": lambda _: None}), fake.token)
        both = {"tiered_limits": {"1": {"streams": 1}, "3": {"streams": 2}}}
        created = accounts.create(account_props(limits=both))
        one = {"tiered_limits": {"1": {"streams": 1}}}
        accounts.update(created.id, created.outs, account_props(limits=one))
        assert fake.accounts[created.id]["jwt_settings"]["limits"]["tiered_limits"] == {
            "R1": {"streams": 1}
        }


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
    unlimited = {"subs": -1, "data": -1, "payload": -1}  # a PATCH states them (not nullable)
    assert jwt_claims(updated.outs["creds"])["nats"] == {**narrower, **unlimited}
    assert updated.outs["creds"] != created.outs["creds"]
    assert fake.users[created.id]["jwt_settings"] == {**narrower, **unlimited}
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


def test_a_patch_clears_what_is_no_longer_set(
    accounts: AccountProvider, users: UserProvider, fake: FakeSynadia
) -> None:
    """Failed before: None values were dropped, so a removed `deny` or `resp` stayed."""
    account = accounts.create(account_props())
    wide = {**PERMISSIONS, "resp": {"max": 1, "ttl": 0}, "sub": {"allow": ["a.>"], "deny": ["a.b"]}}
    props = {"account_id": account.id, "name": "web", "jwt_settings": wide}
    created = users.create(props)
    narrow = {"pub": {"allow": ["accounts.rpc.>"]}, "sub": {"allow": ["a.>"]}}
    users.update(created.id, created.outs, {**props, "jwt_settings": narrow})
    stored = fake.users[created.id]["jwt_settings"]
    assert "resp" not in stored
    assert stored["sub"] == {"allow": ["a.>"]}


def test_numbers_the_engine_hands_over_as_floats_are_sent_as_integers(
    accounts: AccountProvider, fake: FakeSynadia
) -> None:
    """The engine passes inputs as protobuf doubles (2 → 2.0); Synadia's int64 fields refuse
    2.0. Failed before (seen under the real engine only): 400 "must be an integer"."""
    floats = {"conn": 10.0, "tiered_limits": {"1": {"disk_storage": 1024.0, "streams": 2.0}}}
    created = accounts.create(account_props(limits=floats))
    stored = fake.accounts[created.id]["jwt_settings"]["limits"]
    assert stored == {"conn": 10, "tiered_limits": {"R1": {"disk_storage": 1024, "streams": 2}}}
    assert all(type(v) is int for v in stored["tiered_limits"]["R1"].values())


def test_links_create_every_export_then_every_import_and_delete_them(fake: FakeSynadia) -> None:
    """The three-bus example's exports and imports: the fake accepts each import only when the
    other account exports it and shared it with the importer (an activation issued to it), so
    the order, the subjects and the restriction are checked; delete leaves none."""
    manifest = load_manifest(ROOT / "examples" / "three-buses" / "deploykit.yaml")
    client = SynadiaClient(fake.token, fake.url, sleep=lambda _: None)
    accounts = {bus: client.create_account("sys-1", bus).id for bus in manifest.buses}
    keys = {bus: fake.accounts[a]["account_public_key"] for bus, a in accounts.items()}
    links = {b: link.model_dump(mode="json") for b, link in compile_links(manifest).items()}
    provider = configure(LinksProvider(fake.url), fake.token)
    created = provider.create({"accounts": accounts, "keys": keys, "links": links})
    assert len(created.outs["export_ids"]) == len(fake.exports) == 14
    assert len(created.outs["import_ids"]) == len(fake.imports) == 14
    assert len(created.outs["share_ids"]) == len(fake.shares) == 14
    assert all(e["jwt_settings"]["token_req"] for e in fake.exports.values())
    assert fake.unactivated_imports() == []
    assert {i["importer"] for i in fake.imports.values()} == set(accounts.values())
    assert provider.diff(created.id, created.outs, created.outs).changes is False
    other = {**links, "billing": {"exports": [], "imports": []}}
    changed = provider.diff(created.id, created.outs, {**created.outs, "links": other})
    assert changed.replaces == ["links"]
    provider.delete(created.id, created.outs)
    assert fake.exports == {} and fake.imports == {} and fake.shares == {}
    provider.delete(created.id, created.outs)  # already gone: nothing to do
