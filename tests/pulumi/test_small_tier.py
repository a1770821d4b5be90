"""The whole `small` program under Pulumi's mock runtime: resources, inputs, dependencies, secrets."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.small import SmallTier
from components.small.synadia import NatsConnection
from deploykit.errors import ConfigError
from deploykit.manifest.load import load_manifest
from deploykit.manifest.model import Manifest
from deploykit.small.accounts import default_authorization
from deploykit.stack.config import SmallConfig
from deploykit.stack.outputs import StackOutputs
from deploykit.testing.pulumimocks import Engine, SmallTierEngine, plain, strings

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pulumiverse_grafana")

ROOT = Path(__file__).resolve().parents[2]
DYNAMIC = "pulumi-python:dynamic/small:"
TOKENS = {
    "deploykit:synadiaToken": "syn-secret-token",
    "deploykit:neonApiKey": "neon-secret-key",
    "deploykit:railwayToken": "railway-secret-token",
    "deploykit:vercelToken": "vercel-secret-token",
    "grafana:cloudAccessPolicyToken": "grafana-secret-token",
}
SETTINGS: dict[str, Any] = {
    "nats": {"systemId": "sys-1"},
    "neon": {"regionId": "aws-eu-central-1", "pgVersion": 17, "orgId": "org-acme-1"},
    "railway": {"workspaceId": "ws-1"},
    "grafana": {"stackSlug": "acme"},
    "vercel": {
        "team": "acme-team",
        "frontends": {
            "gateway": {
                "source": "apps/gateway/vercel",
                "include": ["apps/gateway/server.py"],
                "domain": "app.acme.test",
            }
        },
    },
}
AUTHORIZATION = default_authorization(load_manifest(ROOT / "deploykit.yaml"))
USERS = ["gateway", "accounts", "welcome", "projector", "smoke-core", "provisioning-core"]
USERS += ["backup-core", "smoke-analytics", "provisioning-analytics", "backup-analytics"]


class Definitions(pulumi.ComponentResource):
    """Stands in for the JetStream component the reconciler's branch provides (one stream)."""

    def __init__(self, name: str, opts: pulumi.ResourceOptions) -> None:
        super().__init__("test:jetstream:Definitions", name, {}, opts)
        self.stream = pulumi.CustomResource(
            "test:jetstream:Stream", f"{name}-stream", {}, pulumi.ResourceOptions(parent=self)
        )
        self.register_outputs({})


@pytest.fixture(scope="module")
def manifest() -> Manifest:
    return load_manifest(ROOT / "deploykit.yaml")


def deploy(
    manifest: Manifest,
    settings: dict[str, Any] = SETTINGS,
    config: dict[str, str] = TOKENS,
    **kwargs: Any,
) -> Engine:
    small = SmallConfig.model_validate(settings)
    return SmallTierEngine().run(
        lambda: SmallTier("small", manifest, small, root=ROOT, **kwargs),
        config,
        config,
        stack="small",
    )


@pytest.fixture(scope="module")
def given() -> dict[str, Any]:
    return {}


@pytest.fixture(scope="module")
def engine(manifest: Manifest, given: dict[str, Any]) -> Engine:
    def jetstream(
        name: str, manifest: Manifest, nats: NatsConnection, opts: pulumi.ResourceOptions
    ) -> pulumi.Resource:
        given.update(name=name, manifest=manifest, nats=nats)
        return Definitions(name, opts)

    return deploy(manifest, authorization=AUTHORIZATION, jetstream=jetstream)


def names(engine: Engine, typ: str) -> list[str]:
    return sorted(r.name for r in engine.of_type(typ))


def test_the_graph_has_one_of_each_thing_the_manifest_declares(engine: Engine) -> None:
    assert names(engine, DYNAMIC + "SynadiaAccount") == ["small-nats-analytics", "small-nats-core"]
    assert names(engine, DYNAMIC + "SynadiaUser") == sorted(
        f"small-nats-{'analytics' if u.endswith('analytics') else 'core'}-{u}" for u in USERS
    )
    assert names(engine, DYNAMIC + "NeonProject") == ["small-database-project"]
    assert names(engine, DYNAMIC + "NeonRole") == [
        "small-database-role-accounts",
        "small-database-role-welcome",
    ]
    assert names(engine, DYNAMIC + "NeonDatabase") == [
        "small-database-db-accounts",
        "small-database-db-welcome",
    ]
    assert names(engine, DYNAMIC + "RailwayProject") == ["small-services-project"]
    assert names(engine, DYNAMIC + "RailwayService") == [
        "small-services-accounts",
        "small-services-projector",
        "small-services-welcome",
    ]
    assert names(engine, DYNAMIC + "VercelProject") == ["small-frontends-gateway"]
    assert names(engine, DYNAMIC + "VercelDeployment") == ["small-frontends-gateway-deployment"]
    assert names(engine, "grafana:cloud/stack:Stack") == ["small-metrics-stack"]
    assert len(engine.of_type("grafana:oss/dashboard:Dashboard")) == 3
    assert len(engine.of_type("grafana:alerting/ruleGroup:RuleGroup")) == 1
    assert names(engine, "test:jetstream:Definitions") == ["small-jetstream"]


def test_components_use_the_deploykit_small_type_tokens_and_parent_everything(
    engine: Engine,
) -> None:
    components = {
        r.name: r.type for r in engine.registrations.values() if r.type.startswith("deploykit:")
    }
    assert components == {
        "small": "deploykit:small:SmallTier",
        "small-nats": "deploykit:small:Nats",
        "small-database": "deploykit:small:Database",
        "small-metrics": "deploykit:small:Metrics",
        "small-services": "deploykit:small:Services",
        "small-frontends": "deploykit:small:Frontends",
    }
    tier = engine.registrations["small"].urn
    for registration in engine.registrations.values():
        if registration.name == "small":
            continue
        chain, urn = [], registration.parent
        while urn and urn != tier:
            chain.append(urn)
            urn = engine.by_urn(urn).parent
        assert urn == tier, f"{registration.name} is not under the SmallTier"
        assert registration.name.startswith("small-"), registration.name


def test_users_get_the_documents_permissions_and_accounts_their_jetstream_limits(
    engine: Engine,
) -> None:
    user = engine.registrations["small-nats-core-accounts"]
    assert user.input("jwt_settings") == AUTHORIZATION["accounts"]["core"]["users"]["accounts"]
    assert user.input("name") == "accounts"
    core = engine.registrations["small-nats-core"]
    assert core.input("system_id") == "sys-1"
    assert core.input("name") == "core"
    limits = core.input("limits")
    assert set(limits["tiered_limits"]) == {"1"}  # maxReplicas 1: every R3 stream runs as R1
    assert {"conn", "subs", "payload", "data", "imports", "exports"} <= set(limits)
    assert user.input("account_id") == "small-nats-core-id"


def test_services_run_their_image_with_replicas_and_their_own_variables(
    engine: Engine, manifest: Manifest
) -> None:
    project = engine.registrations["small-services-project"]
    assert (project.input("name"), project.input("workspace_id"), project.input("environment")) == (
        "acme",
        "ws-1",
        "production",
    )
    service = engine.registrations["small-services-accounts"]
    assert service.input("image") == "ghcr.io/acme/accounts:latest"
    assert (service.input("region"), service.input("replicas")) == ("us-west2", 2)
    assert service.input("environment_id") == "env-test"
    variables = service.input("variables")
    assert variables["DEPLOYKIT_SERVICE"] == "accounts"
    assert variables["NATS_URL"] == "tls://connect.ngs.global"
    assert variables["NATS_CREDS"] == "--creds of accounts--"
    assert variables["NATS_INBOX_PREFIX"] == "_INBOX_accounts"
    assert variables["DATABASE_URL"] == "postgresql://accounts:pw@ep-test.neon.tech/accounts"
    assert variables["OTEL_SERVICE_NAME"] == "accounts"
    assert variables["OTEL_RESOURCE_ATTRIBUTES"] == "service.namespace=acme"
    assert (
        variables["OTEL_EXPORTER_OTLP_ENDPOINT"]
        == "https://otlp-gateway-prod-us-east-0.grafana.net/otlp"
    )
    basic = base64.b64encode(b"small-metrics-stack-id:glc_test_token").decode()
    assert variables["OTEL_EXPORTER_OTLP_HEADERS"] == f"Authorization=Basic%20{basic}"
    assert "DATABASE_URL" not in engine.registrations["small-services-projector"].input("variables")


def test_frontend_project_variables_domain_and_deployment_of_its_files(engine: Engine) -> None:
    project = engine.registrations["small-frontends-gateway"]
    assert project.input("name") == "acme-gateway"
    assert project.input("team") == "acme-team"
    assert project.input("framework") is None
    assert project.input("domain") == "app.acme.test"
    variables = project.input("variables")
    assert set(variables) >= {"DEPLOYKIT_SERVICE", "NATS_URL", "NATS_CREDS", "NATS_INBOX_PREFIX"}
    assert "PORT" not in variables and "DATABASE_URL" not in variables
    assert variables["NATS_CREDS"] == "--creds of gateway--"
    deployment = engine.registrations["small-frontends-gateway-deployment"]
    assert deployment.input("project_id") == "small-frontends-gateway-id"
    files = deployment.input("files")
    assert set(files) == {
        "api/index.py",
        "vercel.json",
        "requirements.txt",
        "apps/gateway/server.py",
    }
    assert files["api/index.py"]["source"] == str(ROOT / "apps/gateway/vercel/api/index.py")
    assert len(files["api/index.py"]["sha"]) == 40


def test_database_on_the_configured_region_and_version(engine: Engine) -> None:
    project = engine.registrations["small-database-project"]
    assert project.input("region_id") == "aws-eu-central-1"
    assert project.input("pg_version") == 17
    assert project.input("branch") == "main"
    database = engine.registrations["small-database-db-accounts"]
    assert (database.input("name"), database.input("owner")) == ("accounts", "accounts")
    assert database.input("branch_id") == "br-test"


def test_grafana_stack_dashboards_alerts_and_push_token(engine: Engine) -> None:
    stack = engine.registrations["small-metrics-stack"]
    assert (stack.input("slug"), stack.input("regionSlug")) == ("acme", "us")
    folder = engine.registrations["small-metrics-folder"]
    for board in engine.of_type("grafana:oss/dashboard:Dashboard"):
        assert board.input("folder") == folder.input("uid") == "deploykit-acme"
        assert json.loads(board.input("configJson"))["uid"].startswith("acme-")
    alerts = engine.registrations["small-metrics-alerts"]
    assert alerts.input("rules")[0]["datas"][0]["datasourceUid"] == "grafanacloud-prom"
    lookups = [
        args for token, args in engine.invokes if token == "grafana:oss/getDataSource:getDataSource"
    ]
    assert lookups == [{"name": "grafanacloud-acme-prom"}]
    policy = engine.registrations["small-metrics-push"]
    assert policy.input("scopes") == ["metrics:write", "logs:write", "traces:write"]
    assert policy.input("realms") == [{"type": "stack", "identifier": "small-metrics-stack-id"}]
    dashboards_provider = engine.registrations["small-metrics-stack-provider"]
    assert folder.provider.startswith(dashboards_provider.urn)


def urns(engine: Engine, typ: str) -> set[str]:
    return {r.urn for r in engine.of_type(typ)}


def test_jetstream_waits_for_every_account_and_user(engine: Engine, given: dict[str, Any]) -> None:
    definitions = engine.registrations["small-jetstream"]
    needed = urns(engine, DYNAMIC + "SynadiaAccount") | urns(engine, DYNAMIC + "SynadiaUser")
    assert needed <= set(definitions.dependencies)
    assert definitions.parent == engine.registrations["small"].urn
    nats = given["nats"]
    assert (nats.urls, nats.cluster_size) == (["tls://connect.ngs.global"], 1)
    assert given["name"] == "small-jetstream"


def test_services_wait_for_the_database_and_the_jetstream_definitions(engine: Engine) -> None:
    database = engine.registrations["small-database-db-accounts"].urn
    definitions = engine.registrations["small-jetstream-stream"].urn  # a component: its children
    for service in engine.of_type(DYNAMIC + "RailwayService"):
        assert {database, definitions} <= set(service.dependencies), service.name
    accounts = engine.registrations["small-services-accounts"]
    own_user = engine.registrations["small-nats-core-accounts"].urn
    other_user = engine.registrations["small-nats-core-welcome"].urn
    assert own_user in accounts.dependencies and other_user not in accounts.dependencies
    role = engine.registrations["small-database-role-accounts"].urn
    assert role in engine.registrations["small-database-db-accounts"].dependencies


def test_every_credential_is_secret(engine: Engine) -> None:
    for user in engine.of_type(DYNAMIC + "SynadiaUser"):
        assert user.secret_outputs == ["creds"]
    assert engine.registrations["small-database-role-accounts"].secret_outputs == ["password"]
    assert engine.registrations["small-database-db-accounts"].secret_outputs == ["uri"]
    assert engine.registrations["small-database-project"].secret_outputs == ["admin_uri"]
    for service in engine.of_type(DYNAMIC + "RailwayService"):
        assert service.is_secret("variables") and service.secret_outputs == ["variables"]
    project = engine.registrations["small-frontends-gateway"]
    assert project.is_secret("variables") and project.secret_outputs == ["variables"]
    assert engine.registrations["small-metrics-cloud"].is_secret("cloudAccessPolicyToken")
    assert engine.registrations["small-metrics-stack-provider"].is_secret("auth")
    assert "key" in engine.registrations["small-metrics-deploykit-token"].secret_outputs
    assert "token" in engine.registrations["small-metrics-push-token"].secret_outputs


def test_api_tokens_are_never_resource_inputs_in_plain_text(engine: Engine) -> None:
    """Only provider inputs carry tokens, as secrets; dynamic providers pickle none."""
    checked = 0
    for registration in engine.registrations.values():
        for key, value in registration.inputs.items():
            if key == "__provider":
                texts = [base64.b64decode(plain(value)).decode("latin-1")]
            elif registration.is_secret(key):
                continue
            else:
                texts = list(strings(plain(value)))
            for text in texts:
                checked += 1
                for token in TOKENS.values():
                    assert token not in text, f"{registration.name}.{key} holds a token"
    assert checked > 100


def test_exports_are_the_stack_outputs_shape_with_secrets_kept(engine: Engine) -> None:
    assert set(engine.exports) == set(StackOutputs.model_fields)
    secret = {key for key, (_, is_secret) in engine.exports.items() if is_secret}
    assert secret == {"nats", "database"}
    outputs = StackOutputs.model_validate(
        {key: value for key, (value, _) in engine.exports.items()}
    )
    assert outputs.target == "small" and outputs.system == "acme"
    assert set(outputs.nats.credentials) == set(USERS)
    smoke = outputs.credential("smoke-core")
    assert (smoke.account, smoke.role, smoke.creds) == ("core", "smoke", "--creds of smoke-core--")
    assert outputs.credential("accounts").service == "accounts"
    assert outputs.credential("provisioning-analytics").account == "analytics"
    assert outputs.database is not None
    assert outputs.database.urls == {
        "accounts": "postgresql://accounts:pw@ep-test.neon.tech/accounts",
        "welcome": "postgresql://welcome:pw@ep-test.neon.tech/welcome",
    }
    services = {s.name: s for s in outputs.services}
    assert services["gateway"].url == "https://app.acme.test"
    assert services["accounts"].endpoints == {
        "create": "accounts.rpc.create",
        "get": "accounts.rpc.get",
    }
    assert services["welcome"].instances == 2
    assert outputs.observability.grafana_url == "https://acme.grafana.net"


def test_whole_program_with_existing_credentials(manifest: Manifest) -> None:
    """components/program.py as `pulumi up --stack small` runs it, with creds made by hand."""
    from components.program import deploy as program

    settings = {**SETTINGS, "nats": {"existingCredentials": True}}
    creds = {f"deploykit:natsCreds.{user}": f"hand-made creds of {user}" for user in USERS}
    config = {
        "deploykit:tier": "small",
        "deploykit:small": json.dumps(settings),
        "deploykit:manifest": str(ROOT / "deploykit.yaml"),
        **TOKENS,
        **creds,
    }
    del config["deploykit:synadiaToken"]
    engine = SmallTierEngine().run(program, config, [*TOKENS, *creds], stack="small")
    assert engine.of_type(DYNAMIC + "SynadiaUser") == []
    assert engine.of_type(DYNAMIC + "SynadiaAccount") == []
    outputs = StackOutputs.model_validate(
        {key: value for key, (value, _) in engine.exports.items()}
    )
    assert outputs.credential("welcome").creds == "hand-made creds of welcome"
    assert engine.exports["nats"][1] is True
    variables = engine.registrations["small-services-welcome"].input("variables")
    assert variables["NATS_CREDS"] == "hand-made creds of welcome"


def test_existing_credentials_missing_say_which_to_set(manifest: Manifest) -> None:
    settings = {**SETTINGS, "nats": {"existingCredentials": True}}
    config = {"deploykit:natsCreds.gateway": "x", **TOKENS}
    with pytest.raises(ConfigError) as caught:
        deploy(manifest, settings, config)
    message = str(caught.value)
    assert "pulumi config set --secret deploykit:natsCreds.accounts" in message
    assert "natsCreds.gateway " not in message


def test_missing_tokens_are_listed_together(manifest: Manifest) -> None:
    config = {
        k: v
        for k, v in TOKENS.items()
        if k not in ("deploykit:neonApiKey", "deploykit:vercelToken")
    }
    with pytest.raises(ConfigError) as caught:
        deploy(manifest, config=config, authorization=AUTHORIZATION)
    assert "pulumi config set --secret deploykit:neonApiKey <a Neon API key>" in str(caught.value)
    assert "pulumi config set --secret deploykit:vercelToken <a Vercel API token>" in str(
        caught.value
    )
    assert "railwayToken" not in str(caught.value)


def test_without_a_document_users_get_the_permission_compilers_rights(manifest: Manifest) -> None:
    engine = deploy(manifest)
    users = {r.name: r for r in engine.of_type(DYNAMIC + "SynadiaUser")}
    assert len(users) == len(USERS)
    gateway = plain(users["small-nats-core-gateway"].input("jwt_settings"))
    assert gateway["pub"]["allow"][:2] == ["accounts.rpc.create", "accounts.rpc.get"]
    assert gateway["sub"]["allow"] == ["_INBOX_gateway.>"]
    assert "resp" not in gateway


def test_without_a_hook_the_reconcilers_resources_create_every_bus(manifest: Manifest) -> None:
    engine = deploy(manifest, authorization=AUTHORIZATION)
    assert names(engine, "deploykit:nats:JetStreamDefinitions") == ["small-jetstream"]
    assert names(engine, "deploykit:nats:JetStream") == [
        "small-jetstream-analytics",
        "small-jetstream-core",
    ]
    streams = [r.name for r in engine.registrations.values() if "stream-ACCOUNTS" in r.name]
    assert streams == ["small-jetstream-core-stream-ACCOUNTS"]


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ({"accounts": {"core": {"users": {}}}}, "has no account 'analytics'"),
        (
            {"accounts": {**AUTHORIZATION["accounts"], "logs": {"users": {}}}},
            "account 'logs', which is no bus",
        ),
        (
            {
                "accounts": {
                    **AUTHORIZATION["accounts"],
                    "core": {"users": {"gateway": {"pub": {"allow": []}}}},
                }
            },
            "has no user 'accounts' in account 'core'",
        ),
        (
            {
                "accounts": {
                    **AUTHORIZATION["accounts"],
                    "core": {"users": {"gateway": {"pubs": {}}}},
                }
            },
            "accounts.core.users.gateway.pubs: Extra inputs are not permitted",
        ),
    ],
)
def test_a_bad_authorization_document_is_refused_before_anything_is_created(
    manifest: Manifest, document: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ConfigError, match=fragment.replace(".", r"\.").replace("(", r"\(")):
        deploy(manifest, authorization=document)


def test_yugabyte_is_deployed_as_postgres_and_says_so(
    manifest: Manifest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (ROOT / "deploykit.yaml").read_text().replace("engine: postgres", "engine: yugabyte")
    (tmp_path / "deploykit.yaml").write_text(text)
    yugabyte = load_manifest(tmp_path / "deploykit.yaml")
    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *a, **k: warnings.append(message))
    engine = deploy(yugabyte, authorization=AUTHORIZATION)
    assert any(
        "engine: yugabyte, but the small tier runs PostgreSQL 17 on Neon" in w for w in warnings
    )
    assert engine.exports["database"][0]["engine"] == "postgres"


def test_an_existing_grafana_stack_is_looked_up_not_created(manifest: Manifest) -> None:
    settings = {**SETTINGS, "grafana": {"stackSlug": "acme", "existingStack": True}}
    engine = deploy(manifest, settings, authorization=AUTHORIZATION)
    assert engine.of_type("grafana:cloud/stack:Stack") == []
    assert ("grafana:cloud/getStack:getStack", {"slug": "acme"}) in engine.invokes
    policy = engine.registrations["small-metrics-push"]
    assert policy.input("realms") == [{"type": "stack", "identifier": "4242"}]


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({**SETTINGS, "nats": {"systemId": ""}}, "nats.systemId is empty"),
        ({**SETTINGS, "grafana": {"stackSlug": ""}}, "grafana.stackSlug is empty"),
        ({**SETTINGS, "neon": {}}, r"deploykit:small\.neon\.orgId is empty"),
        (
            {**SETTINGS, "vercel": {"frontends": {"accounts": {"source": "apps"}}}},
            "names accounts, which is no frontend",
        ),
        ({**SETTINGS, "vercel": {}}, r"vercel.frontends.gateway.source: the directory"),
        (
            {**SETTINGS, "railway": {"frontends": ["accounts"]}},
            "railway.frontends names accounts, which is no frontend",
        ),
        (
            {**SETTINGS, "railway": {"frontends": ["gateway"]}},
            "gateway: listed in deploykit:small.railway.frontends and configured under",
        ),
        (
            {
                **SETTINGS,
                "vercel": {"frontends": {"gateway": {"source": "apps/gateway/missing"}}},
            },
            "vercel.frontends.gateway.source: apps/gateway/missing is not a directory",
        ),
        (
            {
                **SETTINGS,
                "vercel": {"frontends": {"gateway": {"source": "apps", "include": ["../x"]}}},
            },
            r"vercel.frontends.gateway.include\[0\]: ../x is outside",
        ),
    ],
)
def test_incomplete_settings_name_the_key(
    manifest: Manifest, settings: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ConfigError, match=fragment):
        deploy(manifest, settings, authorization=AUTHORIZATION)


def test_a_service_without_an_image_cannot_go_to_railway(manifest: Manifest) -> None:
    services = dict(manifest.services)
    services["welcome"] = services["welcome"].model_copy(
        update={"run": services["welcome"].run.model_copy(update={"image": None})}
    )
    broken = manifest.model_copy(update={"services": services})
    with pytest.raises(
        ConfigError, match=r"services\.welcome\.run\.image: the small tier runs services on Railway"
    ):
        deploy(broken, authorization=AUTHORIZATION)


def test_a_manifest_without_database_or_frontends_creates_neither(manifest: Manifest) -> None:
    welcome = manifest.services["welcome"].model_copy(update={"database": None})
    services = {"welcome": welcome, "projector": manifest.services["projector"]}
    lean = manifest.model_copy(update={"services": services, "databases": {}, "probes": []})
    core = AUTHORIZATION["accounts"]["core"]["users"]
    document = {
        "accounts": {
            "core": {
                "users": {
                    u: core[u]
                    for u in (
                        "welcome",
                        "projector",
                        "smoke-core",
                        "provisioning-core",
                        "backup-core",
                    )
                }
            },
            "analytics": AUTHORIZATION["accounts"]["analytics"],
        }
    }
    config = {
        k: v
        for k, v in TOKENS.items()
        if k not in ("deploykit:neonApiKey", "deploykit:vercelToken")
    }
    engine = deploy(lean, {**SETTINGS, "vercel": {}}, config, authorization=document)
    assert "small-database" not in engine.registrations
    assert "small-frontends" not in engine.registrations
    assert engine.exports["database"][0] is None
    assert "DATABASE_URL" not in engine.registrations["small-services-welcome"].input("variables")


def test_a_frontend_placed_on_railway_runs_there_reachable_from_outside(
    manifest: Manifest,
) -> None:
    settings = {**SETTINGS, "railway": {"workspaceId": "ws-1", "frontends": ["gateway"]}}
    settings["vercel"] = {}
    config = {k: v for k, v in TOKENS.items() if k != "deploykit:vercelToken"}
    engine = deploy(manifest, settings, config, authorization=AUTHORIZATION)
    assert "small-frontends" not in engine.registrations
    assert engine.of_type(DYNAMIC + "VercelProject") == []
    gateway = engine.registrations["small-services-gateway"]
    assert gateway.input("image") == "ghcr.io/acme/gateway:latest"
    assert gateway.input("replicas") == 2
    variables = gateway.input("variables")
    assert (variables["HOST"], variables["PORT"]) == ("0.0.0.0", "8080")


def test_vercel_and_grafana_can_be_switched_off(manifest: Manifest) -> None:
    settings = {**SETTINGS, "vercel": {"enabled": False}, "grafana": {"enabled": False}}
    config = {k: v for k, v in TOKENS.items() if k.startswith("deploykit:")}
    engine = deploy(
        manifest,
        settings,
        config,
        authorization=AUTHORIZATION,
        jetstream=lambda n, m, c, o: Definitions(n, o),
    )
    assert not [
        r for r in engine.registrations.values() if r.type.startswith(("vercel:", "grafana:"))
    ]
    assert engine.of_type(DYNAMIC + "VercelProject") == []
    variables = engine.registrations["small-services-accounts"].input("variables")
    assert not [key for key in variables if key.startswith("OTEL_")]


def test_cross_bus_paths_become_one_links_resource_after_every_account(
    manifest: Manifest,
) -> None:
    """The reference has no cross-bus path and so no links; the three-bus example has one
    SynadiaLinks resource, under the NATS component, after the three accounts."""
    assert deploy(manifest).of_type(DYNAMIC + "SynadiaLinks") == []
    example = load_manifest(ROOT / "examples" / "three-buses" / "deploykit.yaml")
    engine = deploy(example)
    (links,) = engine.of_type(DYNAMIC + "SynadiaLinks")
    accounts = engine.of_type(DYNAMIC + "SynadiaAccount")
    assert len(accounts) == 3
    assert {a.urn for a in accounts} <= set(links.dependencies)
    assert links.parent.endswith("deploykit:small:Nats::small-nats")
    declared = links.input("links")
    assert [e["subject"] for e in declared["billing"]["exports"]] == [
        "billing.rpc.invoice",
        "deploykit.bench.crossbus.billing.>",  # deploykit bench's, between the smoke users
    ]
    assert set(declared) == {"core", "billing", "analytics"}


BACKUP = {
    "bucket": "acme-backups",
    "prefix": "small",
    "endpoint": "https://s3.eu-central-003.backblazeb2.com",
    "region": "eu-central-003",
    "accessKeyId": "backup-key-id",
    "schedule": "15 2 * * *",
    "keep": 14,
    "image": "ghcr.io/acme/ops:1",
}
BACKUP_SECRET = {"deploykit:backupSecretAccessKey": "backup-secret-key"}


def test_a_bucket_schedules_a_backup_job_on_railway(manifest: Manifest) -> None:
    """A cron service running `deploykit backup --to s3://... --keep N` as the backup users,
    with every secret in its (secret) variables and none in its command."""
    engine = deploy(
        manifest,
        {**SETTINGS, "backup": BACKUP},
        {**TOKENS, **BACKUP_SECRET},
        authorization=AUTHORIZATION,
    )
    job = engine.registrations["small-services-deploykit-backup"]
    assert (job.input("name"), job.input("image"), job.input("replicas")) == (
        "deploykit-backup",
        "ghcr.io/acme/ops:1",
        1,
    )
    assert job.input("cron_schedule") == "15 2 * * *"
    command = job.input("start_command")
    assert command.startswith("/bin/sh -c ") and "backup-secret-key" not in command
    assert "--to s3://acme-backups/small --keep 14" in command
    assert job.is_secret("variables") and job.secret_outputs == ["variables"]
    variables = job.input("variables")
    assert variables["AWS_SECRET_ACCESS_KEY"] == "backup-secret-key"
    assert variables["AWS_ACCESS_KEY_ID"] == "backup-key-id"
    assert variables["AWS_ENDPOINT_URL_S3"] == BACKUP["endpoint"]
    assert variables["AWS_REGION"] == "eu-central-003"
    outputs = StackOutputs.model_validate_json(variables["DEPLOYKIT_OUTPUTS"])
    assert sorted(outputs.nats.credentials) == ["backup-core"]  # only ACCOUNTS is backed up
    assert outputs.credential("backup-core").creds == "--creds of backup-core--"
    assert outputs.nats.urls == ["tls://connect.ngs.global"]
    assert "cron_schedule" not in engine.registrations["small-services-accounts"].inputs


def test_a_bucket_without_its_secret_key_says_how_to_set_it(manifest: Manifest) -> None:
    with pytest.raises(ConfigError, match="deploykit:backupSecretAccessKey <the secret key"):
        deploy(manifest, {**SETTINGS, "backup": BACKUP}, authorization=AUTHORIZATION)


def test_no_bucket_no_backup_job(engine: Engine) -> None:
    assert "small-services-deploykit-backup" not in engine.registrations


def test_the_sql_copy_runs_an_archiver_on_railway_writing_to_neon(manifest: Manifest) -> None:
    """`backup.sql`: the archive database on Neon owned by its owner role, its table and the
    archiver's login made as that owner (`ArchiveTable`), the Synadia user `archiver-core`, and
    a long-running Railway service running the kit's archiver with a worker's variables."""
    data = manifest.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    archived = Manifest.model_validate({**data, "backup": {"sql": True}})
    engine = deploy(archived, authorization=default_authorization(archived))
    roles = {r.input("name") for r in engine.of_type(DYNAMIC + "NeonRole")}
    assert roles == {"accounts", "welcome", "deploykit_archive_owner"}
    database = engine.registrations["small-database-db-archive"]
    assert (database.input("name"), database.input("owner")) == (
        "deploykit_archive",
        "deploykit_archive_owner",
    )
    table = engine.registrations["small-database-archive"]
    assert table.is_secret("owner_uri")
    assert table.input("owner_uri") == (
        "postgresql://deploykit_archive_owner:pw@ep-test.neon.tech/deploykit_archive"
    )
    assert database.urn in table.dependencies
    assert sorted(table.secret_outputs) == ["owner_uri", "password", "url"]
    users = {r.input("name") for r in engine.of_type(DYNAMIC + "SynadiaUser")}
    assert "archiver-core" in users and "archiver-analytics" not in users

    archiver = engine.registrations["small-services-archiver-core"]
    url = "postgresql://deploykit_archiver:pw-archiver@ep-test.neon.tech/deploykit_archive?sslmode=require"
    first = next(
        s.run.image for s in archived.services.values() if s.role.value in ("rpc", "worker")
    )
    assert (archiver.input("image"), archiver.input("replicas")) == (first, 1)
    assert archiver.input("start_command") == "python -m deploykit.backup.archiver"
    assert archiver.input("cron_schedule") is None, "long-running, not a job"
    assert archiver.is_secret("variables")
    variables = archiver.input("variables")
    assert variables["DEPLOYKIT_SERVICE"] == "archiver-core"
    assert variables["NATS_CREDS"] == "--creds of archiver-core--"
    assert variables["NATS_INBOX_PREFIX"] == "_INBOX_archiver-core"
    assert variables["DATABASE_URL"] == url and "PORT" not in variables
    wiring = json.loads(variables["DEPLOYKIT_WIRING"])
    assert {w["consumer"] for w in wiring["consumes"].values()} == {"deploykit-archiver"}
    assert table.urn in archiver.dependencies, "it starts once its table exists"
    database_output, secret = engine.exports["database"]
    assert secret and database_output["archive_url"] == url
    assert engine.exports["nats"][0]["credentials"]["archiver-core"]["role"] == "archiver"


def test_no_sql_copy_no_archive_on_neon_or_railway(engine: Engine) -> None:
    assert not [n for n in engine.registrations if "archive" in n]
    assert engine.exports["database"][0]["archive_url"] is None
