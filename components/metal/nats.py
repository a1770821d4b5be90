"""The NATS cluster on the `nats` hosts, rolled out one node at a time behind health gates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_command import remote

from components.metal.remote import Hosts, digest
from components.metal.tls import Certificates
from deploykit.configs.nats import NatsNode, render_node_config
from deploykit.metal import layout
from deploykit.metal import nats as plan
from deploykit.metal.shell import put_file, script
from deploykit.stack.config import Host, MetalNats

__all__ = ["NatsCluster", "NatsClusterArgs"]


@dataclass(frozen=True)
class NatsClusterArgs:
    system: str
    hosts: Sequence[Host]
    settings: MetalNats
    accounts: pulumi.Input[Mapping[str, Any]]
    system_account: str
    certificates: Certificates
    runner: Hosts


class NatsCluster(pulumi.ComponentResource):
    """`ready` is the last node's health gate: every node is up, current and healthy once it
    has run, and each gate runs only after the previous one (nothing restarts two at once)."""

    ready: remote.Command

    def __init__(
        self, name: str, args: NatsClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("deploykit:metal:NatsCluster", name, {}, opts)
        self.args, self.name = args, name
        self.nodes = plan.nats_nodes(args.system, args.hosts, args.settings)
        installed = self._install_servers()
        certificates = self._install_certificates(installed)
        units = self._install_units(installed)
        configs = self._install_configs(certificates)
        self.gates = self._roll_out(configs, units)
        self.ready = self.gates[-1]
        self.register_outputs({"servers": [n.name for n in self.nodes]})

    def _each(self) -> list[tuple[Host, NatsNode]]:
        return list(zip(self.args.hosts, self.nodes, strict=True))

    def _run(self, step: str, host: Host, body: str, **kwargs: Any) -> remote.Command:
        return self.args.runner.run(f"{self.name}-{host.name}-{step}", host, body, self, **kwargs)

    def _install_servers(self) -> list[remote.Command]:
        """The official nats-server release and prometheus-nats-exporter on every host."""
        body = script(
            plan.install_server_script(self.args.settings.version),
            plan.install_exporter_script(self.args.settings.exporterVersion),
        )
        return [self._run("install", host, body) for host, _ in self._each()]

    def _install_certificates(self, installed: list[remote.Command]) -> list[list[remote.Command]]:
        certs = self.args.certificates
        steps = []
        for (host, _), after in zip(self._each(), installed, strict=True):
            files = {
                "ca.pem": (certs.ca, "0640"),
                "host.pem": (certs.hosts[host.name].certificate, "0640"),
                "host.key": (certs.hosts[host.name].key, "0640"),
            }
            steps.append(
                [
                    self._run(
                        f"tls-{file.replace('.', '-')}",
                        host,
                        put_file(f"{layout.NATS_TLS_DIR}/{file}", mode=mode, group=plan.USER),
                        stdin=content,
                        depends_on=[after],
                    )
                    for file, (content, mode) in files.items()
                ]
            )
        return steps

    def _install_units(self, installed: list[remote.Command]) -> list[list[remote.Command]]:
        """The server's unit (lame-duck stop) and the exporter's, per host."""
        steps = []
        for (host, node), after in zip(self._each(), installed, strict=True):
            body = script(
                put_file("/etc/systemd/system/nats-server.service"),
                "systemctl daemon-reload",
            )
            exporter = plan.exporter_unit(node)
            server = self._run("unit", host, body, stdin=plan.nats_unit(node), depends_on=[after])
            exporter_unit = self._run(
                "exporter-unit",
                host,
                put_file("/etc/systemd/system/prometheus-nats-exporter.service"),
                stdin=exporter,
                depends_on=[after],
            )
            steps.append([server, exporter_unit])
        return steps

    def _config(self, node: NatsNode) -> pulumi.Output[str]:
        accounts = pulumi.Output.from_input(self.args.accounts)
        return pulumi.Output.secret(
            accounts.apply(lambda a: render_node_config(node, dict(a), self.args.system_account))
        )

    def _install_configs(self, certificates: list[list[remote.Command]]) -> list[remote.Command]:
        """Each node's configuration, checked by `nats-server -t`, reloaded if running."""
        return [
            self._run(
                "config",
                host,
                plan.apply_config_script(),
                stdin=self._config(node),
                depends_on=certs,
            )
            for (host, node), certs in zip(self._each(), certificates, strict=True)
        ]

    def _roll_out(
        self, configs: list[remote.Command], units: list[list[remote.Command]]
    ) -> list[remote.Command]:
        """Start or restart (lame duck) node after node: a node restarts only once the node
        before it passed its gate, and a gate runs again whenever its node changed."""
        gates: list[remote.Command] = []
        for (host, node), config, unit_steps in zip(self._each(), configs, units, strict=True):
            restart = self._run(
                "restart",
                host,
                plan.restart_script(),
                depends_on=[config, *unit_steps, *gates[-1:]],
                triggers=[
                    self.args.settings.version,
                    self.args.settings.exporterVersion,
                    plan.nats_unit(node),
                    plan.exporter_unit(node),
                ],
            )
            peers = [n for n in self.nodes if n is not node]
            gates.append(
                self._run(
                    "health",
                    host,
                    plan.health_gate_script(node, peers),
                    depends_on=[restart, config],
                    triggers=[restart.id, pulumi.Output.secret(digest(self._config(node)))],
                )
            )
        return gates
