"""The small tier's decisions (deploykit/small), as plain functions: no Pulumi, no API."""

from __future__ import annotations

import base64

import pytest

from deploykit.errors import ConfigError
from deploykit.manifest.model import Manifest
from deploykit.small import accounts, database, outputs, services, telemetry
from deploykit.stack.config import GrafanaSettings, NeonSettings, SmallConfig

MIB = 1024**2


def test_account_limits_are_all_stated_and_follow_the_bus(manifest: Manifest) -> None:
    core = accounts.account_limits(manifest, "core", 1)
    instances = sum(s.replicas for s in manifest.services.values() if s.bus == "core")
    assert core["conn"] == instances * 2 + 4
    assert core["subs"] == core["conn"] * 100
    assert core["payload"] == MIB
    assert (core["data"], core["imports"], core["exports"], core["leaf"]) == (-1, 0, 0, 0)
    # ACCOUNTS 1 GiB + flags (no limit: 64 MiB) + exports 512 MiB + smoke stream 8 MiB, kv and store 64 MiB
    assert core["tiered_limits"] == {
        "1": {
            "disk_storage": 1024 * MIB + 64 * MIB + 512 * MIB + 8 * MIB + 128 * MIB,
            "mem_storage": 0,
            "streams": 6,
            "consumer": -1,
        }
    }
    analytics = accounts.account_limits(manifest, "analytics", 3)["tiered_limits"]
    assert analytics == {
        "1": {"disk_storage": 256 * MIB, "mem_storage": 0, "streams": 1, "consumer": -1}
    }
    paid = accounts.account_limits(manifest, "core", 3)["tiered_limits"]
    assert paid["3"]["streams"] == 4 and paid["1"]["streams"] == 2


def test_the_stack_can_state_a_limit_instead(manifest: Manifest) -> None:
    limits = accounts.account_limits(manifest, "core", 1, {"conn": 10, "subs": 500})
    assert (limits["conn"], limits["subs"], limits["imports"]) == (10, 500, 0)


def test_a_bigger_message_size_raises_the_payload_limit(manifest: Manifest) -> None:
    streams = dict(manifest.streams)
    streams["ACCOUNTS"] = streams["ACCOUNTS"].model_copy(update={"max_msg_size": 4 * MIB})
    bigger = manifest.model_copy(update={"streams": streams})
    assert accounts.account_limits(bigger, "core", 1)["payload"] == 4 * MIB


def test_tiers_take_the_systems_spelling_and_back() -> None:
    limits = {"conn": 8, "tiered_limits": {"1": {"streams": 1}, "3": {"streams": 2}}}
    spelled = accounts.spell_tiers(limits, ["r1", "r3"], "NGS")
    assert spelled == {"conn": 8, "tiered_limits": {"r1": {"streams": 1}, "r3": {"streams": 2}}}
    assert accounts.spell_tiers(limits, ["R1", "R3"], "NGS")["tiered_limits"].keys() == {"R1", "R3"}
    assert accounts.unspell_tiers(spelled) == limits


def test_a_replica_count_without_a_tier_is_refused_naming_the_setting() -> None:
    with pytest.raises(
        ConfigError,
        match=r"offers JetStream tiers R1, none of them for 2 or 3 replicas; set deploykit:small\.nats\.maxReplicas",
    ):
        accounts.spell_tiers({"tiered_limits": {"2": {}, "3": {}}}, ["R1"], "NGS")


def test_a_patch_sends_a_dropped_tier_as_null() -> None:
    old = {"conn": 8, "tiered_limits": {"R1": {"streams": 1}, "R3": {"streams": 2}}}
    new = {"conn": 9, "tiered_limits": {"R1": {"streams": 1}}}
    assert accounts.limits_patch(old, new) == {
        "conn": 9,
        "tiered_limits": {"R1": {"streams": 1}, "R3": None},
    }


def test_neon_needs_an_organization_unless_the_key_is_one() -> None:
    with pytest.raises(
        ConfigError, match=r"deploykit:small\.neon\.orgId is empty.*neon\.orgKey: true"
    ):
        database.project_org(NeonSettings())
    assert database.project_org(NeonSettings(orgId="org-acme-1")) == "org-acme-1"
    assert database.project_org(NeonSettings(orgKey=True, orgId="org-acme-1")) == ""


def test_every_database_uri_requires_tls() -> None:
    """Neon's URIs carry no sslmode (the recorded create-project answer); ours always do."""
    uri = "postgresql://app:pw@ep-x.us-east-2.aws.neon.tech/app"
    assert database.require_tls(uri) == uri + "?sslmode=require"
    assert database.require_tls(uri + "?sslmode=verify-full") == uri + "?sslmode=verify-full"
    assert database.require_tls(uri + "?options=x") == uri + "?options=x&sslmode=require"


def test_owners_are_one_per_database(manifest: Manifest) -> None:
    assert database.owners(manifest) == sorted(
        {manifest.database_owner(k) for k in manifest.databases}
    )


WITH_GATEWAY = SmallConfig.model_validate(
    {"vercel": {"frontends": {"gateway": {"source": "apps/gateway/vercel"}}}}
)


def test_services_split_between_railway_and_vercel(manifest: Manifest) -> None:
    assert services.deployed_services(manifest) == ["accounts", "welcome", "projector"]
    assert services.frontend_services(manifest, WITH_GATEWAY) == ["gateway"]
    on_railway = SmallConfig.model_validate({"railway": {"frontends": ["gateway"]}})
    assert services.frontend_services(manifest, on_railway) == []
    assert services.railway_frontends(manifest, on_railway) == ["gateway"]
    wrong = {"vercel": {"frontends": {"accounts": {"source": "apps"}}}}
    with pytest.raises(ConfigError, match="names accounts, which is no frontend service"):
        services.frontend_services(manifest, SmallConfig.model_validate(wrong))
    with pytest.raises(ConfigError, match=r"vercel\.frontends\.gateway\.source: the directory"):
        services.frontend_services(manifest, SmallConfig())


def test_a_service_env_has_creds_database_and_otlp(manifest: Manifest) -> None:
    env = services.service_env(
        "acme", "accounts", manifest.services["accounts"], ["tls://connect.ngs.global"],
        "--creds--", {"accounts": "postgresql://x"}, ("https://otlp", "Authorization=Basic%20x"),
        with_port=True,
    )  # fmt: skip
    assert env["NATS_CREDS"] == "--creds--"
    assert env["DATABASE_URL"] == "postgresql://x"
    assert env["OTEL_RESOURCE_ATTRIBUTES"] == "service.namespace=acme"
    assert env["OTEL_SERVICE_NAME"] == "accounts"
    assert "NATS_PASSWORD" not in env


def test_otlp_headers_are_basic_auth_with_the_space_encoded() -> None:
    header = telemetry.otlp_headers("123456", "glc_token")
    assert header == "Authorization=Basic%20" + base64.b64encode(b"123456:glc_token").decode()


def test_grafana_gets_the_shared_dashboards_and_rules(manifest: Manifest) -> None:
    assert list(telemetry.dashboards(manifest)) == ["nats", "database", "services"]
    assert next(r.name for r in telemetry.rules(manifest)) == "ServicesNotReporting"
    with pytest.raises(ConfigError, match=r"grafana\.stackSlug is empty"):
        telemetry.check_settings(GrafanaSettings())


def test_the_outputs_document_has_the_shape_smoke_reads(manifest: Manifest) -> None:
    users = [u for bus in manifest.buses for u in accounts.user_roles(manifest, bus)]
    creds = outputs.credentials(manifest, {u: f"creds-{u}" for u in users})
    assert creds["smoke-core"] == {
        "account": "core",
        "role": "smoke",
        "service": None,
        "creds": "creds-smoke-core",
        "inbox_prefix": "_INBOX_smoke-core",
    }
    document = outputs.stack_outputs(
        manifest, SmallConfig(), {"credentials": creds, "frontend_urls": {"gateway": "https://g"}}
    )
    assert (document["target"], document["database"]) == ("small", None)
    assert document["nats"]["urls"] == ["tls://connect.ngs.global"]
    assert {s["name"]: s["url"] for s in document["services"]}["gateway"] == "https://g"


def test_the_tokens_needed_follow_what_is_switched_on(manifest: Manifest) -> None:
    everything = [key for _, key, _ in outputs.needed_secrets(manifest, WITH_GATEWAY)]
    assert everything == [
        "cloudAccessPolicyToken",
        "synadiaToken",
        "neonApiKey",
        "railwayToken",
        "vercelToken",
    ]
    off = SmallConfig.model_validate({"vercel": {"enabled": False}, "grafana": {"enabled": False}})
    assert [k for _, k, _ in outputs.needed_secrets(manifest, off)] == everything[1:4]
