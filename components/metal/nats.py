"""The NATS cluster on the `nats` hosts, rolled out one node at a time behind health gates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi

from components.metal.remote import Hosts, RemoteStep, digest
from components.metal.tls import Certificates
from deploykit.configs.nats import NatsNode, render_node_config
from deploykit.metal import layout
from deploykit.metal import nats as plan
from deploykit.metal.shell import put_file, remove_paths, remove_units, script
from deploykit.metal.sources import Sources
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
    destroy_data: bool = False
    sources: Sources = field(default_factory=Sources)


class NatsCluster(pulumi.ComponentResource):
    """`ready` is the last node's health gate: every node is up, current and healthy once it
    has run, and each node's configuration step runs only after the previous node's gate
    (nothing restarts two at once)."""

    ready: RemoteStep

    def __init__(
        self, name: str, args: NatsClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("deploykit:metal:NatsCluster", name, {}, opts)
        self.args, self.name = args, name
        self.nodes = plan.nats_nodes(args.system, args.hosts, args.settings)
        installed = self._install_servers()
        certificates = self._install_certificates(installed)
        units = self._install_units(installed)
        self.gates = self._roll_out(certificates, units)
        self.ready = self.gates[-1]
        self.register_outputs({"servers": [n.name for n in self.nodes]})

    def _each(self) -> list[tuple[Host, NatsNode]]:
        return list(zip(self.args.hosts, self.nodes, strict=True))

    def _run(self, step: str, host: Host, body: str, **kwargs: Any) -> RemoteStep:
        return self.args.runner.run(f"{self.name}-{host.name}-{step}", host, body, self, **kwargs)

    def _install_servers(self) -> list[RemoteStep]:
        """nats-server and prometheus-nats-exporter on every host: the official releases, or
        the stack's artifacts (uploaded first with `files`)."""
        settings, sources = self.args.settings, self.args.sources
        names = ("nats-server", "prometheus-nats-exporter")[: 2 if settings.exporter else 1]
        server, exporter = (
            [*(sources.install(n) for n in names), ""][:2] if sources.offline else ("", "")
        )
        body = script(
            plan.install_server_script(settings.version, server),
            plan.install_exporter_script(settings.exporterVersion, exporter)
            if settings.exporter
            else "",
        )
        remove = plan.uninstall_script(self.args.destroy_data)
        return [
            self._run("install", host, body, delete=remove, uploads=sources.uploads(*names))
            for host, _ in self._each()
        ]

    def _install_certificates(self, installed: list[RemoteStep]) -> list[list[RemoteStep]]:
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
                        put_file(
                            f"{layout.NATS_TLS_DIR}/{file}",
                            mode=mode,
                            group=plan.USER,
                            pending=plan.UNIT,
                        ),
                        delete=remove_paths(f"{layout.NATS_TLS_DIR}/{file}"),
                        stdin=content,
                        depends_on=[after],
                    )
                    for file, (content, mode) in files.items()
                ]
            )
        return steps

    def _install_units(self, installed: list[RemoteStep]) -> list[list[RemoteStep]]:
        """The server's unit (lame-duck stop) and the exporter's, per host; a changed unit
        restarts its service at the node's turn in the roll-out."""
        steps = []
        for (host, node), after in zip(self._each(), installed, strict=True):
            steps.append(
                [
                    self._run(
                        step,
                        host,
                        script(
                            put_file(f"/etc/systemd/system/{unit}", pending=unit),
                            "systemctl daemon-reload",
                        ),
                        delete=remove_units(unit),
                        stdin=text,
                        depends_on=[after],
                    )
                    for step, unit, text in (
                        ("unit", plan.UNIT, plan.nats_unit(node)),
                        ("exporter-unit", plan.EXPORTER_UNIT, plan.exporter_unit(node)),
                    )[: 2 if self.args.settings.exporter else 1]
                ]
            )
        return steps

    def _config(self, node: NatsNode) -> pulumi.Output[str]:
        accounts = pulumi.Output.from_input(self.args.accounts)
        return pulumi.Output.secret(
            accounts.apply(lambda a: render_node_config(node, dict(a), self.args.system_account))
        )

    def _roll_out(
        self, certificates: list[list[RemoteStep]], units: list[list[RemoteStep]]
    ) -> list[RemoteStep]:
        """Node after node: install the configuration and start the server, or restart it (lame
        duck) when its configuration, unit, certificate or binary changed; then its health gate.
        A node's step waits for the previous node's gate, so a change rolls one node at a time,
        and a gate runs again whenever its node's inputs changed."""
        gates: list[RemoteStep] = []
        settings = self.args.settings
        for (host, node), certs, unit_steps in zip(self._each(), certificates, units, strict=True):
            config = self._config(node)
            inputs = [
                settings.version,
                settings.exporterVersion,
                plan.nats_unit(node),
                plan.exporter_unit(node),
                *(self._certificate_inputs(host)),
            ]
            applied = self._run(
                "config",
                host,
                plan.apply_config_script(settings.exporter),
                delete=plan.remove_config_script(),
                stdin=config,
                triggers=[digest(*inputs)],
                depends_on=[*certs, *unit_steps, *gates[-1:]],
            )
            peers = [n for n in self.nodes if n is not node]
            gates.append(
                self._run(
                    "health",
                    host,
                    plan.health_gate_script(node, peers),
                    depends_on=[applied],
                    triggers=[pulumi.Output.secret(digest(config, *inputs))],
                )
            )
        return gates

    def _certificate_inputs(self, host: Host) -> list[pulumi.Output[str]]:
        certificates = self.args.certificates
        return [certificates.ca, certificates.hosts[host.name].certificate]
