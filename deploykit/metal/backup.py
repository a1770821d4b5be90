"""Backups to the stack's S3-compatible storage.

- JetStream: a Kubernetes CronJob per bus that has streams marked `backup: true`. nats-box
  snapshots each stream (`nats stream backup`: config, consumers and every message) as the
  bus's provisioning user; rclone then copies the snapshot to
  `s3://<bucket>/<system>/jetstream/<bus>/<UTC timestamp>/<stream>`.
- PostgreSQL: pgBackRest on the primary: the WAL archive (archive_command) and base
  backups (full on Sundays, differential the other days), with systemd timers.

Restore procedures are in docs/metal.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from deploykit.configs.templates import render
from deploykit.manifest.model import Manifest
from deploykit.metal import k8s, layout
from deploykit.metal.shell import q, script
from deploykit.stack.config import Backup

__all__ = [
    "NATS_BOX_IMAGE",
    "PGBACKREST_CONF",
    "RCLONE_IMAGE",
    "STANZA",
    "backup_buses",
    "backup_env",
    "jetstream_backup_cronjob",
    "pgbackrest_conf",
    "pgbackrest_service",
    "pgbackrest_setup_script",
    "pgbackrest_timer",
    "snapshot_script",
]

NATS_BOX_IMAGE = "natsio/nats-box:0.14.5"
RCLONE_IMAGE = "rclone/rclone:1.68.2"
PGBACKREST_CONF = "/etc/pgbackrest/pgbackrest.conf"
STANZA = "deploykit"


def backup_buses(manifest: Manifest) -> dict[str, list[str]]:
    """Bus → its streams marked for backup (memory streams cannot be snapshotted: refused by
    JetStream, so they are left out here rather than failing the job every night)."""
    buses: dict[str, list[str]] = {}
    for name, stream in manifest.streams.items():
        if stream.backup and stream.storage == "file":
            buses.setdefault(stream.bus, []).append(name)
    return buses


def snapshot_script(streams: Sequence[str]) -> str:
    """Runs in nats-box: one directory per run, one snapshot per stream, checked (--check)."""
    connect = (
        '--server "$NATS_URL" --user "$NATS_USER" --password "$NATS_PASSWORD" '
        '--inbox-prefix "$NATS_INBOX_PREFIX" --tlsca "$SSL_CERT_FILE"'
    )
    return script(
        "set -eu",
        'stamp="$(date -u +%Y%m%dT%H%M%SZ)"',
        *(
            f'nats {connect} stream backup --check {q(stream)} "/backup/$stamp/{stream}"'
            for stream in streams
        ),
    )


def backup_env(backup: Backup, secret_access_key: str) -> dict[str, str]:
    """rclone's S3 remote, configured entirely from the environment."""
    return {
        "RCLONE_S3_PROVIDER": "Other",
        "RCLONE_S3_ENDPOINT": backup.endpoint,
        "RCLONE_S3_REGION": backup.region,
        "RCLONE_S3_ACCESS_KEY_ID": backup.accessKeyId,
        "RCLONE_S3_SECRET_ACCESS_KEY": secret_access_key,
    }


def jetstream_backup_cronjob(
    ns: str, system: str, bus: str, streams: Sequence[str], backup: Backup, secret: str
) -> dict[str, Any]:
    """The CronJob for one bus; `secret` holds NATS_* (the bus's provisioning user), the CA
    (ca.pem) and the RCLONE_S3_* settings."""
    name = f"jetstream-backup-{bus}"
    env_from = [{"secretRef": {"name": secret}}]
    volumes = [
        {"name": "backup", "emptyDir": {}},
        {
            "name": "tls",
            "secret": {"secretName": secret, "items": [{"key": "ca.pem", "path": "ca.pem"}]},
        },
    ]
    mounts = [{"name": "backup", "mountPath": "/backup"}]
    destination = f":s3:{backup.bucket}/{system}/jetstream/{bus}"
    pod: Mapping[str, Any] = {
        "restartPolicy": "Never",
        "initContainers": [
            {
                "name": "snapshot",
                "image": NATS_BOX_IMAGE,
                "command": ["sh", "-c", snapshot_script(streams)],
                "envFrom": env_from,
                "env": [{"name": "SSL_CERT_FILE", "value": layout.POD_CA_FILE}],
                "volumeMounts": [
                    *mounts,
                    {"name": "tls", "mountPath": layout.POD_CA_FILE.rsplit("/", 1)[0]},
                ],
            }
        ],
        "containers": [
            {
                "name": "upload",
                "image": RCLONE_IMAGE,
                "args": ["copy", "/backup", destination],
                "envFrom": env_from,
                "volumeMounts": mounts,
            }
        ],
        "volumes": volumes,
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name, "namespace": ns, "labels": k8s.labels(system, name)},
        "spec": {
            "schedule": backup.schedule,
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "spec": {
                    "backoffLimit": 2,
                    "template": {
                        "metadata": {"labels": k8s.labels(system, name)},
                        "spec": pod,
                    },
                }
            },
        },
    }


def pgbackrest_conf(
    system: str, backup: Backup, secret_access_key: str, data_dir: str, socket_dir: str
) -> str:
    return render(
        "backup/pgbackrest.conf.j2",
        endpoint=backup.endpoint.removeprefix("https://").removeprefix("http://").rstrip("/"),
        bucket=backup.bucket,
        region=backup.region or "us-east-1",
        access_key_id=backup.accessKeyId,
        secret_access_key=secret_access_key,
        system=system,
        stanza=STANZA,
        data_dir=data_dir,
        port=layout.POSTGRES_PORT,
        socket_dir=socket_dir,
    )


def pgbackrest_service() -> str:
    return render(
        "systemd/pgbackrest-backup.service.j2", binary="/usr/bin/pgbackrest", stanza=STANZA
    )


def pgbackrest_timer(kind: str) -> str:
    calendar = {"full": "Sun *-*-* 02:00:00", "diff": "Mon..Sat *-*-* 02:00:00"}[kind]
    return render("systemd/pgbackrest-backup.timer.j2", kind=kind, calendar=calendar)


def pgbackrest_setup_script() -> str:
    """Create the stanza (idempotent), check that WAL reaches the repository, enable timers."""
    pgbackrest = f"runuser -u postgres -- pgbackrest --stanza={STANZA}"
    return script(
        "systemctl daemon-reload",
        f"{pgbackrest} stanza-create",
        f"{pgbackrest} check",
        "systemctl enable --now deploykit-pgbackrest-full.timer deploykit-pgbackrest-diff.timer",
    )
