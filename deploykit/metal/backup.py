"""Scheduled backups on the metal tier, into a folder on the hosts and, with a bucket, to the
stack's S3-compatible storage as well (stack setting `backup`, deploykit.stack.config.Backup).

- JetStream: `deploykit backup` of the streams marked `backup: true`, as each bus's backup
  user (it can read streams and write none), on the stack's schedule (cron, UTC):
  - `apps: systemd`: `deploykit-backup.timer` and a oneshot service on the backup host (the
    first apps host unless `backup.host` names another), running `python3 -m deploykit backup`
    from the apps bundle into `<folder>/jetstream`, keeping the newest `keep` snapshots of each
    stream, then `rclone copy` to `<bucket>/<system>/jetstream` when there is a bucket;
  - `apps: kubernetes`: a CronJob running the same command in `backup.image` (an image with
    deploykit installed; the services' images have it), then rclone to the bucket (a pod has
    no lasting disk, so this needs the bucket).
  Both read the same three files: an outputs document holding only the backup users, the
  manifest, and the stack's CA.
- PostgreSQL: pgBackRest on the primary: the WAL archive and base backups (full on Sundays,
  differential the other days, 02:00 UTC) into repository 1, `<folder>/postgresql` on the
  primary, and repository 2 in the bucket when there is one; `keepFull` full backups each.

Pure. On-call restore steps are in docs/metal.md ("Restore").
"""

from __future__ import annotations

import base64
import json
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from deploykit.configs.templates import render
from deploykit.errors import ConfigError
from deploykit.manifest.model import Manifest
from deploykit.metal import k8s, layout
from deploykit.metal.cron import on_calendar
from deploykit.metal.outputs import nats_urls, stack_outputs
from deploykit.metal.postgres import PgPaths
from deploykit.metal.services import CODE_DIR, PYTHON, SANDBOX
from deploykit.metal.shell import (
    put_file,
    q,
    remove_paths,
    remove_units,
    script,
    system_user,
)
from deploykit.stack.config import Backup, MetalConfig

__all__ = [
    "BACKUP_USER",
    "CONFIG_DIR",
    "CONFIG_FILES",
    "PGBACKREST_CONF",
    "RCLONE_IMAGE",
    "S3_ENV",
    "SERVICE",
    "STANZA",
    "TIMER",
    "backup_buses",
    "backup_command",
    "backup_outputs",
    "config_stdin",
    "jetstream_backup_cronjob",
    "jetstream_backup_script",
    "jetstream_backup_secret",
    "jetstream_backup_service",
    "jetstream_backup_timer",
    "jetstream_folder",
    "kit_image",
    "pgbackrest_conf",
    "pgbackrest_restore_check_script",
    "pgbackrest_service",
    "pgbackrest_setup_script",
    "pgbackrest_timer",
    "postgres_folder",
    "rclone_env",
    "remove_jetstream_backup_script",
    "remove_pgbackrest_script",
]

RCLONE_IMAGE = "rclone/rclone:1.68.2"
PGBACKREST_CONF = "/etc/pgbackrest/pgbackrest.conf"
STANZA = "deploykit"
BACKUP_USER = "deploykit-backup"  # the system user the scheduled snapshots run as
CONFIG_DIR = "/etc/deploykit/backup"
# what the snapshots read: the backup users' outputs, the manifest, the CA
CONFIG_FILES = ("outputs.json", "deploykit.yaml", "ca.pem")
S3_ENV = "s3.env"  # rclone's S3 settings (its secret key inside), with a bucket only
SERVICE = "deploykit-backup.service"
TIMER = "deploykit-backup.timer"
RCLONE = "/usr/bin/rclone"
PGBACKREST = "/usr/bin/pgbackrest"


def backup_buses(manifest: Manifest) -> dict[str, list[str]]:
    """Bus → its streams marked for backup."""
    buses: dict[str, list[str]] = {}
    for name, stream in manifest.streams.items():
        if stream.backup:
            buses.setdefault(stream.bus, []).append(name)
    return buses


def kit_image(manifest: Manifest, backup: Backup) -> str:
    """The image the kit's own pods run (the backup CronJob, the archivers): `backup.image`,
    else the first service's (the services' images have deploykit)."""
    image = backup.image or next(
        (s.run.image for s in manifest.services.values() if s.run.image), ""
    )
    if not image:
        raise ConfigError(
            "deploykit:metal.backup.image: no service names a run.image; set the image with "
            "deploykit installed that runs the scheduled backups and the SQL copy's archivers"
        )
    return image


def jetstream_folder(backup: Backup) -> str:
    return f"{backup.folder}/jetstream"


def postgres_folder(backup: Backup) -> str:
    return f"{backup.folder}/postgresql"


def backup_outputs(
    manifest: Manifest, settings: MetalConfig, users: Mapping[str, Mapping[str, Any]]
) -> str:
    """The outputs document the scheduled snapshots read: the NATS servers' private addresses
    and the backup users (`users`: name → {account, role, password}), nothing else."""
    document = stack_outputs(manifest, settings, users, None)
    document["nats"]["urls"] = nats_urls(settings, public=False)
    document["services"] = []
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def backup_command(to: str, keep: int | None, config_dir: str = CONFIG_DIR) -> list[str]:
    """`deploykit backup` as the schedule runs it (after the Python interpreter)."""
    return [
        "-m",
        "deploykit",
        "backup",
        "--outputs",
        f"{config_dir}/outputs.json",
        "--file",
        f"{config_dir}/deploykit.yaml",
        "--to",
        to,
        *(["--keep", str(keep)] if keep else []),
        "--json",
    ]


def _rclone_copy(source: str, backup: Backup, system: str) -> list[str]:
    """Snapshots finished only (never a `.partial` folder); nothing is deleted in the bucket:
    its own lifecycle rules expire old copies."""
    return ["copy", "--exclude", "*.partial/**", source, f":s3:{backup.bucket}/{system}/jetstream"]


def rclone_env(backup: Backup, secret_access_key: str) -> dict[str, str]:
    """rclone's S3 remote, configured entirely from the environment."""
    return {
        "RCLONE_S3_PROVIDER": "Other",
        "RCLONE_S3_ENDPOINT": backup.endpoint,
        "RCLONE_S3_REGION": backup.region,
        "RCLONE_S3_ACCESS_KEY_ID": backup.accessKeyId,
        "RCLONE_S3_SECRET_ACCESS_KEY": secret_access_key,
    }


# apps: systemd ---------------------------------------------------------------------------------


def jetstream_backup_service(system: str, backup: Backup) -> str:
    folder = jetstream_folder(backup)
    upload = [f"ExecStart={RCLONE} {shlex.join(_rclone_copy(folder, backup, system))}"]
    return (
        "# Rendered by deploykit (deploykit/metal/backup.py); do not edit.\n"
        "[Unit]\n"
        f"Description={system}: back up the JetStream streams marked backup: true (deploykit)\n"
        "After=network-online.target\n"
        "Wants=network-online.target\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        f"User={BACKUP_USER}\n"
        f"Group={BACKUP_USER}\n"
        f"WorkingDirectory={CODE_DIR}/current\n"
        f"Environment=PYTHONPATH={CODE_DIR}/current PYTHONUNBUFFERED=1 "
        f"SSL_CERT_FILE={CONFIG_DIR}/ca.pem\n"
        + (f"EnvironmentFile={CONFIG_DIR}/{S3_ENV}\n" if backup.s3 else "")
        + f"ExecStart={PYTHON} {shlex.join(backup_command(folder, backup.keep))}\n"
        + ("\n".join(upload) + "\n" if backup.s3 else "")
        + "TimeoutStartSec=6h\n"
        + SANDBOX
        + f"ReadWritePaths={folder}\n"
    )


def jetstream_backup_timer(system: str, backup: Backup) -> str:
    return (
        "# Rendered by deploykit (deploykit/metal/backup.py); do not edit.\n"
        "[Unit]\n"
        f"Description={system}: scheduled JetStream backups (deploykit)\n"
        "\n"
        "[Timer]\n"
        f"OnCalendar={on_calendar(backup.schedule)}\n"
        "Persistent=true\n"
        f"Unit={SERVICE}\n"
        "\n"
        "[Install]\n"
        "WantedBy=timers.target\n"
    )


def config_stdin(files: Mapping[str, str]) -> str:
    """The step's stdin: one line per file of `CONFIG_DIR`, `NAME BASE64` (secrets stay off the
    command line; `jetstream_backup_script` writes them 0640 for the backup user)."""
    return "".join(
        f"{name} {base64.b64encode(text.encode()).decode()}\n" for name, text in files.items()
    )


def jetstream_backup_script(system: str, backup: Backup) -> str:
    """On the backup host: the system user, its folders, the files from stdin
    (`config_stdin`), the service and the timer (enabled). Runs nothing now: the timer does."""
    folder = jetstream_folder(backup)
    units = {
        SERVICE: jetstream_backup_service(system, backup),
        TIMER: jetstream_backup_timer(system, backup),
    }
    return script(
        system_user(BACKUP_USER, folder),
        f"install -d -m 0755 {q(backup.folder)}",
        f"install -d -o {BACKUP_USER} -g {BACKUP_USER} -m 0700 {q(folder)}",
        f"install -d -o root -g {BACKUP_USER} -m 0750 {CONFIG_DIR}",
        "while read -r name data; do",
        f'  printf %s "$data" | base64 -d > "{CONFIG_DIR}/.$name.new"',
        f'  chgrp {BACKUP_USER} "{CONFIG_DIR}/.$name.new" && chmod 0640 "{CONFIG_DIR}/.$name.new"',
        f'  mv "{CONFIG_DIR}/.$name.new" "{CONFIG_DIR}/$name"',
        "done",
        *(
            f"(\n{put_file(f'/etc/systemd/system/{name}')}\n) <<'UNIT'\n{text}UNIT"
            for name, text in units.items()
        ),
        "systemctl daemon-reload",
        f"systemctl enable --now --quiet {TIMER}",
    )


def remove_jetstream_backup_script(backup: Backup, destroy_data: bool) -> str:
    """The timer, the service, the files and the user; the snapshots only with destroyData."""
    return script(
        remove_units(TIMER, SERVICE),
        remove_paths(CONFIG_DIR, *((jetstream_folder(backup),) if destroy_data else ())),
        _remove_empty(backup.folder) if destroy_data else "",
        f"userdel {BACKUP_USER} >/dev/null 2>&1 || true",
    )


def _remove_empty(folder: str) -> str:
    """The backup folder goes when nothing else is in it (the other repository may be)."""
    return f"rmdir {q(folder)} 2>/dev/null || true"


# apps: kubernetes ------------------------------------------------------------------------------


def jetstream_backup_secret(
    ns: str, system: str, files: Mapping[str, str], env: Mapping[str, str]
) -> dict[str, Any]:
    """The CronJob's Secret: the files it mounts (`CONFIG_FILES`) and rclone's S3 settings."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": k8s.secret_name("jetstream-backup"),
            "namespace": ns,
            "labels": k8s.labels(system, "jetstream-backup"),
        },
        "type": "Opaque",
        "stringData": {**files, **env},
    }


def jetstream_backup_cronjob(ns: str, system: str, backup: Backup, image: str) -> dict[str, Any]:
    """`deploykit backup` in `image` into an emptyDir, then rclone copies it to the bucket
    (each run's pod reads the Secret as it is then: no checksum to roll)."""
    name = "jetstream-backup"
    secret = k8s.secret_name(name)
    env_names = sorted(rclone_env(backup, ""))
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "fsGroup": 65532},
        "initContainers": [
            {
                "name": "snapshot",
                "image": image,
                "command": ["python", *backup_command("/backup/jetstream", None)],
                "env": [{"name": "SSL_CERT_FILE", "value": f"{CONFIG_DIR}/ca.pem"}],
                "volumeMounts": [
                    {"name": "backup", "mountPath": "/backup"},
                    {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
                ],
            }
        ],
        "containers": [
            {
                "name": "upload",
                "image": RCLONE_IMAGE,
                "args": _rclone_copy("/backup/jetstream", backup, system),
                "env": [
                    {"name": key, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
                    for key in env_names
                ],
                "volumeMounts": [{"name": "backup", "mountPath": "/backup"}],
            }
        ],
        "volumes": [
            {"name": "backup", "emptyDir": {}},
            {
                "name": "config",
                "secret": {
                    "secretName": secret,
                    "items": [{"key": f, "path": f} for f in CONFIG_FILES],
                    "defaultMode": 0o440,
                },
            },
        ],
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


# PostgreSQL ------------------------------------------------------------------------------------


def pgbackrest_conf(
    system: str,
    backup: Backup,
    secret_access_key: str | None,
    data_dir: str,
    socket_dir: str,
) -> str:
    """Repository 1 in the folder; repository 2 in the bucket when there is one."""
    s3 = None
    if backup.s3:
        assert secret_access_key is not None  # required by MetalSecrets with a bucket
        s3 = {
            "endpoint": backup.endpoint.removeprefix("https://")
            .removeprefix("http://")
            .rstrip("/"),
            "bucket": backup.bucket,
            "region": backup.region or "us-east-1",
            "access_key_id": backup.accessKeyId,
            "secret_access_key": secret_access_key,
        }
    return render(
        "backup/pgbackrest.conf.j2",
        folder=postgres_folder(backup),
        s3=s3,
        keep_full=backup.keepFull,
        system=system,
        stanza=STANZA,
        data_dir=data_dir,
        port=layout.POSTGRES_PORT,
        socket_dir=socket_dir,
    )


def _repositories(backup: Backup) -> list[int]:
    return [1, 2] if backup.s3 else [1]


def pgbackrest_service(backup: Backup) -> str:
    return render(
        "systemd/pgbackrest-backup.service.j2",
        binary=PGBACKREST,
        stanza=STANZA,
        repositories=_repositories(backup),
    )


def pgbackrest_timer(kind: str) -> str:
    calendar = {"full": "Sun *-*-* 02:00:00 UTC", "diff": "Mon..Sat *-*-* 02:00:00 UTC"}[kind]
    return render("systemd/pgbackrest-backup.timer.j2", kind=kind, calendar=calendar)


def pgbackrest_setup_script(backup: Backup) -> str:
    """The repository folder, the stanza (idempotent), a check that WAL reaches every
    repository, the timers enabled."""
    pgbackrest = f"runuser -u postgres -- {PGBACKREST} --stanza={STANZA}"
    return script(
        f"install -d -m 0755 {q(backup.folder)}",
        f"install -d -o postgres -g postgres -m 0750 {q(postgres_folder(backup))}",
        "systemctl daemon-reload",
        f"{pgbackrest} stanza-create",
        f"{pgbackrest} check",
        "systemctl enable --now deploykit-pgbackrest-full.timer deploykit-pgbackrest-diff.timer",
    )


def remove_pgbackrest_script(backup: Backup, destroy_data: bool) -> str:
    """Its units and configuration; the repository folder only with destroyData."""
    return script(
        remove_units(
            "deploykit-pgbackrest-full.timer",
            "deploykit-pgbackrest-diff.timer",
            "deploykit-pgbackrest@.service",
        ),
        remove_paths(PGBACKREST_CONF, *((postgres_folder(backup),) if destroy_data else ())),
        _remove_empty(PGBACKREST_CONF.rsplit("/", 1)[0]),
        _remove_empty(backup.folder) if destroy_data else "",
    )


def pgbackrest_restore_check_script(
    paths: PgPaths, scratch: str, port: int, databases: Sequence[str]
) -> str:
    """The restore drill for PostgreSQL, on the primary: the latest backup (and the archived
    WAL after it) restored into `scratch`, started on `port` (loopback only, archiving off, so
    it never writes to the repository), asked for the manifest's `databases`, stopped, removed.
    Prints the databases it found; fails if one is missing."""
    pg = "runuser -u postgres --"
    socket = f"{scratch}.sock"
    names = ", ".join(f"'{name}'" for name in databases)
    query = f"SELECT count(*) FROM pg_database WHERE datname IN ({names})"
    start = (
        f"{pg} {paths.bindir}/pg_ctl -D {q(scratch)} -w -t 300 -l {q(scratch)}.log "
        f"-o {q(f'-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={socket} -c archive_mode=off -c shared_buffers=64MB')} start"
    )
    return script(
        f"cleanup() {{ {pg} {paths.bindir}/pg_ctl -D {q(scratch)} -m fast stop >/dev/null 2>&1 || true; "
        f"rm -rf {q(scratch)} {q(socket)} {q(scratch)}.log; }}",
        "trap cleanup EXIT",
        "cleanup",
        f"install -d -o postgres -g postgres -m 0700 {q(scratch)} {q(socket)}",
        f"{pg} {PGBACKREST} --stanza={STANZA} --pg1-path={q(scratch)} --archive-mode=off "
        "--type=default restore",
        start,
        f'found="$({pg} {paths.bindir}/psql -h {socket} -p {port} -d postgres -Atc {q(query)})"',
        f'echo "restored databases: $found of {len(databases)}"',
        f'[ "$found" = {len(databases)} ]',
    )
