"""The stack's TLS material: a CA and one certificate per host (NATS clients and routes,
PostgreSQL), generated once by openssl on the deployer, or provided in `deploykit:natsTls`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_command import local

from deploykit.errors import ConfigError
from deploykit.metal.tls import INTERPRETER, ca_script, certificate_script, split_pem
from deploykit.stack.config import Host

__all__ = ["Certificates", "HostCertificate"]


@dataclass(frozen=True)
class HostCertificate:
    certificate: pulumi.Output[str]
    key: pulumi.Output[str]


class Certificates(pulumi.ComponentResource):
    """`ca` (a certificate, public) and `hosts[name]` (certificate, secret key)."""

    ca: pulumi.Output[str]
    hosts: dict[str, HostCertificate]

    def __init__(
        self,
        name: str,
        system: str,
        hosts: Sequence[Host],
        provided: pulumi.Output[Mapping[str, Any]] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("deploykit:metal:Certificates", name, {}, opts)
        if provided is None:
            self.ca, ca_bundle = self._create_ca(name, system)
            self.hosts = {h.name: self._create_host_certificate(name, h, ca_bundle) for h in hosts}
        else:
            self.ca, self.hosts = self._use_provided(provided, hosts)
        self.register_outputs({"ca": self.ca})

    def _create_ca(self, name: str, system: str) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
        command = local.Command(
            f"{name}-ca",
            create=ca_script(f"{system} deploykit CA"),
            interpreter=INTERPRETER,
            logging=local.Logging.NONE,
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["stdout"]),
        )
        bundle = pulumi.Output.secret(command.stdout)
        certificate = pulumi.Output.unsecret(bundle.apply(lambda text: split_pem(text)[0]))
        return certificate, bundle

    def _create_host_certificate(
        self, name: str, host: Host, ca_bundle: pulumi.Output[str]
    ) -> HostCertificate:
        names = [host.private, host.address, host.name]
        command = local.Command(
            f"{name}-{host.name}",
            create=certificate_script(host.name, names),
            stdin=ca_bundle,
            interpreter=INTERPRETER,
            logging=local.Logging.NONE,
            triggers=names,
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["stdout"]),
        )
        pair = pulumi.Output.secret(command.stdout).apply(split_pem)
        return HostCertificate(
            certificate=pulumi.Output.unsecret(pair.apply(lambda p: p[0])),
            key=pulumi.Output.secret(pair.apply(lambda p: p[1])),
        )

    @staticmethod
    def _use_provided(
        provided: pulumi.Output[Mapping[str, Any]], hosts: Sequence[Host]
    ) -> tuple[pulumi.Output[str], dict[str, HostCertificate]]:
        def pick(value: Mapping[str, Any], host: str | None, field: str) -> str:
            entry = value.get("hosts", {}).get(host, {}) if host else value
            if not isinstance(entry, Mapping) or not entry.get(field):
                where = f"hosts.{host}.{field}" if host else field
                raise ConfigError(f"deploykit:natsTls.{where}: required with nats.tls: provided")
            return str(entry[field])

        ca = pulumi.Output.unsecret(provided.apply(lambda v: pick(v, None, "ca")))
        certificates = {
            h.name: HostCertificate(
                certificate=pulumi.Output.unsecret(
                    provided.apply(lambda v, n=h.name: pick(v, n, "cert"))
                ),
                key=pulumi.Output.secret(provided.apply(lambda v, n=h.name: pick(v, n, "key"))),
            )
            for h in hosts
        }
        return ca, certificates
