"""JetStream backups on a schedule: `deploykit backup` as the buses' backup users, by a systemd
timer on the backup host (`apps: systemd`) or a Kubernetes CronJob (`apps: kubernetes`, with a
bucket). `deploykit.metal.backup` decides every file, unit and object. (PostgreSQL's backups
are pgBackRest on the primary, set up with the database.)"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import yaml

from components.metal.inputs import NatsUser
from components.metal.kubernetes import Kubernetes
from components.metal.objects import kubernetes_object, kubernetes_secret
from components.metal.remote import Hosts
from deploykit.manifest.model import Manifest
from deploykit.manifest.naming import backup_user
from deploykit.metal import backup
from deploykit.metal.services import environment_file
from deploykit.metal.shell import ensure_packages, recording_packages, remove_packages, script
from deploykit.metal.sources import Sources
from deploykit.stack.config import MetalConfig

__all__ = ["JetStreamBackups", "JetStreamBackupsArgs"]

PACKAGES_RECORD = "backup"


@dataclass(frozen=True)
class JetStreamBackupsArgs:
    manifest: Manifest
    settings: MetalConfig
    users: Mapping[str, NatsUser]
    ca_certificate: pulumi.Output[str]
    secret_access_key: pulumi.Output[str] | None
    depends_on: Sequence[pulumi.Resource]
    runner: Hosts | None = None  # apps: systemd
    sources: Sources = field(default_factory=Sources)
    kubernetes: Kubernetes | None = None  # apps: kubernetes
    namespace: str = ""


class JetStreamBackups(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: JetStreamBackupsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("deploykit:metal:JetStreamBackups", name, {}, opts)
        self.args, self.name = args, name
        files = self._config_files()
        if args.kubernetes is not None:
            self._cronjob(files)
        else:
            self._timer(files)
        self.register_outputs({"buses": sorted(backup.backup_buses(args.manifest))})

    def _config_files(self) -> pulumi.Output[dict[str, str]]:
        """`backup.CONFIG_FILES` (secret: the outputs hold the backup users' passwords)."""
        args = self.args
        users = [backup_user(bus) for bus in backup.backup_buses(args.manifest)]
        manifest_text = yaml.safe_dump(
            args.manifest.model_dump(mode="json", by_alias=True, exclude_defaults=True),
            sort_keys=False,
        )
        return pulumi.Output.secret(
            pulumi.Output.all(args.ca_certificate, *(args.users[u].password for u in users)).apply(
                lambda v: {
                    "outputs.json": backup.backup_outputs(
                        args.manifest,
                        args.settings,
                        {
                            u: {"account": args.users[u].account, "role": "backup", "password": p}
                            for u, p in zip(users, v[1:], strict=True)
                        },
                    ),
                    "deploykit.yaml": manifest_text,
                    "ca.pem": v[0],
                }
            )
        )

    def _s3_env(self) -> pulumi.Output[dict[str, str]]:
        key = self.args.secret_access_key
        if not self.args.settings.backup.s3 or key is None:
            return pulumi.Output.from_input({})
        return key.apply(lambda k: backup.rclone_env(self.args.settings.backup, k))

    def _timer(self, files: pulumi.Output[dict[str, str]]) -> None:
        """The files, the service and the timer on the backup host; rclone with a bucket."""
        args = self.args
        assert args.runner is not None
        settings, system = args.settings, args.manifest.system
        host = settings.backup_host()
        stdin = pulumi.Output.all(files, self._s3_env()).apply(
            lambda v: backup.config_stdin(
                {
                    **v[0],
                    **({backup.S3_ENV: environment_file(v[1])} if v[1] else {}),
                }
            )
        )
        install = ""
        if settings.backup.s3:
            offline = args.sources.offline
            install = (
                recording_packages(PACKAGES_RECORD, args.sources.install("rclone"))
                if offline
                else ensure_packages(["rclone"], record=PACKAGES_RECORD)
            )
        args.runner.run(
            f"{self.name}-{host.name}-timer",
            host,
            script(install, backup.jetstream_backup_script(system, settings.backup)),
            self,
            delete=script(
                backup.remove_jetstream_backup_script(settings.backup, settings.destroyData),
                remove_packages(PACKAGES_RECORD) if settings.backup.s3 else "",
            ),
            stdin=stdin,
            uploads=args.sources.uploads("rclone") if settings.backup.s3 else [],
            depends_on=list(args.depends_on),
        )

    def _cronjob(self, files: pulumi.Output[dict[str, str]]) -> None:
        args = self.args
        assert args.kubernetes is not None
        system, settings = args.manifest.system, args.settings.backup
        image = backup.kit_image(args.manifest, settings)
        secret_obj = pulumi.Output.all(files, self._s3_env()).apply(
            lambda v: backup.jetstream_backup_secret(args.namespace, system, v[0], v[1])
        )
        opts = pulumi.ResourceOptions(
            parent=self, provider=args.kubernetes.provider, depends_on=list(args.depends_on)
        )
        secret = kubernetes_secret(f"{self.name}-secret", secret_obj, opts)
        kubernetes_object(
            f"{self.name}-cronjob",
            backup.jetstream_backup_cronjob(args.namespace, system, settings, image),
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[secret])),
        )
