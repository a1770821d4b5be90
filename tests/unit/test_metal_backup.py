"""Scheduled backups on the metal tier, on their exact output: the cron → OnCalendar
translation (checked by systemd-analyze where it is installed), the timer, the service, the
host script, the outputs the snapshots read, pgBackRest's configuration and its restore check;
the stack settings that drive them; `--keep`'s choice of what to remove."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from deploykit.backup.store import LocalStore, prune
from deploykit.errors import ConfigError
from deploykit.manifest.load import load_manifest
from deploykit.manifest.model import Manifest
from deploykit.metal import backup
from deploykit.metal.cron import on_calendar
from deploykit.metal.postgres import PgPaths
from deploykit.metal.sources import needed_artifacts
from deploykit.stack.config import Backup, MetalConfig, parse_stack_config
from deploykit.stack.outputs import StackOutputs

ROOT = Path(__file__).resolve().parents[2]
S3 = {"endpoint": "https://s3.example.com", "bucket": "acme-backups", "accessKeyId": "AK"}


@pytest.fixture(scope="module")
def manifest() -> Manifest:
    return load_manifest(ROOT / "deploykit.yaml")


def systemd_stack(**backup_settings: object) -> MetalConfig:
    hosts = [
        {"name": f"n{i}", "address": f"10.9.0.{i}", "roles": ["nats", "apps"]} for i in (1, 2, 3)
    ]
    hosts[0]["roles"] += ["database", "monitoring"]
    return MetalConfig.model_validate(
        {"hosts": hosts, "apps": "systemd", "backup": backup_settings}
    )


@pytest.mark.parametrize(
    ("cron", "calendar"),
    [
        ("0 3 * * *", "*-*-* 3:0:00 UTC"),
        ("*/15 * * * *", "*-*-* *:0/15:00 UTC"),
        ("30 2 * * 1-5", "Mon,Tue,Wed,Thu,Fri *-*-* 2:30:00 UTC"),
        ("0 4 * * 0,6", "Sun,Sat *-*-* 4:0:00 UTC"),
        ("0 1 1,15 1-6 *", "*-1..6-1,15 1:0:00 UTC"),
        ("5 */6 * * 7", "Sun *-*-* 0/6:5:00 UTC"),
    ],
)
def test_cron_becomes_the_same_on_calendar(cron: str, calendar: str) -> None:
    assert on_calendar(cron) == calendar
    analyze = shutil.which("systemd-analyze")
    if analyze:  # systemd itself reads it
        done = subprocess.run(
            [analyze, "calendar", calendar], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("cron", "fragment"),
    [
        ("daily", "expected a cron expression of 5 fields"),
        ("0 3 1 * 1", "not both"),
        ("0 3 * * MON", "use numbers"),
        ("61 3 * * *", "minute 61: outside 0-59"),
        ("0 3 * * */2", "no steps"),
        ("0 5-3 * * *", "a range runs upwards"),
        ("*/0 3 * * *", "a step is a positive number"),
    ],
)
def test_a_schedule_no_timer_can_run_exactly_is_refused(cron: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        on_calendar(cron)
    with pytest.raises(ConfigError, match=r"deploykit:metal\.backup"):
        parse_stack_config(
            {
                "deploykit:tier": "metal",
                "deploykit:metal": {**_inventory(), "backup": {"schedule": cron}},
            },
            "Pulumi.metal.yaml",
        )


def _inventory() -> dict[str, object]:
    stack = systemd_stack()
    return {
        "hosts": [h.model_dump(exclude_defaults=True) for h in stack.hosts],
        "apps": "systemd",
    }


def test_the_backup_host_is_the_first_apps_host_or_the_named_one() -> None:
    assert systemd_stack().backup_host().name == "n1"
    assert systemd_stack(host="n3").backup_host().name == "n3"
    with pytest.raises(ValueError, match=r"backup.host 'n9': not a host with the role apps"):
        systemd_stack(host="n9")


def test_s3_is_optional_and_all_or_nothing() -> None:
    assert not Backup().s3 and Backup(**S3).s3
    assert not Backup(**S3, enabled=False).s3
    with pytest.raises(ValueError, match="missing endpoint, accessKeyId"):
        Backup(bucket="b")


def test_the_artifacts_follow_the_backups() -> None:
    assert "pgbackrest" in needed_artifacts(systemd_stack())
    assert "rclone" not in needed_artifacts(systemd_stack())
    assert "rclone" in needed_artifacts(systemd_stack(**S3))
    assert "pgbackrest" not in needed_artifacts(systemd_stack(enabled=False))


def test_the_timer_runs_on_the_schedule() -> None:
    assert backup.jetstream_backup_timer("acme", Backup(schedule="30 2 * * 1-5")) == (
        "# Rendered by deploykit (deploykit/metal/backup.py); do not edit.\n"
        "[Unit]\n"
        "Description=acme: scheduled JetStream backups (deploykit)\n"
        "\n"
        "[Timer]\n"
        "OnCalendar=Mon,Tue,Wed,Thu,Fri *-*-* 2:30:00 UTC\n"
        "Persistent=true\n"
        "Unit=deploykit-backup.service\n"
        "\n"
        "[Install]\n"
        "WantedBy=timers.target\n"
    )


def test_the_service_runs_deploykit_backup_from_the_bundle_then_rclone() -> None:
    unit = backup.jetstream_backup_service("acme", Backup(**S3, keep=3))
    assert unit == (
        "# Rendered by deploykit (deploykit/metal/backup.py); do not edit.\n"
        "[Unit]\n"
        "Description=acme: back up the JetStream streams marked backup: true (deploykit)\n"
        "After=network-online.target\n"
        "Wants=network-online.target\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        "User=deploykit-backup\n"
        "Group=deploykit-backup\n"
        "WorkingDirectory=/opt/deploykit/apps/current\n"
        "Environment=PYTHONPATH=/opt/deploykit/apps/current PYTHONUNBUFFERED=1 "
        "SSL_CERT_FILE=/etc/deploykit/backup/ca.pem\n"
        "EnvironmentFile=/etc/deploykit/backup/s3.env\n"
        "ExecStart=/usr/bin/python3 -m deploykit backup "
        "--outputs /etc/deploykit/backup/outputs.json --file /etc/deploykit/backup/deploykit.yaml "
        "--to /var/backups/deploykit/jetstream --keep 3 --json\n"
        "ExecStart=/usr/bin/rclone copy --exclude '*.partial/**' "
        "/var/backups/deploykit/jetstream :s3:acme-backups/acme/jetstream\n"
        "TimeoutStartSec=6h\n"
        "StandardOutput=journal\n"
        "StandardError=journal\n"
        "NoNewPrivileges=true\n"
        "ProtectSystem=strict\n"
        "ProtectHome=true\n"
        "PrivateTmp=true\n"
        "ReadWritePaths=/var/backups/deploykit/jetstream\n"
    )
    local = backup.jetstream_backup_service("acme", Backup(folder="/srv/backup"))
    assert "rclone" not in local and "EnvironmentFile" not in local
    assert "--to /srv/backup/jetstream --keep 7 --json" in local


def test_the_host_script_writes_the_files_and_enables_the_timer() -> None:
    text = backup.jetstream_backup_script("acme", Backup())
    lines = text.splitlines()
    assert lines[:9] == [
        "id -u deploykit-backup >/dev/null 2>&1 || useradd --system --home-dir "
        "/var/backups/deploykit/jetstream --shell /usr/sbin/nologin deploykit-backup",
        "install -d -m 0755 /var/backups/deploykit",
        "install -d -o deploykit-backup -g deploykit-backup -m 0700 /var/backups/deploykit/jetstream",
        "install -d -o root -g deploykit-backup -m 0750 /etc/deploykit/backup",
        "while read -r name data; do",
        '  printf %s "$data" | base64 -d > "/etc/deploykit/backup/.$name.new"',
        '  chgrp deploykit-backup "/etc/deploykit/backup/.$name.new" && '
        'chmod 0640 "/etc/deploykit/backup/.$name.new"',
        '  mv "/etc/deploykit/backup/.$name.new" "/etc/deploykit/backup/$name"',
        "done",
    ]
    assert lines[-2:] == [
        "systemctl daemon-reload",
        "systemctl enable --now --quiet deploykit-backup.timer",
    ]
    # each unit reaches put_file through a heredoc on its own subshell (stdin is the files')
    assert text.count(") <<'UNIT'\n# Rendered by deploykit") == 2


def test_the_host_script_runs_for_real_on_the_files(tmp_path: Path) -> None:
    """The stdin protocol, decoded by bash as the host does (folders moved under tmp_path)."""
    config = tmp_path / "config"
    config.mkdir()
    files = {"outputs.json": '{"a": "pass word $x"}\n', "ca.pem": "-----BEGIN\nline\n"}
    loop = "\n".join(
        line.replace("/etc/deploykit/backup", str(config)).replace(
            'chgrp deploykit-backup "' + str(config) + '/.$name.new" && ', ""
        )
        for line in backup.jetstream_backup_script("acme", Backup()).splitlines()[4:9]
    )
    subprocess.run(
        ["bash", "-euo", "pipefail", "-c", loop],
        input=backup.config_stdin(files),
        text=True,
        check=True,
    )
    assert {p.name: p.read_text() for p in config.iterdir()} == files
    assert {oct(p.stat().st_mode & 0o777) for p in config.iterdir()} == {"0o640"}


def test_removal_keeps_the_snapshots_unless_destroy_data() -> None:
    kept = backup.remove_jetstream_backup_script(Backup(), destroy_data=False)
    assert "rm -rf /etc/deploykit/backup\n" in kept and "/var/backups" not in kept
    gone = backup.remove_jetstream_backup_script(Backup(), destroy_data=True)
    assert "rm -rf /etc/deploykit/backup /var/backups/deploykit/jetstream\n" in gone
    assert "rmdir /var/backups/deploykit 2>/dev/null || true" in gone
    pg = backup.remove_pgbackrest_script(Backup(), destroy_data=True)
    assert "rm -rf /etc/pgbackrest/pgbackrest.conf /var/backups/deploykit/postgresql" in pg


def test_the_snapshots_read_only_the_backup_users(manifest: Manifest) -> None:
    stack = systemd_stack()
    users = {"backup-core": {"account": "core", "role": "backup", "password": "pw"}}
    text = backup.backup_outputs(manifest, stack, users)
    document = StackOutputs.model_validate(json.loads(text))
    assert list(document.nats.credentials) == ["backup-core"]
    credential = document.credential("backup-core")
    assert (credential.user, credential.role, credential.inbox_prefix) == (
        "backup-core",
        "backup",
        "_INBOX_backup-core",
    )
    assert document.nats.urls == [f"tls://10.9.0.{i}:4222" for i in (1, 2, 3)]
    assert document.database is None and document.services == []
    assert backup.backup_buses(manifest) == {"core": ["ACCOUNTS"]}


def test_config_stdin_is_one_line_per_file() -> None:
    assert backup.config_stdin({"a.json": "{}\n", "b": "x y"}) == (
        f"a.json {base64.b64encode(b'{}' + bytes([10])).decode()}\nb {base64.b64encode(b'x y').decode()}\n"
    )


def test_the_cronjob_runs_deploykit_backup_in_the_image_then_rclone() -> None:
    job = backup.jetstream_backup_cronjob("acme-metal", "acme", Backup(**S3), "ghcr.io/acme/gw:1")
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    [snapshot] = pod["initContainers"]
    assert snapshot["image"] == "ghcr.io/acme/gw:1"
    assert snapshot["command"] == [
        "python", "-m", "deploykit", "backup",
        "--outputs", "/etc/deploykit/backup/outputs.json",
        "--file", "/etc/deploykit/backup/deploykit.yaml",
        "--to", "/backup/jetstream", "--json",
    ]  # fmt: skip
    [upload] = pod["containers"]
    assert upload["args"] == [
        "copy", "--exclude", "*.partial/**", "/backup/jetstream", ":s3:acme-backups/acme/jetstream"
    ]  # fmt: skip
    assert [e["name"] for e in upload["env"]] == sorted(backup.rclone_env(Backup(**S3), ""))
    assert job["spec"]["schedule"] == "0 3 * * *" and job["spec"]["timeZone"] == "Etc/UTC"


def test_pgbackrest_keeps_a_folder_repository_and_an_s3_one_with_a_bucket() -> None:
    local = backup.pgbackrest_conf("acme", Backup(keepFull=3), None, "/data", "/sock")
    assert "repo1-type=posix\nrepo1-path=/var/backups/deploykit/postgresql\n" in local
    assert "repo1-retention-full=3\n" in local and "repo2" not in local
    both = backup.pgbackrest_conf("acme", Backup(**S3), "SECRET", "/data", "/sock")
    assert "repo2-type=s3\nrepo2-s3-endpoint=s3.example.com\nrepo2-s3-bucket=acme-backups\n" in both
    assert "repo2-s3-key-secret=SECRET\n" in both and "repo2-path=/acme/postgresql\n" in both
    assert backup.pgbackrest_service(Backup()).endswith(
        "ExecStart=/usr/bin/pgbackrest --stanza=deploykit --type=%i --repo=1 backup\n"
    )
    assert backup.pgbackrest_service(Backup(**S3)).endswith(
        "ExecStart=/usr/bin/pgbackrest --stanza=deploykit --type=%i --repo=1 backup\n"
        "ExecStart=/usr/bin/pgbackrest --stanza=deploykit --type=%i --repo=2 backup\n"
    )


def test_the_postgres_restore_check_restores_starts_asks_and_cleans_up() -> None:
    text = backup.pgbackrest_restore_check_script(PgPaths(""), "/s", 5499, ["accounts", "x"])
    pg = "runuser -u postgres -- /usr/local/lib/deploykit/postgresql/bin"
    assert text.splitlines() == [
        f"cleanup() {{ {pg}/pg_ctl -D /s -m fast stop >/dev/null 2>&1 || true; "
        "rm -rf /s /s.sock /s.log; }",
        "trap cleanup EXIT",
        "cleanup",
        "install -d -o postgres -g postgres -m 0700 /s /s.sock",
        "runuser -u postgres -- /usr/bin/pgbackrest --stanza=deploykit --pg1-path=/s "
        "--archive-mode=off --type=default restore",
        f"{pg}/pg_ctl -D /s -w -t 300 -l /s.log -o '-p 5499 -c listen_addresses=127.0.0.1 "
        "-c unix_socket_directories=/s.sock -c archive_mode=off -c shared_buffers=64MB' start",
        f'found="$({pg}/psql -h /s.sock -p 5499 -d postgres -Atc '
        "'SELECT count(*) FROM pg_database WHERE datname IN ('\"'\"'accounts'\"'\"', "
        "'\"'\"'x'\"'\"')')\"",
        'echo "restored databases: $found of 2"',
        '[ "$found" = 2 ]',
    ]


@pytest.mark.parametrize(
    ("names", "keep", "gone"),
    [
        (["A-20260101T000000000000Z", "A-20260102T000000000000Z"], 1, ["A-20260101T000000000000Z"]),
        (["A-20260102T000000000000Z", "A-20260101T000000000000Z"], 2, []),
        (
            [
                "A-20260101T000000000000Z",
                "A-20260103T000000000000Z.partial",  # unfinished: never counted, never removed
                "A_B-20250101T000000000000Z",  # another stream
                "A-B-20250101T000000000000Z",  # another stream, with a dash
                "A-20260102T000000000000Z",
                "notes",
            ],
            1,
            ["A-20260101T000000000000Z"],
        ),
    ],
)
def test_keep_removes_only_the_streams_older_snapshots(
    tmp_path: Path, names: list[str], keep: int, gone: list[str]
) -> None:
    for name in names:
        (tmp_path / name).mkdir()
        if name != "notes" and not name.endswith(".partial"):
            (tmp_path / name / "manifest.json").write_text("{}")
    newest = max(n for n in names if n.startswith("A-2") and not n.endswith(".partial"))
    assert prune(LocalStore(tmp_path), "A", keep, newest) == gone
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(set(names) - set(gone))
