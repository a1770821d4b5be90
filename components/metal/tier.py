"""`MetalTier`: the whole `metal` stack, from the manifest and `stacks/Pulumi.metal.yaml`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi

from components.metal.apps import Apps, AppsArgs
from components.metal.auth import compiled_auth, reconciled_jetstream
from components.metal.backup import JetStreamBackups, JetStreamBackupsArgs
from components.metal.database import Database, DatabaseArgs
from components.metal.inputs import JetStreamContext, JetStreamHook, MetalSecrets, NatsAuth
from components.metal.kubernetes import Kubernetes
from components.metal.monitoring import Monitoring, MonitoringArgs
from components.metal.nats import NatsCluster, NatsClusterArgs
from components.metal.remote import Hosts
from components.metal.services import SystemdApps, SystemdAppsArgs
from components.metal.tls import Certificates
from deploykit.errors import ConfigError
from deploykit.manifest.model import Manifest
from deploykit.manifest.naming import backup_user, provisioning_user
from deploykit.metal.backup import backup_buses
from deploykit.metal.fetch import read_index
from deploykit.metal.outputs import nats_urls, stack_outputs
from deploykit.metal.sources import Sources
from deploykit.stack.config import MetalConfig, check_metal_manifest
from deploykit.stack.outputs import StackOutputs

__all__ = ["MetalTier"]


class MetalTier(pulumi.ComponentResource):
    """NATS and the database on the hosts (systemd, over SSH), the apps on Kubernetes or, with
    `apps: systemd`, as systemd units on the `apps` hosts, Prometheus and Grafana on the
    monitoring host; exports the stack outputs shape.

    `auth`: the permission compiler's accounts block and users (required).
    `jetstream`: applies the JetStream definitions; called once the NATS cluster passed its
    health gates, its resource is then awaited by the apps and the backups.
    `secrets`: defaults to the stack's secret config keys (see `MetalSecrets.from_config`).
    """

    outputs: pulumi.Output[dict[str, Any]]

    def __init__(
        self,
        name: str,
        manifest: Manifest,
        settings: MetalConfig,
        auth: NatsAuth | None = None,
        *,
        jetstream: JetStreamHook | None = None,
        secrets: MetalSecrets | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        check_metal_manifest(manifest, settings)
        if auth is not None:
            _checked(manifest, auth)
        secrets = secrets or MetalSecrets.from_config(settings)
        super().__init__("deploykit:metal:MetalTier", name, {}, opts)
        auth = auth or compiled_auth(manifest, name, self)
        self.manifest, self.settings, self.auth, self.secrets = manifest, settings, auth, secrets
        self.name = name
        self.runner = Hosts(secrets.ssh_private_key, settings.sshKnownHosts)
        self.namespace = f"{manifest.system}-{pulumi.get_stack()}"
        self.sources = _sources(settings)
        self.certificates = self._certificates()
        self.nats = self._nats()
        self.streams = self._jetstream(jetstream)
        self.database = self._database()
        self.kubernetes: Kubernetes | None = None
        self.apps: Apps | None = None
        if settings.apps == "kubernetes":
            self.kubernetes = self._kubernetes()
            self.apps = self._apps(self.kubernetes)
            self._backups(self.apps.namespace, kubernetes=self.kubernetes)
        else:
            apps = self._systemd_apps()
            self._backups(apps.code[self.settings.backup_host().name])
        self._monitoring()
        self.outputs = self._export_outputs()
        self.register_outputs({"outputs": self.outputs})

    def _opts(self, *depends_on: pulumi.Resource) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, depends_on=list(depends_on))

    def _certificates(self) -> Certificates:
        return Certificates(
            f"{self.name}-tls",
            self.manifest.system,
            self.settings.hosts,
            provided=self.secrets.nats_tls,
            opts=self._opts(),
        )

    def _nats(self) -> NatsCluster:
        args = NatsClusterArgs(
            system=self.manifest.system,
            hosts=self.settings.hosts_with("nats"),
            settings=self.settings.nats,
            accounts=self.auth.accounts,
            system_account=self.auth.system_account,
            certificates=self.certificates,
            runner=self.runner,
            destroy_data=self.settings.destroyData,
            sources=self.sources,
        )
        return NatsCluster(f"{self.name}-nats", args, self._opts())

    def _jetstream(self, hook: JetStreamHook | None) -> list[pulumi.Resource]:
        """The JetStream definitions, by the reconciler's resources, after the health gates."""
        hook = hook or reconciled_jetstream(
            self.manifest,
            f"{self.name}-jetstream",
            len(self.settings.hosts_with("nats")),
            self.settings.destroyData,
        )
        context = JetStreamContext(
            urls=nats_urls(self.settings, public=True),
            provisioning={
                bus: self.auth.users[provisioning_user(bus)]
                for bus in self.manifest.buses
                if provisioning_user(bus) in self.auth.users
            },
            ca_certificate=self.certificates.ca,
            opts=self._opts(*self.nats.gates),
        )
        created = hook(context)
        return [created] if created is not None else []

    def _database(self) -> Database:
        clients = [
            h.private
            for h in self.settings.hosts
            if {"kubernetes-server", "kubernetes-agent", "apps"} & set(h.roles)
        ]
        args = DatabaseArgs(
            manifest=self.manifest,
            settings=self.settings,
            clients=clients,
            certificates=self.certificates,
            runner=self.runner,
            backup_secret_access_key=self.secrets.backup_secret_access_key,
            sources=self.sources,
        )
        return Database(f"{self.name}-db", args, self._opts())

    def _kubernetes(self) -> Kubernetes:
        return Kubernetes(
            f"{self.name}-k8s",
            self.settings,
            self.runner,
            existing_kubeconfig=self.secrets.kubeconfig,
            opts=self._opts(),
        )

    def _apps(self, kubernetes: Kubernetes) -> Apps:
        args = AppsArgs(
            manifest=self.manifest,
            settings=self.settings,
            namespace=self.namespace,
            kubernetes=kubernetes,
            nats_urls=nats_urls(self.settings, public=False),
            users=self.auth.users,
            database_urls=self.database.urls,
            ca_certificate=self.certificates.ca,
            depends_on=[*self.nats.gates, *self.streams, self.database.ready],
            archive_url=self.database.archive_url,
        )
        return Apps(f"{self.name}-apps", args, self._opts())

    def _systemd_apps(self) -> SystemdApps:
        args = SystemdAppsArgs(
            manifest=self.manifest,
            settings=self.settings,
            runner=self.runner,
            nats_urls=nats_urls(self.settings, public=False),
            users=self.auth.users,
            database_urls=self.database.urls,
            ca_certificate=self.certificates.ca,
            depends_on=[*self.nats.gates, *self.streams, self.database.ready],
            archive_url=self.database.archive_url,
            project=Path.cwd(),
            with_cli=self._scheduled_backups(),
        )
        return SystemdApps(f"{self.name}-apps", args, self._opts())

    def _scheduled_backups(self) -> bool:
        """JetStream snapshots on a schedule: streams to back up, and somewhere lasting to put
        them (a host's folder with systemd apps; with Kubernetes, only the bucket)."""
        backup = self.settings.backup
        if not backup.enabled or not backup_buses(self.manifest):
            return False
        if self.settings.apps == "kubernetes" and not backup.s3:
            pulumi.log.warn(
                "deploykit:metal.backup: with apps: kubernetes the scheduled JetStream backups "
                "need backup.bucket (a pod keeps no disk); none are scheduled. Set the bucket, "
                "or run `deploykit backup --stack NAME` from a machine with a disk",
                self,
            )
            return False
        return True

    def _backups(self, after: pulumi.Resource, kubernetes: Kubernetes | None = None) -> None:
        if not self._scheduled_backups():
            return
        args = JetStreamBackupsArgs(
            manifest=self.manifest,
            settings=self.settings,
            users=self.auth.users,
            ca_certificate=self.certificates.ca,
            secret_access_key=self.secrets.backup_secret_access_key,
            depends_on=[after, *self.nats.gates, *self.streams],
            runner=self.runner,
            sources=self.sources,
            kubernetes=kubernetes,
            namespace=self.namespace,
        )
        JetStreamBackups(f"{self.name}-backup", args, self._opts())

    def _monitoring(self) -> None:
        args = MonitoringArgs(
            manifest=self.manifest,
            settings=self.settings,
            runner=self.runner,
            kubernetes=self.kubernetes,
            namespace=self.namespace,
            prometheus_token=self.apps.prometheus_token if self.apps else None,
            grafana_admin_password=self.secrets.grafana_admin_password,
            depends_on=[self.nats.ready, self.database.ready],
            sources=self.sources,
        )
        Monitoring(f"{self.name}-monitoring", args, self._opts())

    def _export_outputs(self) -> pulumi.Output[dict[str, Any]]:
        """The stack outputs shape (checked against `StackOutputs`), exported key by key."""
        users = self.auth.users
        names = list(users)
        database = self.database
        keys = list(database.urls)
        values = pulumi.Output.all(
            pulumi.Output.all(*(users[n].password for n in names)),
            database.admin_url,
            pulumi.Output.all(*(database.urls[k] for k in keys)),
            pulumi.Output.all(*database.replica_urls),
            database.archive_url,
        )

        def document(v: list[Any]) -> dict[str, Any]:
            passwords, admin_url, urls, replica_urls, archive_url = v
            credentials = {
                n: {
                    "account": users[n].account,
                    "role": users[n].role,
                    "service": users[n].service,
                    "password": p,
                }
                for n, p in zip(names, passwords, strict=True)
            }
            db = {
                "engine": self.settings.database.engine,
                "admin_url": admin_url,
                "urls": dict(zip(keys, urls, strict=True)),
                "replica_urls": list(replica_urls),
                "archive_url": archive_url,
            }
            data = stack_outputs(self.manifest, self.settings, credentials, db)
            return StackOutputs.model_validate(data).model_dump(mode="json")

        outputs = pulumi.Output.secret(values.apply(document))
        for key in StackOutputs.model_fields:
            pulumi.export(key, outputs.apply(lambda o, k=key: o[k]))
        return outputs


def _sources(settings: MetalConfig) -> Sources:
    """The stack's artifacts (`deploykit:metal.artifacts`), their index read and checked."""
    artifacts = settings.artifacts
    if artifacts.source == "internet":
        return Sources()
    where = artifacts.files or artifacts.mirror
    folder = Path.cwd() / artifacts.files if artifacts.files else None
    index = read_index(where, Path.cwd())
    return Sources.of(settings, index, folder, "deploykit:metal.artifacts")


def _checked(manifest: Manifest, auth: NatsAuth) -> NatsAuth:
    """Every service and every backed-up bus needs its NATS user in `auth`."""
    needed = [*manifest.services, *(backup_user(b) for b in backup_buses(manifest))]
    missing = [user for user in needed if user not in auth.users]
    if missing:
        raise ConfigError(f"NatsAuth has no user(s) {', '.join(missing)}")
    return auth
