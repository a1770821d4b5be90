"""JetStream backups: per bus with streams marked `backup: true`, a CronJob that snapshots
them as the bus's provisioning user and copies the snapshots to the S3 storage. (PostgreSQL's
backups are pgBackRest on the primary, set up with the database.)"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi

from components.metal.inputs import NatsUser
from components.metal.kubernetes import Kubernetes
from components.metal.objects import kubernetes_object, kubernetes_secret
from deploykit.manifest.model import Manifest
from deploykit.manifest.naming import inbox_prefix, provisioning_user
from deploykit.metal import backup, k8s
from deploykit.stack.config import Backup

__all__ = ["JetStreamBackups", "JetStreamBackupsArgs"]


@dataclass(frozen=True)
class JetStreamBackupsArgs:
    manifest: Manifest
    backup: Backup
    namespace: str
    kubernetes: Kubernetes
    nats_urls: Sequence[str]
    users: Mapping[str, NatsUser]
    ca_certificate: pulumi.Output[str]
    secret_access_key: pulumi.Output[str]
    depends_on: Sequence[pulumi.Resource]


class JetStreamBackups(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: JetStreamBackupsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("deploykit:metal:JetStreamBackups", name, {}, opts)
        self.args, self.name = args, name
        for bus, streams in backup.backup_buses(args.manifest).items():
            self._schedule(bus, streams)
        self.register_outputs({"buses": sorted(backup.backup_buses(args.manifest))})

    def _schedule(self, bus: str, streams: list[str]) -> None:
        args, system = self.args, self.args.manifest.system
        user = provisioning_user(bus)
        job = f"jetstream-backup-{bus}"
        env = pulumi.Output.all(args.users[user].password, args.secret_access_key).apply(
            lambda v: {
                "NATS_URL": ",".join(args.nats_urls),
                "NATS_USER": user,
                "NATS_PASSWORD": v[0],
                "NATS_INBOX_PREFIX": inbox_prefix(user),
                **backup.backup_env(args.backup, v[1]),
            }
        )
        secret_obj = pulumi.Output.all(env, args.ca_certificate).apply(
            lambda v: k8s.app_secret(args.namespace, system, job, v[0], v[1])
        )
        opts = pulumi.ResourceOptions(
            parent=self, provider=args.kubernetes.provider, depends_on=list(args.depends_on)
        )
        secret = kubernetes_secret(f"{self.name}-{bus}-secret", secret_obj, opts)
        cronjob = backup.jetstream_backup_cronjob(
            args.namespace, system, bus, streams, args.backup, k8s.secret_name(job)
        )
        kubernetes_object(
            f"{self.name}-{bus}-cronjob",
            cronjob,
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[secret])),
        )
