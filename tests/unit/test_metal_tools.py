"""Everything the metal tier renders, checked by the tools that will read it: Kubernetes
objects against the API schemas (kubernetes-validate), Prometheus config and rules with
promtool, systemd units with systemd-analyze verify."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from deploykit.local.nats import find_nats_server
from deploykit.local.postgres import find_pg_bindir
from deploykit.manifest.model import Manifest, Role, Service
from deploykit.metal import backup, k8s, monitoring, nats, postgres, yugabyte
from deploykit.stack.config import Backup, MetalConfig, MetalNats

K8S_VERSION = "1.31.0"  # the k3s release the stack installs by default is v1.31


def all_objects(manifest: Manifest, settings: MetalConfig) -> list[dict[str, Any]]:
    ns, system = "acme-metal", manifest.system
    objects = [k8s.namespace(ns, system), *k8s.prometheus_access(ns, system)]
    for name, svc in manifest.services.items():
        env = {"NATS_URL": "tls://10.0.0.11:4222", "NATS_USER": name, "NATS_PASSWORD": "pw"}
        objects += [
            k8s.app_secret(ns, system, name, env, "-----BEGIN CERTIFICATE-----\n"),
            k8s.deployment(ns, system, name, svc, "0" * 64),
            k8s.pod_disruption_budget(ns, system, name),
        ]
        if svc.run.port:
            objects.append(k8s.service(ns, system, name, svc.run.port))
        if svc.role is Role.FRONTEND and name in settings.domains:
            objects.append(k8s.ingress(ns, system, name, settings.domains[name], "traefik"))
    store = Backup(endpoint="https://s3.example.com", bucket="b", accessKeyId="k")
    files = dict.fromkeys(backup.CONFIG_FILES, "x")
    objects.append(backup.jetstream_backup_secret(ns, system, files, backup.rclone_env(store, "s")))
    objects.append(backup.jetstream_backup_cronjob(ns, system, store, "ghcr.io/acme/gateway:1"))
    objects.append(k8s.archiver_deployment(ns, system, "core", "ghcr.io/acme/gateway:1", "0" * 64))
    return objects


def test_every_kubernetes_object_validates(manifest: Manifest, settings: MetalConfig) -> None:
    objects = all_objects(manifest, settings)
    kinds = {o["kind"] for o in objects}
    assert kinds == {
        "Namespace", "ServiceAccount", "Role", "RoleBinding", "Secret", "Deployment",
        "PodDisruptionBudget", "Service", "Ingress", "CronJob",
    }  # fmt: skip
    for obj in objects:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_schema_validation_catches_a_broken_object(manifest: Manifest) -> None:
    broken = k8s.deployment("ns", "acme", "gateway", manifest.services["gateway"], "x")
    broken["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


# promtool ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def promtool() -> str:
    """Debian's promtool, installed once per session when missing (DEPLOYKIT_NO_APT=1 skips)."""
    found = shutil.which("promtool")
    if found:
        return found
    if (
        os.environ.get("DEPLOYKIT_NO_APT") == "1"
        or os.geteuid() != 0
        or not shutil.which("apt-get")
    ):
        pytest.skip("promtool is not installed and apt-get cannot install it here")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "prometheus"]):
        if subprocess.run(argv, capture_output=True, env=env, timeout=600, check=False).returncode:
            pytest.skip(f"`{' '.join(argv)}` failed: promtool (Debian's prometheus) unavailable")
    return shutil.which("promtool") or pytest.skip("prometheus installed without promtool")


def _promtool(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], capture_output=True, text=True, check=False)


def test_alert_rules_pass_promtool(
    promtool: str, tmp_path: Path, manifest: Manifest, settings: MetalConfig
) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(monitoring.alert_rules(manifest, settings))
    checked = _promtool(promtool, "check", "rules", str(rules))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 22 rules found" in checked.stdout  # 17 of the servers, 5 of the services
    rules.write_text(rules.read_text().replace('expr: up{job="node"} == 0', "expr: up{job=="))
    assert _promtool(promtool, "check", "rules", str(rules)).returncode != 0


def test_prometheus_config_passes_promtool(
    promtool: str, tmp_path: Path, manifest: Manifest, settings: MetalConfig
) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(monitoring.alert_rules(manifest, settings))
    (tmp_path / "token").write_text("token")
    (tmp_path / "ca.crt").write_text("")

    def rendered(apps: monitoring.AppsDiscovery | None) -> Path:
        text = monitoring.prometheus_config("acme", settings, apps)
        for original, local in (
            (monitoring.PROMETHEUS_RULES, rules),
            (monitoring.K8S_TOKEN, tmp_path / "token"),
            (monitoring.K8S_CA, tmp_path / "ca.crt"),
        ):
            text = text.replace(original, str(local))
        path = tmp_path / f"prometheus-{'apps' if apps else 'hosts'}.yml"
        path.write_text(text)
        return path

    checked = _promtool(promtool, "check", "config", str(rendered(None)))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    with_apps = _promtool(
        promtool,
        "check",
        "config",
        str(rendered(monitoring.AppsDiscovery("https://10.0.0.11:6443", "acme-metal"))),
    )
    if "kubernetes_sd_configs not found" in with_apps.stdout + with_apps.stderr:
        pytest.skip(
            "this promtool (Debian's build) has no Kubernetes service discovery; the hosts run "
            "the official Prometheus release, whose promtool checks this file on each host"
        )
    assert with_apps.returncode == 0, with_apps.stdout + with_apps.stderr


# systemd ------------------------------------------------------------------------------------


def _stub(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return str(path)


def test_every_systemd_unit_verifies(tmp_path: Path, settings: MetalConfig) -> None:
    """Rendered with the real nats-server and postgres binaries (stubs for those this machine
    lacks), because `verify` insists that ExecStart's program exists."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    host = settings.hosts[0]
    node = nats.nats_nodes("acme", settings.hosts_with("nats"), MetalNats())[0]
    bindir = find_pg_bindir()
    store = Backup(endpoint="https://s3.example.com", bucket="b", accessKeyId="k")
    paths = postgres.PgPaths("16")
    yb_home = tmp_path / "yugabyte"
    for process in ("master", "tserver"):
        _stub(yb_home / "bin" / f"yb-{process}")
    units = {
        "nats-server.service": nats.nats_unit(node, find_nats_server()),
        "prometheus-nats-exporter.service": nats.exporter_unit(node, _stub(tmp_path / "bin/exp")),
        "deploykit-postgresql.service": postgres.postgres_unit(paths, "primary").replace(
            paths.bindir, str(bindir)
        ),
        "yb-master.service": yugabyte.yugabyte_unit("master", str(yb_home)),
        "yb-tserver.service": yugabyte.yugabyte_unit("tserver", str(yb_home)),
        "prometheus.service": monitoring.prometheus_unit(host, _stub(tmp_path / "bin/prom")),
        "deploykit-pgbackrest@full.service": backup.pgbackrest_service(store).replace(
            "/usr/bin/pgbackrest", _stub(tmp_path / "bin/pgbackrest")
        ),
        "deploykit-backup.service": backup.jetstream_backup_service("acme", store).replace(
            "/usr/bin/rclone", _stub(tmp_path / "bin/rclone")
        ),
        "deploykit-backup.timer": backup.jetstream_backup_timer("acme", store),
        "deploykit-pgbackrest-full.timer": backup.pgbackrest_timer("full"),
        "deploykit-pgbackrest-diff.timer": backup.pgbackrest_timer("diff"),
    }
    directory = tmp_path / "units"
    directory.mkdir()
    for name, text in units.items():
        (directory / name).write_text(text)
    (directory / "deploykit-pgbackrest@diff.service").write_text(
        units["deploykit-pgbackrest@full.service"]
    )
    result = subprocess.run(
        [analyze, "verify", *(str(directory / name) for name in units)],
        capture_output=True,
        text=True,
        check=False,
    )
    complaints = [
        line
        for line in result.stderr.splitlines()
        if any(
            word in line for word in ("Unknown", "Missing", "ignoring", "not executable", "Failed")
        )
    ]
    assert result.returncode == 0 and not complaints, result.stderr
    assert "$$MAINPID" in units["nats-server.service"]  # a literal $MAINPID for the shell


def test_systemd_analyze_catches_a_broken_unit(tmp_path: Path, settings: MetalConfig) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    node = nats.nats_nodes("acme", settings.hosts_with("nats"), MetalNats())[0]
    unit = tmp_path / "nats-server.service"
    unit.write_text(nats.nats_unit(node, str(tmp_path / "no-such-binary")))
    result = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0 and "not executable" in result.stderr


def test_a_pod_listens_on_its_own_interface_unless_the_service_says_otherwise(
    manifest: Manifest,
) -> None:
    """Services default to loopback (HOST); in a pod that would make them unreachable."""

    def host(svc: Service) -> list[str]:
        container = k8s.deployment("ns", "acme", "gateway", svc, "x")["spec"]["template"]["spec"][
            "containers"
        ][0]
        return [e["value"] for e in container["env"] if e["name"] == "HOST"]

    gateway = manifest.services["gateway"]
    assert host(gateway) == ["0.0.0.0"]
    pinned = gateway.model_copy(
        update={"run": gateway.run.model_copy(update={"env": {"HOST": "::"}})}
    )
    assert host(pinned) == ["::"]
