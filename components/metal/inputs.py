"""What the metal tier takes besides the manifest and the stack config.

- `NatsAuth`: the accounts block of nats-server.conf and the users it defines. The permission
  compiler produces both (`render_accounts_block`, with one password per user); the tier only
  places the block in every node's configuration and the passwords where each user connects.
- `MetalSecrets`: the stack's secret config keys (`deploykit:sshPrivateKey`, ...).
- `JetStreamHook`: how the JetStream definitions get applied once the cluster is healthy.
- `ServicesArgs`: what both ways of running the services (Kubernetes, systemd) take, and the
  environment each service (and each archiver of the SQL copy) gets from it, the same either way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi

from deploykit.errors import ConfigError
from deploykit.manifest.model import Manifest
from deploykit.manifest.naming import archiver_user, service_env
from deploykit.manifest.wiring import archiver_wiring, wiring_for
from deploykit.stack.config import MetalConfig

__all__ = [
    "JetStreamContext",
    "JetStreamHook",
    "MetalSecrets",
    "NatsAuth",
    "NatsUser",
    "ServicesArgs",
]


@dataclass(frozen=True)
class NatsUser:
    """One user of the accounts block, as the stack outputs and the apps' Secrets need it."""

    account: str
    role: str  # frontend | rpc | worker | smoke | provisioning
    password: pulumi.Input[str]
    service: str | None = None


@dataclass(frozen=True)
class NatsAuth:
    """`accounts`: the nats-server `accounts` mapping (passwords inside, so it is kept secret);
    `users`: every user of it that connects from outside the servers (the system account's
    user may be left out: nothing of the tier connects as it)."""

    accounts: pulumi.Input[Mapping[str, Any]]
    users: Mapping[str, NatsUser]
    system_account: str = "SYS"


@dataclass(frozen=True)
class JetStreamContext:
    """What the JetStream step gets: where NATS is, as whom to connect per bus, the CA to
    trust, and resource options that parent it to the tier and make it wait for the cluster's
    health gates (use them: nothing may touch NATS before)."""

    urls: list[str]
    provisioning: Mapping[str, NatsUser]
    ca_certificate: pulumi.Output[str]
    opts: pulumi.ResourceOptions


JetStreamHook = Callable[[JetStreamContext], pulumi.Resource | None]


@dataclass(frozen=True)
class MetalSecrets:
    ssh_private_key: pulumi.Output[str]
    grafana_admin_password: pulumi.Output[str] | None
    kubeconfig: pulumi.Output[str] | None = None
    backup_secret_access_key: pulumi.Output[str] | None = None
    nats_tls: pulumi.Output[Mapping[str, Any]] | None = field(default=None)

    @classmethod
    def from_config(
        cls, settings: MetalConfig, config: pulumi.Config | None = None
    ) -> MetalSecrets:
        """Read the secret keys the settings call for; a missing one is a ConfigError naming it
        and the command that sets it, raised before any resource exists."""
        config = config or pulumi.Config("deploykit")
        needed = {"sshPrivateKey": True, "grafanaAdminPassword": settings.monitoring.grafana}
        needed["kubeconfig"] = settings.kubernetes.existingKubeconfig
        needed["backupSecretAccessKey"] = settings.backup.s3
        needed["natsTls"] = settings.nats.tls == "provided"
        values: dict[str, Any] = {}
        missing = []
        for key, required in needed.items():
            getter = config.get_secret_object if key == "natsTls" else config.get_secret
            values[key] = getter(key) if required else None
            if required and values[key] is None:
                missing.append(key)
        if missing:
            raise ConfigError(
                "\n".join(
                    f"deploykit:{key}: required by the metal stack config, set it with "
                    f"`pulumi config set --secret deploykit:{key} ...` (see docs/metal.md)"
                    for key in missing
                )
            )
        return cls(
            ssh_private_key=values["sshPrivateKey"],
            grafana_admin_password=values["grafanaAdminPassword"],
            kubeconfig=values["kubeconfig"],
            backup_secret_access_key=values["backupSecretAccessKey"],
            nats_tls=values["natsTls"],
        )


@dataclass(frozen=True)
class ServicesArgs:
    manifest: Manifest
    settings: MetalConfig
    nats_urls: Sequence[str]
    users: Mapping[str, NatsUser]
    database_urls: Mapping[str, pulumi.Output[str]]
    ca_certificate: pulumi.Output[str]
    depends_on: Sequence[pulumi.Resource]
    archive_url: pulumi.Output[str] | None  # the SQL copy as the archiver (`backup.sql`)

    def environment(self, name: str) -> pulumi.Output[dict[str, str]]:
        """What `naming.service_env` gives service `name` (its own NATS user and password, its
        database URL, its port and wiring): a pod's Secret and a unit's environment file."""
        service = self.manifest.services[name]
        database = self.database_urls[service.database] if service.database else None
        wiring = wiring_for(self.manifest, name).model_dump_json()
        return self._env(name, database, wiring, service.run.port)

    def archiver_environment(self, bus: str) -> pulumi.Output[dict[str, str]]:
        """The archiver of `bus`'s environment, shaped as a service's: its own NATS user, the
        archive database as its login, its consumers as wiring."""
        wiring = archiver_wiring(self.manifest, bus).model_dump_json()
        return self._env(archiver_user(bus), self.archive_url, wiring)

    def _env(
        self,
        name: str,
        database: pulumi.Output[str] | None,
        wiring: str,
        port: int | None = None,
    ) -> pulumi.Output[dict[str, str]]:
        return pulumi.Output.all(self.users[name].password, database).apply(
            lambda v: service_env(
                name,
                ",".join(self.nats_urls),
                name,
                v[0],
                database_url=v[1],
                port=port,
                wiring=wiring,
            )
        )
