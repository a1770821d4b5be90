"""The Synadia Cloud client against the local fake of the control-plane API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from deploykit.laws.exports import compile_links
from deploykit.manifest.load import load_manifest
from deploykit.manifest.model import Manifest
from deploykit.saas import ApiError, AuthError, NotFound
from deploykit.saas.synadia import (
    ExportSettings,
    ImportSettings,
    Permission,
    ResponsePermission,
    SynadiaClient,
    UserJwtSettings,
    export_settings,
    import_settings,
)
from deploykit.small.accounts import account_limits
from deploykit.testing.fakes.server import json_reply, text_reply
from deploykit.testing.fakes.synadia import FakeSynadia, jwt_claims

ROOT = Path(__file__).resolve().parents[2]

SETTINGS = UserJwtSettings(
    pub=Permission(allow=["accounts.rpc.>", "_INBOX_web.>"]),
    sub=Permission(allow=["_INBOX_web.>"], deny=["$SYS.>"]),
    resp=ResponsePermission(max=1, ttl=0),
)


@pytest.fixture
def fake() -> Iterator[FakeSynadia]:
    with FakeSynadia() as server:
        yield server


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def client(fake: FakeSynadia, waits: list[float]) -> Iterator[SynadiaClient]:
    with SynadiaClient(fake.token, fake.url, sleep=waits.append) as api:
        yield api


def test_account_is_created_in_the_system_and_polled_until_synced(
    client: SynadiaClient, fake: FakeSynadia, waits: list[float]
) -> None:
    limits = {"limits": {"tiered_limits": {"R1": {"disk_storage": 1024, "streams": 2}}}}
    account = client.create_account("sys-1", "core", limits)
    assert account.jwt_sync_status == "InProgress"
    assert client.wait_account_synced(account.id).jwt_sync_status == "Complete"
    assert waits == [1.0]
    (create,) = fake.calls("POST", "/accounts")
    assert create.path == "/api/core/beta/systems/sys-1/accounts"
    assert create.json() == {"name": "core", "jwt_settings": limits}
    assert fake.accounts[account.id]["jwt_settings"] == limits


def test_user_gets_the_permissions_and_a_creds_file_that_carries_them(
    client: SynadiaClient, fake: FakeSynadia
) -> None:
    account = client.create_account("sys-1", "core")
    group = client.default_sk_group(account.id)
    user = client.create_user(account.id, "web", group, SETTINGS)
    assert (user.account.name, user.sk_group_id) == ("core", group)
    creds = client.download_creds(user.id)
    assert "BEGIN USER NKEY SEED" in creds
    assert jwt_claims(creds)["nats"] == SETTINGS.body()
    assert SETTINGS.body()["resp"] == {"max": 1, "ttl": 0}


def test_update_changes_permissions_and_the_next_creds(client: SynadiaClient) -> None:
    account = client.create_account("sys-1", "core")
    user = client.create_user(account.id, "web", client.default_sk_group(account.id), SETTINGS)
    narrower = UserJwtSettings(pub=Permission(allow=["accounts.rpc.get"]))
    expected = {"pub": {"allow": ["accounts.rpc.get"]}, "subs": -1, "data": -1, "payload": -1}
    assert client.update_user(user.id, narrower).jwt_settings == expected
    assert jwt_claims(client.download_creds(user.id))["nats"] == expected


def test_read_after_delete_is_not_found(client: SynadiaClient) -> None:
    account = client.create_account("sys-1", "core")
    user = client.create_user(account.id, "web", client.default_sk_group(account.id), SETTINGS)
    assert client.get_user(user.id).name == "web"
    client.delete_user(user.id)
    client.delete_account(account.id)
    with pytest.raises(NotFound):
        client.get_user(user.id)
    with pytest.raises(NotFound, match="Synadia Cloud: GET /accounts/"):
        client.get_account(account.id)


def test_a_bad_token_says_where_to_get_a_good_one(fake: FakeSynadia) -> None:
    with SynadiaClient("wrong", fake.url) as api, pytest.raises(AuthError) as caught:
        api.get_system("sys-1")
    message = str(caught.value)
    assert "Synadia Cloud refused the token (401" in message
    assert "deploykit:synadiaToken" in message
    assert "wrong" not in message


def test_429_is_retried_after_the_time_the_server_asks(
    client: SynadiaClient, fake: FakeSynadia, waits: list[float]
) -> None:
    fake.fail_next(text_reply(429, "slow down", **{"Retry-After": "7"}), times=2)
    assert client.get_system("sys-1").jetstream_tiers == ["R1"]
    assert waits == [7.0, 7.0]
    assert len(fake.calls("GET", "/systems/sys-1")) == 3


def test_5xx_on_a_read_is_retried_with_backoff_but_not_on_a_create(
    client: SynadiaClient, fake: FakeSynadia, waits: list[float]
) -> None:
    fake.fail_next(text_reply(502, "bad gateway"), times=2, method="GET")
    assert client.get_system("sys-1").name == "NGS"
    assert waits == [0.5, 1.0]
    fake.fail_next(json_reply(500, {"message": "boom"}), method="POST")
    with pytest.raises(ApiError, match=r"POST /systems/sys-1/accounts failed with 500: boom"):
        client.create_account("sys-1", "core")
    assert len(fake.calls("POST", "/accounts")) == 1
    assert fake.accounts == {}


def test_persistent_429_gives_up_with_advice(client: SynadiaClient, fake: FakeSynadia) -> None:
    fake.fail_next(text_reply(429, "slow down"), times=10)
    with pytest.raises(ApiError, match="still failed with 429 after 5 attempts"):
        client.get_system("sys-1")


def test_unknown_fields_are_refused_by_the_fake_as_by_the_spec(client: SynadiaClient) -> None:
    with pytest.raises(ApiError, match=r"tiered_limits\.R3: no such tier"):
        client.create_account("sys-1", "core", {"limits": {"tiered_limits": {"R3": {}}}})


def test_failed_sync_is_an_error_naming_the_account(
    client: SynadiaClient, fake: FakeSynadia
) -> None:
    account = client.create_account("sys-1", "core")
    fake.accounts[account.id].update(jwt_sync_status="Failed", jwt_sync_error="resolver down")
    fake.fail_next(json_reply(200, fake.accounts[account.id]), method="GET")
    with pytest.raises(ApiError, match=r"could not push account 'core'.*resolver down"):
        client.wait_account_synced(account.id)


def test_each_accounts_exports_and_imports_are_created_and_the_fake_checks_them(
    client: SynadiaClient, fake: FakeSynadia
) -> None:
    """The three-bus example's links, as Synadia subject exports shared with the accounts
    that import them, and imports carrying the share's activation: the fake accepts each import
    only when the other account exports it and the token was issued to the importer."""
    manifest = load_manifest(ROOT / "examples" / "three-buses" / "deploykit.yaml")
    links = compile_links(manifest)
    accounts = {  # the limits the small tier states: exactly as many links as the bus has
        bus: client.create_account("sys-1", bus, {"limits": _link_limits(manifest, bus)})
        for bus in manifest.buses
    }
    keys = {bus: fake.accounts[a.id]["account_public_key"] for bus, a in accounts.items()}
    tokens = {}
    for bus, link in links.items():
        for export in link.exports:
            made = client.create_subject_export(accounts[bus].id, export_settings(export))
            for importer in export.accounts:
                share = client.create_subject_share(made.id, keys[importer])
                tokens[(bus, export.subject, importer)] = share.jwt
    for bus, link in links.items():
        for imported in link.imports:
            token = tokens[(imported.account, imported.subject, bus)]
            client.create_subject_import(accounts[bus].id, import_settings(imported, keys, token))
    assert len(fake.exports) == sum(len(link.exports) for link in links.values()) == 14
    assert len(fake.imports) == sum(len(link.imports) for link in links.values()) == 14
    assert len(fake.shares) == 14 and fake.unactivated_imports() == []
    (call,) = [e for e in fake.exports.values() if e["subject"] == "billing.rpc.invoice"]
    assert call["jwt_settings"] == {
        "name": "billing.rpc.invoice",
        "subject": "billing.rpc.invoice",
        "type": "service",
        "response_type": "Singleton",
        "token_req": True,
    }
    assert call["is_public"] is False
    next_ = "CONSUMER.MSG.NEXT.ACCOUNTS.invoicer"
    renamed = [i["jwt_settings"] for i in fake.imports.values() if i["name"].endswith(next_)]
    assert renamed == [
        {
            "name": f"deploykit.bus.core.API.{next_}",
            "account": keys["core"],
            "subject": f"$JS.API.{next_}",
            "local_subject": f"deploykit.bus.core.API.{next_}",
            "type": "service",
            "token": tokens[("core", f"$JS.API.{next_}", "billing")],
        }
    ]


def _link_limits(manifest: Manifest, bus: str) -> dict[str, int]:
    limits = account_limits(manifest, bus, 1)
    return {"imports": limits["imports"], "exports": limits["exports"]}


def test_an_account_holds_no_more_links_than_its_limits(
    client: SynadiaClient, fake: FakeSynadia
) -> None:
    """Limits of 0 (what the small tier stated for every bus before cross-bus paths) make the
    account JWT refuse any export or import; the limits now count the bus's links."""
    closed = client.create_account("sys-1", "billing", {"limits": {"imports": 0, "exports": 0}})
    invoice = ExportSettings(name="x", subject="billing.rpc.invoice", type="service")
    with pytest.raises(ApiError, match="more exports than allowed"):
        client.create_subject_export(closed.id, invoice)
    manifest = load_manifest(ROOT / "examples" / "three-buses" / "deploykit.yaml")
    links = compile_links(manifest)
    for bus in manifest.buses:
        limits = _link_limits(manifest, bus)
        assert limits == {"imports": len(links[bus].imports), "exports": len(links[bus].exports)}
    assert _link_limits(manifest, "analytics")["exports"] == 0
    # the analytics account also holds deploykit bench's copy of the smoke messages
    assert account_limits(manifest, "analytics", 1)["tiered_limits"]["1"]["streams"] == 2


def test_an_export_shared_with_one_account_is_not_imported_by_another(
    client: SynadiaClient, fake: FakeSynadia
) -> None:
    """Each export is restricted to the accounts it is shared with: an import carrying another
    account's activation is refused (as nats-io/jwt refuses it in the account JWT), and one
    without a token is stored but not routed by the servers."""
    core, billing, analytics = (client.create_account("sys-1", b) for b in ("core", "billing", "analytics"))  # fmt: skip
    key = {a.id: fake.accounts[a.id]["account_public_key"] for a in (core, billing, analytics)}
    invoice = ExportSettings(
        name="x", subject="billing.rpc.invoice", type="service", token_req=True
    )
    export = client.create_subject_export(billing.id, invoice)
    share = client.create_subject_share(export.id, key[core.id])
    wanted = ImportSettings(
        name="y", account=key[billing.id], subject="billing.rpc.invoice",
        local_subject="billing.rpc.invoice", type="service", token=share.jwt,
    )  # fmt: skip
    with pytest.raises(ApiError, match="400"):
        client.create_subject_import(analytics.id, wanted)  # core's activation, not analytics'
    with pytest.raises(ApiError, match="400"):
        client.create_subject_import(core.id, wanted.model_copy(update={"token": "not-a-jwt"}))
    client.create_subject_import(core.id, wanted)
    assert fake.unactivated_imports() == []
    client.create_subject_import(analytics.id, wanted.model_copy(update={"token": None}))
    assert [i["importer"] for i in fake.unactivated_imports()] == [analytics.id]
    client.delete_subject_share(export.id, key[core.id])
    assert len(fake.unactivated_imports()) == 2  # revoked: core's import is no longer routed
    with pytest.raises(NotFound):
        client.delete_subject_share(export.id, key[core.id])
    with pytest.raises(NotFound):
        client.create_subject_share("LNK-none", key[core.id])
    with pytest.raises(ApiError, match="400"):
        client.create_subject_share(export.id, "not-an-account-key")


def test_an_import_of_what_the_other_account_does_not_export_is_refused(
    client: SynadiaClient,
) -> None:
    core, billing = (client.create_account("sys-1", bus) for bus in ("core", "billing"))
    client.create_subject_export(
        billing.id, ExportSettings(name="x", subject="billing.rpc.invoice", type="service")
    )
    key = f"A{billing.id}"
    undeclared = ImportSettings(
        name="y", account=key, subject="billing.rpc.secret", local_subject="billing.rpc.secret",
        type="service",
    )  # fmt: skip
    with pytest.raises(ApiError, match="400"):
        client.create_subject_import(core.id, undeclared)
    wrong_type = undeclared.model_copy(
        update={
            "subject": "billing.rpc.invoice",
            "local_subject": "billing.rpc.invoice",
            "type": "stream",
        }
    )
    with pytest.raises(ApiError, match="400"):
        client.create_subject_import(core.id, wrong_type)
    right = wrong_type.model_copy(update={"type": "service"})
    assert client.create_subject_import(core.id, right).name == "y"
