"""Prometheus and Grafana on the monitoring host, node_exporter on every host. (NATS's and
PostgreSQL's exporters are installed beside their servers.)"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.metal.kubernetes import Kubernetes
from components.metal.remote import Hosts, RemoteStep
from deploykit.manifest.model import Manifest
from deploykit.metal import layout
from deploykit.metal import monitoring as plan
from deploykit.metal.shell import put_file, remove_paths, script
from deploykit.metal.sources import Sources
from deploykit.stack.config import MetalConfig

__all__ = ["Monitoring", "MonitoringArgs"]


@dataclass(frozen=True)
class MonitoringArgs:
    manifest: Manifest
    settings: MetalConfig
    runner: Hosts
    kubernetes: Kubernetes | None
    namespace: str
    prometheus_token: pulumi.Resource | None
    grafana_admin_password: pulumi.Output[str] | None
    depends_on: Sequence[pulumi.Resource]
    sources: Sources = field(default_factory=Sources)


class Monitoring(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("deploykit:metal:Monitoring", name, {}, opts)
        self.args, self.name = args, name
        self.host = args.settings.hosts_with("monitoring")[0]
        self.build = plan.DEBIAN_PROMETHEUS if args.sources.offline else plan.PrometheusBuild()
        self._node_exporters()
        installed = self._install_prometheus()
        access = self._kubernetes_access(installed) if args.kubernetes else []
        self.prometheus = self._configure_prometheus([installed, *access])
        if args.settings.monitoring.grafana:
            self.grafana = self._grafana()
        self.register_outputs({"host": self.host.name})

    def _run(self, step: str, body: str, **kwargs: Any) -> RemoteStep:
        return self.args.runner.run(f"{self.name}-{step}", self.host, body, self, **kwargs)

    def _node_exporters(self) -> None:
        sources = self.args.sources
        name = "prometheus-node-exporter"
        install = sources.install(name) if sources.offline else ""
        for host in self.args.settings.hosts:
            self.args.runner.run(
                f"{self.name}-{host.name}-node-exporter",
                host,
                plan.node_exporter_script(host, install),
                self,
                delete=plan.remove_node_exporter_script(),
                uploads=sources.uploads(name),
            )

    def _install_prometheus(self) -> RemoteStep:
        settings, sources = self.args.settings, self.args.sources
        installed = self._run(
            "prometheus-install",
            plan.prometheus_install_script(
                settings.monitoring.prometheusVersion,
                sources.install("prometheus") if sources.offline else "",
            ),
            delete=plan.remove_prometheus_script(settings.destroyData),
            uploads=sources.uploads("prometheus") if sources.offline else [],
        )
        return self._run(
            "prometheus-unit",
            script(
                put_file(
                    f"/etc/systemd/system/{plan.PROMETHEUS_UNIT}", pending=plan.PROMETHEUS_UNIT
                ),
                "systemctl daemon-reload",
            ),
            stdin=plan.prometheus_unit(
                self.host, binary=self.build.binary, retention=settings.monitoring.retention
            ),
            depends_on=[installed],
        )

    def _kubernetes_access(self, after: RemoteStep) -> list[RemoteStep]:
        """The token and CA Prometheus uses to list the apps' pods, read back from the cluster."""
        assert self.args.kubernetes is not None and self.args.prometheus_token is not None
        token = k8s.core.v1.Secret.get(
            f"{self.name}-prometheus-token",
            f"{self.args.namespace}/prometheus-token",
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=self.args.kubernetes.provider,
                depends_on=[self.args.prometheus_token],
            ),
        )
        data = pulumi.Output.secret(token.data)
        return [
            self._run(
                f"prometheus-{file.rsplit('/', 1)[1]}",
                put_file(file, mode="0640", group="prometheus"),
                delete=remove_paths(file),
                stdin=data.apply(lambda d, k=key: base64.b64decode(d[k]).decode()),
                depends_on=[after],
            )
            for file, key in ((plan.K8S_TOKEN, "token"), (plan.K8S_CA, "ca.crt"))
        ]

    def _configure_prometheus(self, after: list[RemoteStep]) -> RemoteStep:
        """Rules, then the configuration naming them (each checked by promtool), then reload."""
        args = self.args
        system = args.manifest.system
        discovery: pulumi.Input[str] = (
            args.kubernetes.api_server.apply(
                lambda server: plan.prometheus_config(
                    system, args.settings, plan.AppsDiscovery(server, args.namespace)
                )
            )
            if args.kubernetes
            else plan.prometheus_config(system, args.settings)
        )
        rules_text = plan.alert_rules(
            args.manifest, args.settings, apps=args.kubernetes is not None
        )
        rules = self._run(
            "prometheus-rules",
            plan.put_rules_script(self.build.promtool),
            stdin=rules_text,
            depends_on=after,
        )
        config = self._run(
            "prometheus-config",
            plan.put_prometheus_config_script(self.build.promtool),
            stdin=discovery,
            depends_on=[rules],
        )
        return self._run(
            "prometheus-start",
            plan.prometheus_reload_script(),
            depends_on=[config, *args.depends_on],
            triggers=[discovery, rules_text],
        )

    def _grafana(self) -> RemoteStep:
        assert self.args.grafana_admin_password is not None
        installed = self._run(
            "grafana-install",
            plan.grafana_install_script(),
            delete=plan.remove_grafana_script(),
        )
        prometheus_url = f"http://{self.host.private}:{layout.PROMETHEUS_PORT}"
        files = {
            "/etc/grafana/provisioning/datasources/deploykit.yml": plan.grafana_datasource(
                prometheus_url
            ),
            "/etc/grafana/provisioning/dashboards/deploykit.yml": plan.grafana_dashboard_provider(),
            **{
                f"{plan.DASHBOARD_DIR}/{file}": text
                for file, text in plan.dashboards(self.args.manifest, self.args.settings).items()
            },
        }
        written = [
            self._run(
                f"grafana-{path.rsplit('/', 2)[-2]}-{path.rsplit('/', 1)[1].replace('.', '-')}",
                put_file(path, mode="0640", group="grafana"),
                stdin=text,
                depends_on=[installed],
            )
            for path, text in files.items()
        ]
        return self._run(
            "grafana-start",
            plan.grafana_password_script(),
            stdin=self.args.grafana_admin_password,
            depends_on=written,
            triggers=[*files.values()],
        )
