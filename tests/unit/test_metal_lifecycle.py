"""The lifecycle of the metal tier's steps and what they are made of, without hosts: what a
change of inputs does (nothing, record, update, replace), the SSH command line, uploads
checked by digest, the generated CA and certificates, the systemd apps' units and
environments, the code bundle, and the stack settings that switch these on."""

from __future__ import annotations

import datetime
import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from components.metal.generated import GeneratedProvider
from components.metal.remote import RemoteStepProvider
from deploykit.errors import ConfigError
from deploykit.manifest.load import load_manifest, parse_manifest
from deploykit.metal import bundle, services, steps, tls
from deploykit.stack.config import Host, MetalConfig, check_metal_manifest, parse_stack_config

ROOT = Path(__file__).resolve().parents[2]
BASE: dict[str, Any] = {
    "name": "metal-nats-n1-config",
    "host": "203.0.113.1",
    "port": 22,
    "user": "root",
    "private_key": "KEY",
    "known_hosts": "",
    "create": "echo create",
    "update": "",
    "delete": "echo delete",
    "stdin": "config",
    "triggers": ["abc"],
    "uploads": [{"source": "/a/b.tgz", "target": "/var/lib/x.tgz", "sha256": "00"}],
}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({}, "none"),
        ({"stdout": "printed last time"}, "none"),
        ({"private_key": "NEW KEY"}, "record"),
        ({"delete": "echo delete everything"}, "record"),
        ({"known_hosts": "/etc/ssh/known"}, "record"),
        ({"stdin": "config 2"}, "update"),
        ({"create": "echo create 2"}, "update"),
        ({"update": "echo update"}, "update"),
        ({"triggers": ["def"]}, "update"),
        (
            {
                "uploads": [
                    {"source": "/elsewhere/b.tgz", "target": "/var/lib/x.tgz", "sha256": "00"}
                ]
            },
            "none",
        ),
        (
            {"uploads": [{"source": "/a/b.tgz", "target": "/var/lib/x.tgz", "sha256": "01"}]},
            "update",
        ),
        ({"host": "203.0.113.2"}, "replace"),
        ({"user": "deploy"}, "replace"),
        ({"port": 2222, "stdin": "x"}, "replace"),
    ],
)
def test_a_change_of_inputs_does_only_what_it_must(change: dict[str, Any], expected: str) -> None:
    assert steps.step_change(BASE, {**BASE, **change}) == expected
    diff = RemoteStepProvider().diff("id", BASE, {**BASE, **change})
    assert diff.changes is (expected != "none")
    assert diff.replaces == (["host"] if expected == "replace" else [])


def test_an_update_that_only_records_runs_nothing() -> None:
    """A new SSH key or delete script: no connection at all (the host here does not exist)."""
    olds = {**BASE, "stdout": "kept"}
    result = RemoteStepProvider().update("id", olds, {**BASE, "private_key": "ROTATED"})
    assert result.outs is not None
    assert result.outs["stdout"] == "kept" and result.outs["private_key"] == "ROTATED"


def test_ssh_runs_the_script_as_root_without_rc_files() -> None:
    argv = steps.ssh_argv(
        host="10.0.0.1", user="deploy", port=2222, key_file="/k", known_hosts="/kh", body="true"
    )
    assert argv[:4] == ["ssh", "-i", "/k", "-p"] and argv[4] == "2222"
    assert "StrictHostKeyChecking=yes" in argv and "UserKnownHostsFile=/kh" in argv
    assert "BatchMode=yes" in argv and argv[-2] == "deploy@10.0.0.1"
    assert argv[-1] == "sudo -n bash --norc --noprofile -euo pipefail -c 'cd /\ntrue'"
    first_seen = steps.ssh_argv(
        host="h", user="root", port=22, key_file="/k", known_hosts="", body="true"
    )
    assert "StrictHostKeyChecking=accept-new" in first_seen


def _bash(body: str, stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["bash", "--norc", "--noprofile", "-euo", "pipefail", "-c", body],
        input=stdin,
        capture_output=True,
        check=False,
    )


def test_uploads_are_kept_only_with_their_expected_digest(tmp_path: Path) -> None:
    import io
    import tarfile

    data = b"the apps' code\n"
    target = str(tmp_path / "uploads" / "apps.tgz")
    upload = {"source": "", "target": target, "sha256": hashlib.sha256(data).hexdigest()}

    def stream(content: bytes) -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            info = tarfile.TarInfo(target.lstrip("/"))
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
        return buffer.getvalue()

    assert _bash(steps.upload_script([upload]), stream(data)).returncode == 0
    assert Path(target).read_bytes() == data
    bad = _bash(steps.upload_script([upload]), stream(b"truncated"))
    assert bad.returncode == 1 and b"checksum mismatch" in bad.stderr
    assert not Path(target).exists()


def test_generated_certificates_chain_to_the_generated_ca(tmp_path: Path) -> None:
    provider = GeneratedProvider()
    ca = provider.create({"kind": "ca", "common_name": "acme deploykit CA"}).outs
    host = provider.create(
        {
            "kind": "certificate",
            "common_name": "node1",
            "names": ["10.0.0.1", "203.0.113.1", "node1"],
            "ca_certificate": ca["certificate"],
            "ca_key": ca["private_key"],
        }
    ).outs
    (tmp_path / "ca.pem").write_text(ca["certificate"])
    (tmp_path / "host.pem").write_text(host["certificate"])
    verified = subprocess.run(
        ["openssl", "verify", "-CAfile", str(tmp_path / "ca.pem"), str(tmp_path / "host.pem")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0, verified.stderr
    certificate = x509.load_pem_x509_certificate(host["certificate"].encode())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(n.value) for n in names] == ["10.0.0.1", "203.0.113.1", "node1"]
    usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usages) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert certificate.not_valid_after_utc > datetime.datetime.now(datetime.UTC)
    assert tls.split_pem(host["certificate"] + host["private_key"])[1] == host["private_key"]
    password = provider.create({"kind": "password", "common_name": "x"}).outs["value"]
    assert len(password) == 48 and password != tls.new_password()


def test_generated_values_are_made_once_and_remade_only_when_their_identity_changes() -> None:
    provider = GeneratedProvider()
    olds = {
        "kind": "certificate",
        "common_name": "n1",
        "names": ["10.0.0.1"],
        "ca_certificate": "A",
    }
    assert not provider.diff("id", olds, dict(olds)).changes
    renamed = provider.diff("id", olds, {**olds, "names": ["10.0.0.1", "n1"]})
    assert renamed.changes and renamed.replaces == ["names"]
    assert provider.diff("id", olds, {**olds, "ca_certificate": "B"}).replaces == ["ca_certificate"]


def _apps_hosts() -> list[Host]:
    return [Host(name=f"h{i}", address=f"10.0.0.{i}", roles=["apps"]) for i in (1, 2, 3)]


def test_replicas_are_spread_over_the_apps_hosts() -> None:
    manifest = load_manifest(ROOT / "deploykit.yaml")
    placed = services.instances(manifest, _apps_hosts())
    by_service: dict[str, list[str]] = {}
    for instance in placed:
        by_service.setdefault(instance.service, []).append(instance.host.name)
    assert by_service == {
        "gateway": ["h1", "h2"],
        "accounts": ["h2", "h3"],
        "welcome": ["h3", "h1"],
        "projector": ["h1"],
    }
    assert placed[0].unit == "deploykit-gateway-1.service"


def test_archivers_continue_the_round_robin_with_ports_of_their_own() -> None:
    """With `backup.sql`, one archiver per archived bus after the 7 service instances: the
    8th instance lands on h2 (round robin over 3 hosts) with metrics port 9464 + 7."""
    data = yaml.safe_load((ROOT / "deploykit.yaml").read_text())
    data["backup"] = {"sql": True}
    manifest = parse_manifest(yaml.safe_dump(data))
    hosts = _apps_hosts()
    assert len(services.instances(manifest, hosts)) == 7
    (archiver,) = services.archiver_instances(manifest, hosts)
    assert (archiver.service, archiver.number, archiver.host.name) == ("archiver-core", 1, "h2")
    assert archiver.unit == "deploykit-archiver-core-1.service"
    assert archiver.metrics_addr == "127.0.0.1:9471"
    unit = services.service_unit("acme", archiver, services.ARCHIVER_COMMAND)
    assert "ExecStart=/usr/bin/python3 -m deploykit.backup.archiver\n" in unit
    assert "EnvironmentFile=/etc/deploykit/apps/archiver-core-1.env\n" in unit
    assert services.archiver_instances(load_manifest(ROOT / "deploykit.yaml"), hosts) == []


def test_an_app_unit_restarts_on_failure_and_logs_to_the_journal() -> None:
    instance = services.Instance("gateway", 2, _apps_hosts()[1])
    unit = services.service_unit("acme", instance, "python -m apps.gateway --flag")
    assert "ExecStart=/usr/bin/python3 -m apps.gateway --flag\n" in unit
    assert "Restart=on-failure\n" in unit and "StandardOutput=journal\n" in unit
    assert "EnvironmentFile=/etc/deploykit/apps/gateway-2.env\n" in unit
    assert "PYTHONPATH=/opt/deploykit/apps/current" in unit
    assert "SSL_CERT_FILE=/etc/deploykit/apps/ca.pem" in unit
    assert "DEPLOYKIT_INSTANCE=h2-2" in unit and "User=deploykit-apps\n" in unit


def test_an_environment_file_reads_back_unchanged() -> None:
    r"""Double quotes with \\, \" and \$ escaped: systemd's EnvironmentFile and the shell read
    these the same way (the hosts test reads them through systemd for real)."""
    env = {"DATABASE_URL": 'postgresql://a:p%40"$x\\y@h/db?sslmode=require', "PORT": "8080"}
    text = services.environment_file(env)
    assert text.splitlines()[1] == 'PORT="8080"'
    got = _bash("set -a; . /dev/stdin; printf '%s' \"$DATABASE_URL\"", text.encode())
    assert got.stdout.decode() == env["DATABASE_URL"]


def test_the_code_bundle_is_reproducible_and_holds_what_the_apps_import(tmp_path: Path) -> None:
    commands = ["python -m apps.gateway", "python -m apps.accounts"]
    first = bundle.build_bundle(ROOT, commands, tmp_path / "a.tar.gz")
    again = bundle.build_bundle(ROOT, commands, tmp_path / "b.tar.gz")
    assert first.digest == again.digest
    listing = subprocess.run(
        ["tar", "-tzf", str(first.path)], capture_output=True, text=True, check=True
    ).stdout.split()
    tops = {name.split("/")[0] for name in listing}
    assert {"apps", "deploykit", "nats", "aiohttp", "psycopg", "psycopg_binary"} <= tops
    assert not {"pulumi", "pulumi_kubernetes", "matplotlib", "setuptools"} & tops
    with pytest.raises(ConfigError, match=r"made with Python 3\.11 but the hosts run Python 3\.12"):
        bundle.build_bundle(ROOT, commands, tmp_path / "c.tar.gz", python="3.12")
    with pytest.raises(ConfigError, match="runs as `python -m <module> \\[args\\]`"):
        bundle.entry_modules(["./run-it.sh"])
    assert first.path.name == f"a-{first.digest[:16]}.tar.gz"  # by digest: never overwritten


def test_the_bundle_with_the_cli_runs_deploykit_backup_alone(tmp_path: Path) -> None:
    """`python -m deploykit` in the bundle (what the scheduled backups run), with nothing but
    the bundle on the path (`-S`: no site-packages)."""
    made = bundle.build_bundle(ROOT, ["python -m deploykit"], tmp_path / "cli.tar.gz")
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    subprocess.run(["tar", "-xzf", str(made.path), "-C", str(unpacked)], check=True)
    assert (unpacked / "deploykit" / "__main__.py").is_file()
    done = subprocess.run(
        [sys.executable, "-S", "-m", "deploykit", "backup", "--help"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(unpacked), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "--keep" in done.stdout and "--outputs" in done.stdout


def test_the_bundle_with_the_archiver_runs_it_alone(tmp_path: Path) -> None:
    """`python -m deploykit.backup.archiver` (a module, not a package) in the bundle: with
    nothing but the bundle on the path it starts and refuses its missing settings (exit 2),
    rather than failing to import."""
    made = bundle.build_bundle(ROOT, [services.ARCHIVER_COMMAND], tmp_path / "archiver.tar.gz")
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    subprocess.run(["tar", "-xzf", str(made.path), "-C", str(unpacked)], check=True)
    done = subprocess.run(
        [sys.executable, "-S", "-m", "deploykit.backup.archiver"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(unpacked)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "bad configuration: DEPLOYKIT_SERVICE is required" in done.stdout + done.stderr


def _metal(extra: dict[str, Any]) -> MetalConfig:
    hosts = [
        {"name": f"n{i}", "address": f"10.0.0.{i}", "roles": ["nats", "apps"]} for i in (1, 2, 3)
    ]
    hosts[0]["roles"] += ["database", "monitoring"]
    hosts[1]["roles"] += ["database"]
    stack = parse_stack_config(
        {"deploykit:tier": "metal", "deploykit:metal": {"hosts": hosts, **extra}}, "stack.yaml"
    )
    assert isinstance(stack.settings, MetalConfig)
    return stack.settings


def test_apps_on_systemd_need_apps_hosts_and_commands_not_kubernetes() -> None:
    settings = _metal({"apps": "systemd", "monitoring": {"grafana": False}})
    assert settings.database.release == "" and not settings.destroyData
    check_metal_manifest(load_manifest(ROOT / "deploykit.yaml"), settings)
    with pytest.raises(ConfigError, match="no host has the role\\(s\\) kubernetes-server"):
        _metal({})
    with pytest.raises(ConfigError, match="apps is systemd but hosts have kubernetes roles"):
        hosts = [
            {"name": "solo", "address": "10.0.0.1", "roles": ["nats", "database", "monitoring"]},
            {"name": "k", "address": "10.0.0.2", "roles": ["apps", "kubernetes-agent"]},
        ]
        parse_stack_config(
            {"deploykit:tier": "metal", "deploykit:metal": {"hosts": hosts, "apps": "systemd"}},
            "stack.yaml",
        )


def test_a_deleted_step_takes_its_uploads_and_the_kits_empty_folders_with_it() -> None:
    uploads = [{"source": "/a/x.deb", "target": "/var/cache/deploykit/artifacts/debs/x.deb"}]
    body = steps.delete_script("systemctl disable --now x.service", uploads)
    assert body.startswith(
        f"exec 9>{steps.DELETE_LOCK}\nflock 9\n"  # one removal at a time on a host
        "systemctl disable --now x.service\nrm -rf /var/cache/deploykit/artifacts/debs/x.deb "
        "/var/cache/deploykit/artifacts/debs/partial /var/cache/deploykit/artifacts/debs/lock\n"
    )
    assert "[ ! -d /etc/deploykit ] || find /etc/deploykit -depth -type d -empty -delete" in body
    assert "/var/lib/nats" not in body and "/var/lib/postgresql" not in body
    assert steps.delete_script("", []) == ""


def test_postgresql_is_the_distributions_unless_another_version_is_asked() -> None:
    from deploykit.metal import postgres

    default = postgres.install_script(postgres.PgPaths(""), backup=False)
    assert "pgdg" not in default and "install -y -q postgresql " in default
    assert (
        'ln -sfn "/usr/lib/postgresql/$(ls /usr/lib/postgresql | sort -V | tail -n 1)"' in default
    )
    asked = postgres.install_script(postgres.PgPaths("16"), backup=False)
    assert "apt-cache show postgresql-16 >/dev/null 2>&1 || {" in asked
    assert "apt.postgresql.org.sh -y" in asked and "postgresql-16" in asked
    offline = postgres.install_script(postgres.PgPaths("16"), backup=False, install="echo debs")
    assert "pgdg" not in offline and "apt-get" not in offline and "echo debs" in offline


def test_prometheus_scrapes_itself_where_it_listens_and_grafanas_keyring_cannot_poison() -> None:
    """Two defects seen on real hosts: the self-scrape target was localhost:9090 while the
    unit listens on the private address only; a failed key download left an empty keyring
    that made every retry skip the repository setup."""
    import yaml

    from deploykit.metal import monitoring

    settings = _metal({"apps": "systemd", "monitoring": {"grafana": False}})
    config = yaml.safe_load(monitoring.prometheus_config("acme", settings))
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "prometheus")
    assert job["static_configs"][0]["targets"] == ["10.0.0.1:9090"]
    assert "--web.listen-address=10.0.0.1:9090" in monitoring.prometheus_unit(settings.hosts[0])
    assert any(j["job_name"] == "nats" for j in config["scrape_configs"])
    quiet = _metal({"apps": "systemd", "nats": {"exporter": False}})
    jobs = yaml.safe_load(monitoring.prometheus_config("acme", quiet))["scrape_configs"]
    assert not any(j["job_name"] == "nats" for j in jobs), "no exporter, no NATS job"
    install = monitoring.grafana_install_script()
    assert "gpg --dearmor -o /etc/apt/keyrings/grafana.gpg" not in install
    assert 'gpg --dearmor > "$key"' in install
    assert "if [ ! -s /etc/apt/keyrings/grafana.gpg ] || ! dpkg -s grafana" in install
