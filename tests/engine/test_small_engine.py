"""The small tier through the real Pulumi engine, against the SaaS fakes.

What only an engine shows: the dynamic providers are dill-serialized and run in their own
process, get their API tokens through `configure` from `pulumi config set --secret`, and Pulumi
itself diffs, updates, refreshes and deletes. Vercel's resources are the kit's own dynamic
providers too (the gateway's files are deployed to the Vercel fake); Grafana is switched off by
stack config (its provider plugin cannot be had here); the JetStream step is the tier's hook, left
empty (the reconciler needs a real NATS server behind Synadia's creds, which no fake gives).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi import automation as auto

from components.small import SmallTier
from components.small.synadia import NatsConnection
from deploykit.manifest.load import load_manifest
from deploykit.manifest.model import Manifest
from deploykit.stack.config import parse_stack_config
from deploykit.testing.engine import Engine, EngineStack
from deploykit.testing.fakes.neon import FakeNeon
from deploykit.testing.fakes.railway import FakeRailway
from deploykit.testing.fakes.synadia import FakeSynadia
from deploykit.testing.fakes.vercel import FakeVercel

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "deploykit.yaml"
GATEWAY = {"source": "apps/gateway/vercel", "include": ["apps/gateway/server.py"]}


@dataclass
class Fakes:
    synadia: FakeSynadia
    neon: FakeNeon
    railway: FakeRailway
    vercel: FakeVercel

    def all(self) -> tuple[FakeSynadia, FakeNeon, FakeRailway, FakeVercel]:
        return (self.synadia, self.neon, self.railway, self.vercel)

    def tokens(self) -> dict[str, str]:
        return {
            "deploykit:synadiaToken": self.synadia.token,
            "deploykit:neonApiKey": self.neon.token,
            "deploykit:railwayToken": self.railway.token,
            "deploykit:vercelToken": self.vercel.token,
        }

    def settings(self, region: str = "us-west2") -> dict[str, Any]:
        return {
            "nats": {"apiUrl": self.synadia.url, "systemId": "sys-1"},
            "neon": {"apiUrl": f"{self.neon.url}/api/v2", "orgId": "org-acme-1"},
            "railway": {
                "apiUrl": f"{self.railway.url}/graphql/v2",
                "workspaceId": "ws-1",
                "region": region,
            },
            "vercel": {"apiUrl": self.vercel.url, "frontends": {"gateway": GATEWAY}},
            "grafana": {"enabled": False},
        }


@pytest.fixture
def fakes() -> Iterator[Fakes]:
    with ExitStack() as stack:
        yield Fakes(
            stack.enter_context(FakeSynadia()),
            stack.enter_context(FakeNeon()),
            stack.enter_context(FakeRailway(deploy_steps=("SUCCESS",))),
            stack.enter_context(FakeVercel()),
        )


def no_jetstream(
    name: str, _manifest: Manifest, _nats: NatsConnection, opts: pulumi.ResourceOptions
) -> pulumi.Resource:
    step = pulumi.ComponentResource("deploykit:small:NoJetStream", name, None, opts)
    step.register_outputs({})
    return step


def program() -> None:
    """components.program.deploy, with the JetStream step left empty (see the module)."""
    config = pulumi.Config("deploykit")
    raw = {"deploykit:tier": "small", "deploykit:small": config.require_object("small")}
    stack = parse_stack_config(raw, "the test's stack config")
    manifest = load_manifest(config.require("manifest"))
    SmallTier("small", manifest, stack.settings, jetstream=no_jetstream, root=ROOT)


def small_stack(engine: Engine, fakes: Fakes) -> EngineStack:
    stack = engine.stack(
        "small",
        program,
        config={"deploykit:manifest": str(MANIFEST)},
        secrets=fakes.tokens(),
    )
    stack.set_config("deploykit:small", json.dumps(fakes.settings()))
    return stack


def test_preview_up_no_changes_change_refresh_destroy(engine: Engine, fakes: Fakes) -> None:
    manifest = load_manifest(MANIFEST)
    stack = small_stack(engine, fakes)

    preview = stack.preview()
    assert preview.change_summary["create"] > 10
    assert (fakes.synadia.accounts, fakes.neon.projects, fakes.railway.projects) == ({}, {}, {})

    stack.up()
    synadia, neon, railway = fakes.synadia, fakes.neon, fakes.railway
    accounts = {a["name"]: a for a in synadia.accounts.values()}
    assert set(accounts) == set(manifest.buses)
    core_limits = accounts["core"]["jwt_settings"]["limits"]
    assert {"conn", "subs", "payload", "data", "imports", "exports", "tiered_limits"} <= set(
        core_limits
    )
    assert set(core_limits["tiered_limits"]) == {"R1"}
    assert {u["name"] for u in synadia.users.values()} >= {"accounts", "smoke-core"}
    (project,) = neon.projects.values()
    assert project["project"]["org_id"] == "org-acme-1"
    (branch_id,) = project["databases"]
    assert set(project["databases"][branch_id]) >= {
        manifest.database_name(k) for k in manifest.databases
    }
    (railway_project,) = railway.projects.values()
    assert railway_project["workspaceId"] == "ws-1"
    services = {s["name"]: s for s in railway.services.values()}
    assert set(services) == {"accounts", "welcome", "projector"}
    instance = next(
        i for (_, sid), i in railway.instances.items() if sid == services["accounts"]["id"]
    )
    replicas = manifest.services["accounts"].replicas
    assert instance["multiRegionConfig"] == {"us-west2": {"numReplicas": replicas}}
    variables = next(
        v for (_, sid), v in railway.variables.items() if sid == services["accounts"]["id"]
    )
    assert variables["DATABASE_URL"].endswith("?sslmode=require")
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in variables  # Grafana is off

    (frontend,) = fakes.vercel.projects.values()
    assert frontend["name"] == f"{manifest.system}-gateway"
    assert {e["key"] for e in frontend["env"]} >= {"NATS_CREDS", "NATS_URL"}
    (deployment,) = fakes.vercel.deployments.values()
    assert deployment["readyState"] == "READY" and "api/index.py" in deployment["files"]

    outputs = stack.outputs()  # what `deploykit smoke --stack small` reads
    urls = {s["name"]: s["url"] for s in outputs["services"]}
    assert urls["gateway"] == f"https://{manifest.system}-gateway.vercel.app"
    assert (outputs["target"], outputs["system"]) == ("small", manifest.system)
    assert set(outputs["nats"]["credentials"]) >= {"accounts", "smoke-core", "provisioning-core"}
    assert all(u.endswith("?sslmode=require") for u in outputs["database"]["urls"].values())
    shown = json.loads(stack.cli("stack", "output", "--json").stdout)
    assert (shown["nats"], shown["database"]) == ("[secret]", "[secret]")

    state = stack.state_text()
    for token in fakes.tokens().values():
        assert token not in state, "an API token is in the state in plain text"
    assert "SEED" not in state  # creds files (their NKey seed) are secrets
    assert variables["DATABASE_URL"] not in state

    before = sum(len(fake.requests) for fake in fakes.all())
    stack.expect_no_changes()  # `pulumi up --expect-no-changes`: nothing to do, nothing sent
    assert sum(len(fake.requests) for fake in fakes.all()) == before

    stack.set_config("deploykit:small", json.dumps(fakes.settings(region="europe-west4-drams3a")))
    changed = stack.up()
    assert changed.summary.resource_changes == {
        "update": 3,
        "same": changed.summary.resource_changes["same"],
    }
    assert instance["multiRegionConfig"] == {"europe-west4-drams3a": {"numReplicas": replicas}}
    assert instance["latestDeployment"]["meta"]["serviceManifest"]["deploy"] == {
        "multiRegionConfig": {"europe-west4-drams3a": {"numReplicas": replicas}}
    }

    refreshed = stack.refresh()
    assert set(refreshed.summary.resource_changes) <= {"same"}  # read back as written
    stack.expect_no_changes()

    gone = next(u for u in synadia.users.values() if u["name"] == "welcome")
    del synadia.users[gone["id"]]  # deleted by hand in the Synadia console
    assert stack.refresh().summary.resource_changes.get("delete") == 1
    assert stack.up().summary.resource_changes.get("create") == 1
    assert "welcome" in {u["name"] for u in synadia.users.values()}

    for fake in fakes.all():  # the old tokens are revoked, new ones set
        fake.token = f"rotated-{fake.token}"
    for key, token in fakes.tokens().items():
        stack.set_config(key, token, secret=True)
    # `pulumi destroy` runs no program: the engine configures the dynamic providers with the
    # config stored (encrypted) in the state at the last `up`, so the revoked token is used
    with pytest.raises(auto.CommandError, match="deploykit:railwayToken"):
        stack.destroy()
    assert railway.services  # refused: nothing was deleted
    stack.up()  # stores the new config with the providers
    stack.destroy()
    assert "rotated-" not in stack.state_text()
    assert synadia.accounts == {} and synadia.users == {}
    assert neon.projects == {}
    assert railway.projects == {} and railway.services == {}
    assert fakes.vercel.projects == {} and fakes.vercel.deployments == {}


BACKUP = {
    "bucket": "acme-backups",
    "prefix": "small",
    "endpoint": "https://s3.example.test",
    "accessKeyId": "backup-key-id",
    "schedule": "15 2 * * *",
    "keep": 14,
    "image": "ghcr.io/acme/ops:1",
}


def test_a_scheduled_backup_job_is_created_rescheduled_and_keeps_its_secrets(
    engine: Engine, fakes: Fakes
) -> None:
    """The Railway cron service that runs `deploykit backup --to s3://... --keep N`: its
    schedule reaches Railway (whose fake refuses what Railway refuses), its secrets stay
    secret in the state, and a new schedule is an update of that one service."""
    stack = small_stack(engine, fakes)
    stack.set_config("deploykit:backupSecretAccessKey", "backup-secret-key", secret=True)
    settings = {**fakes.settings(), "backup": dict(BACKUP)}
    stack.set_config("deploykit:small", json.dumps(settings))
    stack.up()
    railway = fakes.railway
    (job,) = [s for s in railway.services.values() if s["name"] == "deploykit-backup"]
    instance = next(i for (_, sid), i in railway.instances.items() if sid == job["id"])
    assert instance["cronSchedule"] == "15 2 * * *"
    assert "--to s3://acme-backups/small --keep 14" in instance["startCommand"]
    variables = next(v for (_, sid), v in railway.variables.items() if sid == job["id"])
    assert variables["AWS_SECRET_ACCESS_KEY"] == "backup-secret-key"
    outputs = json.loads(variables["DEPLOYKIT_OUTPUTS"])
    assert list(outputs["nats"]["credentials"]) == ["backup-core"]
    state = stack.state_text()
    assert "backup-secret-key" not in state
    assert outputs["nats"]["credentials"]["backup-core"]["creds"] not in state

    settings["backup"]["schedule"] = "0 4 * * 0"
    stack.set_config("deploykit:small", json.dumps(settings))
    changed = stack.up()
    assert changed.summary.resource_changes.get("update") == 1
    assert instance["cronSchedule"] == "0 4 * * 0"
    assert set(stack.refresh().summary.resource_changes) <= {"same"}
    stack.destroy()
    assert railway.services == {}
