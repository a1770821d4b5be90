"""The small tier: Synadia Cloud, Neon, Railway, Vercel and Grafana Cloud from one manifest.

    buses ──► JetStream definitions ─┐
      │                              ├──► services, archivers, backup job (Railway) ──┐
      │        database (Neon) ──────┘                                                 ├──► stack outputs
      ├─────────────────────────────────► frontends (Vercel) ──────────────────────────┘
    metrics (Grafana Cloud) ─► telemetry variables of every service

The JetStream step is a hook (`JetStreamStep`) so that the reconciler's component plugs in here;
it is given the buses' connection and waits for every account and user.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import pulumi

from components.jetstream import JetStreamDefinitions
from components.small.grafana import Metrics
from components.small.neon import Database
from components.small.railway import Archivers, BackupJob, Services
from components.small.synadia import Nats, NatsConnection
from components.small.vercel import Frontends
from deploykit.errors import ConfigError
from deploykit.manifest.model import Manifest, Role, Service
from deploykit.manifest.naming import archiver_user
from deploykit.manifest.wiring import archiver_wiring, wiring_for
from deploykit.small.accounts import default_authorization
from deploykit.small.backup import backup_users, job_env, job_outputs
from deploykit.small.outputs import needed_secrets, stack_outputs
from deploykit.small.services import (
    archiver_image,
    deployed_services,
    frontend_services,
    railway_frontends,
    service_env,
)
from deploykit.stack.config import SmallConfig
from deploykit.stack.outputs import StackOutputs

__all__ = ["JetStreamStep", "SmallTier", "default_jetstream"]

SECRET_OUTPUTS = frozenset({"nats", "database"})


class JetStreamStep(Protocol):
    """Applies the JetStream definitions of the manifest to the buses; returns what to wait on.

    `nats.credentials["provisioning-<bus>"]` holds the creds of the user allowed to manage
    JetStream on that bus; `nats.cluster_size` is the replica count the plan allows. `opts`
    carries the parent and the dependency on every Synadia account and user.
    """

    def __call__(
        self, name: str, manifest: Manifest, nats: NatsConnection, opts: pulumi.ResourceOptions
    ) -> pulumi.Resource: ...


def default_jetstream(
    name: str, manifest: Manifest, nats: NatsConnection, opts: pulumi.ResourceOptions
) -> pulumi.Resource:
    """The reconciler's own Pulumi resources, each bus as its `provisioning-<bus>` user."""
    return JetStreamDefinitions(
        name, manifest, nats.urls, nats.cluster_size, nats.credentials, opts=opts
    )


class SmallTier(pulumi.ComponentResource):
    """deploykit:small:SmallTier, the whole system on the small tier, exporting the stack outputs."""

    def __init__(
        self,
        name: str,
        manifest: Manifest,
        settings: SmallConfig,
        *,
        authorization: Mapping[str, Any] | None = None,
        jetstream: JetStreamStep | None = None,
        opts: pulumi.ResourceOptions | None = None,
        root: Path | None = None,
    ) -> None:
        super().__init__("deploykit:small:SmallTier", name, {}, opts)
        self._name = name
        self._manifest = manifest
        self._settings = settings
        self._root = root or Path.cwd()  # the project directory frontends' files are under
        self.check_tokens()
        self.nats = self.create_buses(authorization)
        self.definitions = self.apply_jetstream(jetstream)
        self.database = self.create_database()
        self.metrics = self.create_metrics()
        self.services = self.run_services()
        self.frontends = self.publish_frontends()
        self.outputs = self.describe_outputs()
        self.export_outputs()
        self.register_outputs({"outputs": self.outputs})

    def _opts(self, **kwargs: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **kwargs)

    def check_tokens(self) -> None:
        """Every API token the manifest needs is set, or one message lists how to set them."""
        needed = needed_secrets(self._manifest, self._settings)
        missing = [
            f"  pulumi config set --secret {space}:{key} <{what}>"
            for space, key, what in needed
            if pulumi.Config(space).get_secret(key) is None
        ]
        if missing:
            raise ConfigError(
                "the small stack needs these secrets (docs/small.md):\n" + "\n".join(missing)
            )

    def create_buses(self, authorization: Mapping[str, Any] | None) -> Nats:
        if authorization is None and not self._settings.nats.existingCredentials:
            authorization = default_authorization(self._manifest)
        return Nats(
            f"{self._name}-nats", self._manifest, self._settings.nats, authorization, self._opts()
        )

    def apply_jetstream(self, jetstream: JetStreamStep | None) -> pulumi.Resource:
        step = jetstream or default_jetstream
        opts = self._opts(depends_on=self.nats.resources)
        return step(f"{self._name}-jetstream", self._manifest, self.nats.connection, opts)

    def create_database(self) -> Database | None:
        if not self._manifest.databases and not self._manifest.sql_archived():
            return None
        return Database(f"{self._name}-database", self._manifest, self._settings.neon, self._opts())

    def create_metrics(self) -> Metrics | None:
        if not self._settings.grafana.enabled:
            return None
        return Metrics(
            f"{self._name}-metrics", self._manifest, self._settings.grafana, self._opts()
        )

    def _env(self, name: str, *, with_port: bool) -> dict[str, pulumi.Input[str]]:
        urls = self.database.urls if self.database else {}
        telemetry = self.metrics.telemetry if self.metrics else None
        return service_env(
            self._manifest.system,
            name,
            self._manifest.services[name],
            self.nats.connection.urls,
            self.nats.connection.creds[name],
            urls,
            (telemetry.endpoint, telemetry.headers) if telemetry else None,
            with_port=with_port,
            wiring=wiring_for(self._manifest, name).model_dump_json(),
        )

    def archivers(self) -> Archivers | None:
        """The SQL copy's archivers (`backup.sql`), each with a worker's environment as its own
        NATS user, the archive database as its login and its consumers as wiring."""
        archived = self._manifest.sql_archived()
        if not archived or self.database is None or self.database.archive_url is None:
            return None
        telemetry = self.metrics.telemetry if self.metrics else None
        env: dict[str, Mapping[str, pulumi.Input[str]]] = {}
        for bus in archived:
            name = archiver_user(bus)
            variables = service_env(
                self._manifest.system,
                name,
                Service(role=Role.WORKER, bus=bus),
                self.nats.connection.urls,
                self.nats.connection.creds[name],
                {},
                (telemetry.endpoint, telemetry.headers) if telemetry else None,
                with_port=False,
                wiring=archiver_wiring(self._manifest, bus).model_dump_json(),
            )
            env[name] = {**variables, "DATABASE_URL": self.database.archive_url}
        return Archivers(archiver_image(self._manifest, self._settings), env)

    def backup_job(self) -> BackupJob | None:
        """The scheduled backup's variables: the buses' backup users in an outputs document,
        the bucket's key; all secret."""
        users = backup_users(self._manifest, self._settings)
        if not users:
            return None
        creds = pulumi.Output.all(**{user: self.nats.connection.creds[user] for user in users})
        outputs = creds.apply(lambda c: job_outputs(self._manifest, self._settings, c))
        key = pulumi.Config("deploykit").require_secret("backupSecretAccessKey")
        backup = self._settings.backup
        return BackupJob(backup, job_env(backup, key, pulumi.Output.secret(outputs)))

    def run_services(self) -> Services | None:
        frontends = railway_frontends(self._manifest, self._settings)
        names = deployed_services(self._manifest) + frontends
        backup = self.backup_job()
        archivers = self.archivers()
        if not names and backup is None and archivers is None:
            return None
        wait_for: list[pulumi.Resource] = (
            list(self.database.databases.values()) if self.database else []
        )
        if self.database and self.database.archive:
            wait_for.append(self.database.archive)
        if self.definitions is not None:
            wait_for.append(self.definitions)
        env = {name: self._env(name, with_port=True) for name in names}
        for name in frontends:  # a frontend on Railway is reached from outside its container
            env[name] = {**env[name], "HOST": "0.0.0.0"}
        return Services(
            f"{self._name}-services",
            self._manifest,
            self._settings.railway,
            env,
            self._opts(),
            wait_for=wait_for,
            frontends=frontends,
            backup=backup,
            archivers=archivers,
        )

    def publish_frontends(self) -> Frontends | None:
        names = frontend_services(self._manifest, self._settings)
        if not names:
            return None
        env = {name: self._env(name, with_port=False) for name in names}
        return Frontends(
            f"{self._name}-frontends",
            self._manifest,
            self._settings,
            env,
            self._opts(),
            root=self._root,
        )

    def describe_outputs(self) -> pulumi.Output[dict[str, Any]]:
        """The stack outputs document (deploykit.stack.outputs), validated once its values are known."""
        parts: dict[str, pulumi.Input[Any]] = {
            "credentials": self.nats.connection.credentials,
            "frontend_urls": pulumi.Output.all(**self.frontends.urls) if self.frontends else {},
        }
        if self.metrics:
            parts["grafana_url"] = self.metrics.stack.url
            parts["prometheus_url"] = self.metrics.stack.prometheus_url
        if self.database:
            parts["admin_url"] = self.database.admin_url
            parts["database_urls"] = pulumi.Output.all(**self.database.urls)
            if self.database.archive_url is not None:
                parts["archive_url"] = self.database.archive_url

        def document(values: dict[str, Any]) -> dict[str, Any]:
            return stack_outputs(self._manifest, self._settings, values)

        return pulumi.Output.secret(pulumi.Output.all(**parts).apply(document))

    def export_outputs(self) -> None:
        """One stack output per key of StackOutputs; credentials and database URLs stay secret."""
        for key in StackOutputs.model_fields:
            value = self.outputs.apply(lambda document, key=key: document[key])
            pulumi.export(key, value if key in SECRET_OUTPUTS else pulumi.Output.unsecret(value))
