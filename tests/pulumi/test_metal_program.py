"""The whole `metal` program under Pulumi's mock runtime, for a 3-host and a 5-host inventory:
the resource graph, the dependencies (nothing touches NATS before the cluster's health gates),
secrecy (no secret value anywhere outside a secret), and each host's rendered NATS config.

The kit's `Generated` provider (the CA, host certificates, passwords) really runs in the mocks,
so the certificates and passwords flowing through the graph are real ones."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from components.metal import MetalSecrets, MetalTier
from components.metal.generated import GeneratedProvider
from components.program import deploy
from deploykit.errors import ConfigError
from deploykit.manifest.load import load_manifest, parse_manifest
from deploykit.manifest.model import Manifest
from deploykit.stack.config import MetalConfig, load_stack_file
from deploykit.stack.outputs import StackOutputs
from deploykit.testing.pulumimocks import Engine, Registration, plain, strings

ROOT = Path(__file__).resolve().parents[2]
STEP = "pulumi-python:dynamic/metal:RemoteStep"
GENERATED = "pulumi-python:dynamic/metal:Generated"
SSH_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nssh-key-for-tests\n-----END OPENSSH PRIVATE KEY-----"
)
KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: default
  cluster: {certificate-authority-data: Q0EK, server: "https://127.0.0.1:6443"}
contexts:
- name: default
  context: {cluster: default, user: default}
current-context: default
users:
- name: default
  user: {client-certificate-data: Q0VSVAo=, client-key-data: kubeconfig-client-key-for-tests}
"""


class MetalEngine(Engine):
    """The mock engine, running the local commands (openssl: the CA, certificates, passwords)
    for real and noting every secret value they make."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def computed(self, args: pulumi.runtime.MockResourceArgs) -> dict[str, Any]:
        inputs = plain(args.inputs)  # the provider behind a secret input needs the value
        if args.typ == GENERATED:  # the CA, certificates, passwords: made for real
            made = GeneratedProvider().create(inputs).outs
            self.secrets |= {made["value"], made["private_key"]} - {""}
            self.secrets |= set(
                re.findall(r"-----BEGIN PRIVATE KEY-----\n[^-]+", made["private_key"])
            )
            return {k: made[k] for k in ("value", "certificate", "private_key")}
        if args.typ == STEP:
            return {"stdout": KUBECONFIG if "k3s.yaml" in inputs["create"] else ""}
        if args.typ == "kubernetes:core/v1:Secret" and args.resource_id:
            encoded = base64.b64encode(b"prometheus-token-for-tests").decode()
            self.secrets.add("prometheus-token-for-tests")
            return {"data": {"token": encoded, "ca.crt": base64.b64encode(b"CA").decode()}}
        return {}


def five_hosts() -> MetalConfig:
    """5 NATS hosts, YugabyteDB on 3, an HA k3s control plane, backups to S3."""
    hosts = [
        {
            "name": f"vm{i}",
            "address": f"198.51.100.{i}",
            "privateAddress": f"10.1.0.{i}",
            "sshUser": "deploy",
            "roles": [
                "nats",
                *(["database"] if i <= 3 else []),
                "kubernetes-server" if i <= 3 else "kubernetes-agent",
                *(["monitoring"] if i == 5 else []),
            ],
        }
        for i in range(1, 6)
    ]
    return MetalConfig.model_validate(
        {
            "hosts": hosts,
            "database": {"engine": "yugabyte"},
            "backup": {
                "endpoint": "https://s3.example.com",
                "bucket": "acme-backups",
                "accessKeyId": "AKIATEST",
                "region": "eu-1",
            },
            "domains": {"gateway": "api.example.com"},
        }
    )


@dataclass
class Program:
    manifest: Manifest
    settings: MetalConfig
    engine: MetalEngine
    secrets: set[str]
    outputs: dict[str, Any]
    jetstream: str

    @property
    def registrations(self) -> dict[str, Registration]:
        return self.engine.registrations

    def of_type(self, type_: str) -> list[Registration]:
        return self.engine.of_type(type_)

    def named(self, name: str) -> Registration:
        return self.engine.registrations[name]

    def closure(self, urn: str) -> set[str]:
        """Everything `urn` waits for, directly or not."""
        return self.engine.closure(urn)


def run_program(manifest: Manifest, settings: MetalConfig) -> Program:
    captured: dict[str, Any] = {}

    def build() -> pulumi.Output[Any]:
        secrets = MetalSecrets(
            ssh_private_key=pulumi.Output.secret(SSH_KEY),
            grafana_admin_password=pulumi.Output.secret("grafana-admin-for-tests"),
            backup_secret_access_key=pulumi.Output.secret("s3-secret-for-tests"),
        )
        tier = MetalTier("metal", manifest, settings, secrets=secrets)
        return tier.outputs.apply(captured.update)

    engine = MetalEngine().run(build, stack="metal")
    known = {
        SSH_KEY,
        "grafana-admin-for-tests",
        "s3-secret-for-tests",
        "kubeconfig-client-key-for-tests",
    }
    known |= engine.secrets  # the CA and host keys, and every generated password
    return Program(manifest, settings, engine, known, captured, "metal-jetstream")


@pytest.fixture(scope="module", params=["3 hosts", "5 hosts"])
def program(request: pytest.FixtureRequest) -> Iterator[Program]:
    manifest = load_manifest(ROOT / "deploykit.yaml")
    if request.param == "3 hosts":
        settings = load_stack_file(ROOT / "stacks/Pulumi.metal.yaml").settings
    else:
        settings = five_hosts()
        data = yaml.safe_load((ROOT / "deploykit.yaml").read_text())
        for database in data["databases"].values():
            database["engine"] = "yugabyte"
        manifest = parse_manifest(yaml.safe_dump(data))
    assert isinstance(settings, MetalConfig)
    yield run_program(manifest, settings)


def test_outputs_have_the_stack_outputs_shape(program: Program) -> None:
    outputs = StackOutputs.model_validate(program.outputs)
    nats_hosts = program.settings.hosts_with("nats")
    assert outputs.target == "metal" and outputs.system == "acme"
    assert outputs.nats.urls == [f"tls://{h.address}:4222" for h in nats_hosts]
    assert outputs.nats.cluster_size == len(nats_hosts)
    assert outputs.nats.credentials["gateway"].password in program.secrets
    assert outputs.nats.credentials["gateway"].inbox_prefix == "_INBOX_gateway"
    assert outputs.database is not None
    assert outputs.database.engine == program.settings.database.engine
    assert set(outputs.database.urls) == {"accounts", "welcome"}
    assert outputs.database.urls["accounts"].startswith("postgresql://accounts:")
    assert [s.name for s in outputs.services] == list(program.manifest.services)
    assert next(s for s in outputs.services if s.name == "gateway").url == "http://api.example.com"
    assert outputs.database.archive_url is None, "no SQL copy without backup.sql"
    assert not any("archiver" in name for name in program.registrations)


def test_every_nats_host_gets_a_config_naming_its_peers(program: Program) -> None:
    hosts = program.settings.hosts_with("nats")
    names = set()
    for host in hosts:
        step = program.named(f"metal-nats-{host.name}-config")
        assert step.is_secret("stdin"), "the NATS config holds passwords: it must be secret"
        text = step.input("stdin")
        routes = re.findall(r'"nats-route://([\d.]+):6222"', text)
        assert routes == [h.private for h in hosts if h is not host]
        assert f'listen: "{host.private}:6222"' in text
        assert f'http: "{host.private}:8222"' in text
        names.add(re.findall(r'server_name: "([^"]+)"', text)[0])
        assert '"user": "gateway"' in text and 'system_account: "SYS"' in text
    assert names == {f"acme-{h.name}" for h in hosts}


def test_nodes_restart_one_at_a_time_behind_health_gates(program: Program) -> None:
    """Each node's configuration step (which restarts it when something changed) waits for the
    previous node's gate; each gate waits for its node and re-runs whenever the node's inputs
    change."""
    hosts = program.settings.hosts_with("nats")
    previous_gate: str | None = None
    for host in hosts:
        gate = program.named(f"metal-nats-{host.name}-health")
        config = program.named(f"metal-nats-{host.name}-config")
        unit = program.named(f"metal-nats-{host.name}-unit")
        assert config.urn in gate.dependencies and unit.urn in config.dependencies
        if previous_gate:
            assert previous_gate in config.dependencies
        assert "restart nats-server.service" in config.inputs["create"]
        assert "systemctl disable --now" in config.inputs["delete"]
        assert gate.inputs["triggers"] and config.inputs["triggers"]
        assert "healthz?js-enabled-only=true" in gate.inputs["create"]
        previous_gate = gate.urn


def test_nothing_touches_nats_before_the_cluster_is_healthy(program: Program) -> None:
    gates = {r.urn for r in program.registrations.values() if r.name.endswith("-health")}
    assert len(gates) == len(program.settings.hosts_with("nats"))
    stream = program.named(f"{program.jetstream}-core-stream-ACCOUNTS")
    clients = [
        stream,
        *program.of_type("kubernetes:apps/v1:Deployment"),
        *program.of_type("kubernetes:batch/v1:CronJob"),
        program.named("metal-monitoring-prometheus-start"),
    ]
    for client in clients:
        missing = gates - program.closure(client.urn)
        assert not missing, f"{client.name} does not wait for {sorted(missing)}"
    # depending on a component is depending on its children: the apps wait for the streams
    assert stream.urn in program.closure(program.of_type("kubernetes:apps/v1:Deployment")[0].urn)


def test_no_secret_value_appears_outside_a_secret(program: Program) -> None:
    assert len(program.secrets) > 10
    for registration in program.registrations.values():
        for text in strings(registration.inputs):
            leaked = [s for s in program.secrets if s and s in text]
            assert not leaked, f"{registration.name} holds a secret in plain text"


def test_connections_and_secret_outputs_are_secret(program: Program) -> None:
    remote_steps = program.of_type(STEP)
    assert remote_steps
    for step in remote_steps:
        assert step.is_secret("private_key"), step.name
        assert {"private_key", "stdin"} <= set(step.secret_outputs), step.name
        assert step.inputs["host"] in {h.address for h in program.settings.hosts}
    generated = program.of_type(GENERATED)
    assert generated
    for step in generated:
        assert {"value", "private_key", "ca_key"} <= set(step.secret_outputs), step.name
    for secret in program.of_type("kubernetes:core/v1:Secret"):
        if "stringData" in secret.inputs:
            assert secret.is_secret("stringData"), secret.name
    provider = program.of_type("pulumi:providers:kubernetes")[0]
    assert provider.is_secret("kubeconfig")


def test_components_are_typed_and_everything_has_a_parent(program: Program) -> None:
    tier = program.of_type("deploykit:metal:MetalTier")
    assert len(tier) == 1
    components = {r.type for r in program.registrations.values() if r.type.startswith("deploykit:")}
    assert {
        "deploykit:metal:NatsCluster",
        "deploykit:metal:Database",
        "deploykit:metal:Apps",
        "deploykit:metal:Monitoring",
        "deploykit:metal:Certificates",
        "deploykit:metal:Kubernetes",
    } <= components
    for registration in program.registrations.values():
        if registration is not tier[0]:
            assert "$deploykit:" in registration.parent, registration.name


def test_apps_get_their_own_credentials_and_database(program: Program) -> None:
    secrets = {r.name: r for r in program.of_type("kubernetes:core/v1:Secret")}
    env = secrets["metal-apps-accounts-secret"].inputs["stringData"]["value"]
    assert env["NATS_USER"] == "accounts"
    assert env["NATS_PASSWORD"] == program.outputs["nats"]["credentials"]["accounts"]["password"]
    assert env["NATS_PASSWORD"] in program.secrets, "a password made once by openssl rand"
    assert env["DATABASE_URL"].startswith("postgresql://accounts:")
    assert (
        env["NATS_URL"].split(",")[0]
        == f"tls://{program.settings.hosts_with('nats')[0].private}:4222"
    )
    assert "BEGIN CERTIFICATE" in env["ca.pem"]
    gateway = secrets["metal-apps-gateway-secret"].inputs["stringData"]["value"]
    assert "DATABASE_URL" not in gateway and gateway["PORT"] == "8080"
    deployments = {r.name: r for r in program.of_type("kubernetes:apps/v1:Deployment")}
    assert set(deployments) == {f"metal-apps-{s}-deployment" for s in program.manifest.services}
    ingresses = program.of_type("kubernetes:networking.k8s.io/v1:Ingress")
    assert [i.inputs["spec"]["rules"][0]["host"] for i in ingresses] == ["api.example.com"]


def test_the_database_engine_decides_the_steps(program: Program) -> None:
    names = {r.name for r in program.of_type(STEP)}
    database_hosts = program.settings.hosts_with("database")
    if program.settings.database.engine == "postgres":
        primary, replica = database_hosts
        assert f"metal-db-{primary.name}-initdb" in names
        clone = program.named(f"metal-db-{replica.name}-basebackup")
        assert program.named(f"metal-db-{primary.name}-provision").urn in clone.dependencies
        assert not any("yb" in n or "master" in n for n in names)
    else:
        assert {f"metal-db-{h.name}-master-start" for h in database_hosts} <= names
        tserver = program.named(f"metal-db-{database_hosts[0].name}-tserver-start")
        masters = {program.named(f"metal-db-{h.name}-master-start").urn for h in database_hosts}
        assert masters <= set(tserver.dependencies)
        assert not any("initdb" in n for n in names)


def test_backups_follow_the_stack_config(program: Program) -> None:
    """Kubernetes: the CronJob only with a bucket (a pod keeps no disk), running `deploykit
    backup` as the backup users; pgBackRest on the PostgreSQL primary either way."""
    cronjobs = program.of_type("kubernetes:batch/v1:CronJob")
    names = {r.name for r in program.registrations.values()}
    if program.settings.backup.s3:
        assert [c.name for c in cronjobs] == ["metal-backup-cronjob"]
        pod = cronjobs[0].inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        command = pod["initContainers"][0]["command"]
        assert command[:4] == ["python", "-m", "deploykit", "backup"]
        (secret,) = [s for s in program.of_type("kubernetes:core/v1:Secret") if "backup" in s.name]
        assert secret.is_secret("stringData")
        outputs = json.loads(secret.input("stringData")["outputs.json"])
        assert sorted(outputs["nats"]["credentials"]) == [
            "backup-core"
        ]  # the one bus with streams to back up
    else:
        assert cronjobs == []
    pgbackrest = any(n.endswith("-pgbackrest") for n in names)
    assert pgbackrest == (program.settings.database.engine == "postgres")


def test_k3s_servers_start_before_agents_join(program: Program) -> None:
    first, *others = program.settings.hosts_with("kubernetes-server")
    started = program.named(f"metal-k8s-{first.name}-k3s-server")
    assert "--cluster-init" in started.inputs["create"] or not others
    for host in program.settings.hosts_with("kubernetes-agent"):
        assert started.urn in program.named(f"metal-k8s-{host.name}-k3s-agent").dependencies
    kubeconfig = program.named("metal-k8s-kubeconfig")
    assert "stdout" in kubeconfig.secret_outputs
    assert yaml.safe_load(KUBECONFIG)["clusters"][0]["cluster"]["server"].endswith("6443")


def test_missing_secret_config_is_refused_naming_the_key() -> None:
    settings = load_stack_file(ROOT / "stacks/Pulumi.metal.yaml").settings
    assert isinstance(settings, MetalConfig)
    with pytest.raises(ConfigError, match="deploykit:sshPrivateKey: required"):
        MetalSecrets.from_config(settings, pulumi.Config("deploykit-nothing-set"))


def test_a_manifest_the_inventory_cannot_hold_is_refused_before_any_resource() -> None:
    manifest = load_manifest(ROOT / "deploykit.yaml")
    settings = MetalConfig.model_validate(
        {
            "hosts": [
                {
                    "name": "solo",
                    "address": "10.0.0.1",
                    "roles": ["nats", "database", "kubernetes-server", "monitoring"],
                }
            ]
        }
    )
    with pytest.raises(ConfigError) as caught:
        MetalTier("metal", manifest, settings)
    assert "deploykit:metal.hosts: streams.ACCOUNTS in the manifest has replicas 3" in str(
        caught.value
    )


def test_the_pulumi_program_deploys_the_committed_metal_stack() -> None:
    """`pulumi up --stack metal` as __main__.py runs it: stack file + secret config keys."""
    stack = yaml.safe_load((ROOT / "stacks/Pulumi.metal.yaml").read_text())["config"]
    config = {k: v if isinstance(v, str) else json.dumps(v) for k, v in stack.items()}
    secrets = {"deploykit:sshPrivateKey": SSH_KEY, "deploykit:grafanaAdminPassword": "admin-pw"}
    config |= secrets | {"deploykit:manifest": str(ROOT / "deploykit.yaml")}
    engine = MetalEngine().run(deploy, config, secrets, stack="metal")
    registrations = engine.registrations.values()
    types = {r.type for r in registrations}
    assert {"deploykit:metal:MetalTier", "deploykit:nats:JetStreamDefinitions"} <= types
    passwords = sorted(r.name for r in registrations if "-nats-password-" in r.name)
    assert passwords == sorted(
        f"metal-nats-password-{user}"
        for user in (
            "accounts",
            "gateway",
            "projector",
            "welcome",
            "system",
            "smoke-core",
            "provisioning-core",
            "smoke-analytics",
            "provisioning-analytics",
            "backup-core",
            "backup-analytics",
        )
    )


def test_apps_on_systemd_run_as_units_with_their_own_secret_environment() -> None:
    """`apps: systemd`: no Kubernetes at all; per instance a step whose stdin (unit and
    environment, passwords inside) is secret; the code uploaded by digest to every apps host."""
    manifest = load_manifest(ROOT / "deploykit.yaml")
    hosts = [
        {"name": f"n{i}", "address": f"10.9.0.{i}", "roles": ["nats", "apps"]} for i in (1, 2, 3)
    ]
    hosts[0]["roles"] += ["database", "monitoring"]
    settings = MetalConfig.model_validate(
        {"hosts": hosts, "apps": "systemd", "monitoring": {"grafana": False}}
    )
    program = run_program(manifest, settings)
    types = {r.type for r in program.registrations.values()}
    assert not any(t.startswith("kubernetes:") for t in types)
    assert "deploykit:metal:SystemdApps" in types
    steps = {r.name: r for r in program.of_type(STEP)}
    instances = [n for n in steps if re.fullmatch(r"metal-apps-[a-z]+-\d", n)]
    assert len(instances) == sum(s.replicas for s in manifest.services.values())
    accounts = steps["metal-apps-accounts-1"]
    assert accounts.is_secret("stdin"), "the environment holds passwords"
    env = accounts.input("stdin")
    password = program.outputs["nats"]["credentials"]["accounts"]["password"]
    assert f'NATS_PASSWORD="{password}"' in env and 'NATS_USER="accounts"' in env
    assert 'NATS_INBOX_PREFIX="_INBOX_accounts"' in env and "DATABASE_URL=" in env
    assert "ExecStart=/usr/bin/python3 -m apps.accounts" in env
    assert "DEPLOYKIT_WIRING=" in env and "HOST=" not in env, "a service without a port"
    gateway = str(steps["metal-apps-gateway-1"].input("stdin"))
    assert re.search(r'^HOST="10\.9\.0\.\d"$', gateway, re.M), "a frontend on its private address"
    assert 'PORT="8080"' in gateway and "DEPLOYKIT_WIRING=" in gateway
    assert "systemctl disable --now deploykit-accounts-1.service" in accounts.inputs["delete"]
    for host in settings.hosts:
        code = steps[f"metal-apps-{host.name}-code"]
        (upload,) = code.inputs["uploads"]
        assert re.fullmatch(r"[0-9a-f]{64}", upload["sha256"])
        assert code.urn in accounts.dependencies or host.name != "n2"
    gates = {r.urn for r in program.of_type(STEP) if r.name.endswith("-health")}
    assert gates <= program.closure(accounts.urn), "apps wait for the NATS cluster"
    frontend = next(s for s in program.outputs["services"] if s["name"] == "gateway")
    assert frontend["url"] == "http://10.9.0.1:8080"
    assert program.outputs["observability"]["grafana_url"] is None
    hba = str(steps["metal-db-n1-pg_hba-conf"].input("stdin"))
    assert all(f"10.9.0.{i}/32" in hba for i in (1, 2, 3))

    # the scheduled JetStream backups: on the first apps host, after its code, as backup users
    timer = steps["metal-backup-n1-timer"]
    assert steps["metal-apps-n1-code"].urn in timer.dependencies
    assert timer.is_secret("stdin")
    files = dict(line.split(" ", 1) for line in str(timer.input("stdin")).splitlines())
    assert sorted(files) == ["ca.pem", "deploykit.yaml", "outputs.json"]  # no bucket: no s3.env
    outputs = json.loads(base64.b64decode(files["outputs.json"]))
    assert sorted(outputs["nats"]["credentials"]) == [
        "backup-core"
    ]  # the one bus with streams to back up
    assert outputs["nats"]["urls"][0] == "tls://10.9.0.1:4222"
    assert "systemctl enable --now --quiet deploykit-backup.timer" in timer.inputs["create"]
    assert "systemctl disable --now deploykit-backup.timer" in timer.inputs["delete"]


def sql_copy_manifest() -> Manifest:
    """The reference manifest with `backup.sql`: an archiver for the core bus."""
    data = yaml.safe_load((ROOT / "deploykit.yaml").read_text())
    data["backup"] = {"sql": True}
    return parse_manifest(yaml.safe_dump(data))


def _provisioned_archive(program: Program) -> str:
    database = program.settings.hosts_with("database")[0].name
    provision = program.named(f"metal-db-{database}-provision")
    assert provision.is_secret("stdin"), "the archiver's password is in it"
    return str(provision.input("stdin"))


def test_the_sql_copy_runs_on_kubernetes_as_a_deployment_of_the_kit_image() -> None:
    """`backup.sql` with `apps: kubernetes`: the archive database provisioned with the others,
    a Deployment running the archiver in the first service's image, as `archiver-core`, with
    the archive URL that the outputs carry for `restore --from-sql`."""
    settings = load_stack_file(ROOT / "stacks/Pulumi.metal.yaml").settings
    assert isinstance(settings, MetalConfig)
    program = run_program(sql_copy_manifest(), settings)
    archive_url = program.outputs["database"]["archive_url"]
    primary = settings.hosts_with("database")[0].private
    assert re.fullmatch(
        rf"postgresql://deploykit_archiver:[^@]+@{re.escape(primary)}:5432/deploykit_archive"
        r"\?sslmode=require",
        archive_url,
    )
    password = archive_url.split(":")[2].split("@")[0]
    assert password in program.secrets, "a password made once, kept secret"
    sql = _provisioned_archive(program)
    assert (
        f"ALTER ROLE \"deploykit_archiver\" WITH LOGIN NOCREATEDB NOCREATEROLE PASSWORD '{password}';"
        in sql
    )
    assert "\\connect deploykit_archive\n" in sql
    assert 'GRANT SELECT, INSERT ON "deploykit_events" TO "deploykit_archiver";' in sql

    deployments = {r.name: r for r in program.of_type("kubernetes:apps/v1:Deployment")}
    archiver = deployments["metal-apps-archiver-core-deployment"].inputs
    (container,) = archiver["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "deploykit.backup.archiver"]
    first = next(iter(program.manifest.services.values()))
    assert container["image"] == first.run.image, "no backup.image: the first service's"
    assert archiver["spec"]["replicas"] == 1
    secrets = {r.name: r for r in program.of_type("kubernetes:core/v1:Secret")}
    secret = secrets["metal-apps-archiver-core-secret"]
    assert secret.is_secret("stringData")
    env = secret.input("stringData")
    credentials = program.outputs["nats"]["credentials"]
    assert env["NATS_USER"] == "archiver-core" == env["DEPLOYKIT_SERVICE"]
    assert env["NATS_PASSWORD"] == credentials["archiver-core"]["password"]
    assert env["DATABASE_URL"] == archive_url
    assert json.loads(env["DEPLOYKIT_WIRING"])["consumes"]["ACCOUNTS"]["consumer"] == (
        "deploykit-archiver"
    )
    gates = {r.urn for r in program.of_type(STEP) if r.name.endswith("-health")}
    urn = deployments["metal-apps-archiver-core-deployment"].urn
    assert gates <= program.closure(urn), "the archiver waits for the NATS cluster"
    assert program.named(f"metal-db-{settings.hosts_with('database')[0].name}-provision").urn in (
        program.closure(urn)
    ), "and for its database"


def test_the_sql_copy_runs_on_systemd_as_a_unit_beside_the_services() -> None:
    """`backup.sql` with `apps: systemd`: `deploykit-archiver-core-1.service` from the apps
    bundle (which then carries deploykit), its environment secret, its own metrics port."""
    hosts = [
        {"name": f"n{i}", "address": f"10.9.0.{i}", "roles": ["nats", "apps"]} for i in (1, 2, 3)
    ]
    hosts[0]["roles"] += ["database", "monitoring"]
    settings = MetalConfig.model_validate(
        {"hosts": hosts, "apps": "systemd", "monitoring": {"grafana": False}}
    )
    program = run_program(sql_copy_manifest(), settings)
    steps = {r.name: r for r in program.of_type(STEP)}
    archiver = steps["metal-apps-archiver-core-1"]
    assert archiver.is_secret("stdin")
    stdin = str(archiver.input("stdin"))
    archive_url = program.outputs["database"]["archive_url"]
    assert "ExecStart=/usr/bin/python3 -m deploykit.backup.archiver\n" in stdin
    assert 'NATS_USER="archiver-core"' in stdin and f'DATABASE_URL="{archive_url}"' in stdin
    assert "EnvironmentFile=/etc/deploykit/apps/archiver-core-1.env" in stdin
    ports = re.findall(
        r"DEPLOYKIT_METRICS_ADDR=(\S+)",
        "".join(
            str(steps[n].input("stdin")) for n in steps if re.fullmatch(r"metal-apps-[a-z-]+-\d", n)
        ),
    )
    assert (
        len(ports)
        == len(set(ports))
        == 1 + sum(s.replicas for s in program.manifest.services.values())
    ), "one metrics port per instance, the archiver's too"
    code = next(
        s for n, s in steps.items() if n.endswith("-code") and s.urn in archiver.dependencies
    )
    assert "deploykit-archiver-core-1.service" in code.inputs["create"], "new code restarts it"
    assert "systemctl disable --now deploykit-archiver-core-1.service" in archiver.inputs["delete"]
    assert "\\connect deploykit_archive" in _provisioned_archive(program)
