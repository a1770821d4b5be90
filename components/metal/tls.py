"""The stack's TLS material: a CA and one certificate per host (NATS clients and routes,
PostgreSQL), generated once on the deployer (`Generated`), or provided in `deploykit:natsTls`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

from components.metal.generated import Generated
from deploykit.errors import ConfigError
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
            self.ca, ca = self._create_ca(name, system)
            self.hosts = {h.name: self._create_host_certificate(name, h, ca) for h in hosts}
        else:
            self.ca, self.hosts = self._use_provided(provided, hosts)
        self.register_outputs({"ca": self.ca})

    def _create_ca(self, name: str, system: str) -> tuple[pulumi.Output[str], Generated]:
        ca = Generated(f"{name}-ca", "ca", common_name=f"{system} deploykit CA", opts=self._child())
        return ca.certificate, ca

    def _create_host_certificate(self, name: str, host: Host, ca: Generated) -> HostCertificate:
        generated = Generated(
            f"{name}-{host.name}",
            "certificate",
            common_name=host.name,
            names=[host.private, host.address, host.name],
            ca_certificate=ca.certificate,
            ca_key=ca.private_key,
            opts=self._child(),
        )
        return HostCertificate(
            certificate=generated.certificate, key=pulumi.Output.secret(generated.private_key)
        )

    def _child(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self)

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
