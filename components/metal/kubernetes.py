"""Where the apps run: k3s installed on the `kubernetes-*` hosts (servers first, then agents,
joined by a generated token), or the cluster of a given kubeconfig. Either way the result is a
Kubernetes provider and the kubeconfig as a secret."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.metal.generated import generated_secret
from components.metal.remote import Hosts, RemoteStep
from deploykit.metal import k3s
from deploykit.stack.config import MetalConfig

__all__ = ["Kubernetes"]


class Kubernetes(pulumi.ComponentResource):
    """`provider`, `kubeconfig` (secret), `api_server` (as the monitoring host reaches it),
    `ingress_class` (traefik on k3s; the cluster's default otherwise) and `ready`."""

    provider: k8s.Provider
    kubeconfig: pulumi.Output[str]
    api_server: pulumi.Output[str]
    ingress_class: str | None
    ready: Sequence[pulumi.Resource]

    def __init__(
        self,
        name: str,
        settings: MetalConfig,
        runner: Hosts,
        existing_kubeconfig: pulumi.Output[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("deploykit:metal:Kubernetes", name, {}, opts)
        self.name, self.settings, self.runner = name, settings, runner
        if existing_kubeconfig is not None:
            self.kubeconfig, self.ready, self.ingress_class = existing_kubeconfig, [], None
        else:
            self.kubeconfig, self.ready = self._install_k3s()
            self.ingress_class = "traefik"
        self.api_server = pulumi.Output.unsecret(self.kubeconfig.apply(_server_of))
        self.provider = k8s.Provider(
            f"{name}-provider",
            kubeconfig=self.kubeconfig,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(self.ready)),
        )
        self.register_outputs({"api_server": self.api_server})

    def _install_k3s(self) -> tuple[pulumi.Output[str], list[RemoteStep]]:
        version = self.settings.kubernetes.k3sVersion
        token = generated_secret(f"{self.name}-token", self)
        first, *others = self.settings.hosts_with("kubernetes-server")
        clustered = bool(others)
        started = self.runner.run(
            f"{self.name}-{first.name}-k3s-server",
            first,
            k3s.server_script(version, first, None, clustered),
            self,
            delete=k3s.uninstall_script("k3s"),
            stdin=token,
        )
        joined = [
            self.runner.run(
                f"{self.name}-{host.name}-k3s-server",
                host,
                k3s.server_script(version, host, first, clustered),
                self,
                delete=k3s.uninstall_script("k3s"),
                stdin=token,
                depends_on=[started],
            )
            for host in others
        ]
        joined += [
            self.runner.run(
                f"{self.name}-{host.name}-k3s-agent",
                host,
                k3s.agent_script(version, host, first),
                self,
                delete=k3s.uninstall_script("k3s-agent"),
                stdin=token,
                depends_on=[started],
            )
            for host in self.settings.hosts_with("kubernetes-agent")
        ]
        nodes = 1 + len(joined)
        ready = self.runner.run(
            f"{self.name}-nodes-ready",
            first,
            k3s.wait_nodes_script(nodes),
            self,
            depends_on=[started, *joined],
            triggers=[nodes],
        )
        fetched = self.runner.run(
            f"{self.name}-kubeconfig",
            first,
            k3s.read_kubeconfig_script(),
            self,
            depends_on=[started],
            secret_output=True,
        )
        kubeconfig = pulumi.Output.secret(
            fetched.stdout.apply(lambda raw: k3s.kubeconfig_for(raw, first))
        )
        return kubeconfig, [started, *joined, ready]


def _server_of(kubeconfig: str) -> str:
    """The API server URL of the kubeconfig's current context."""
    document = yaml.safe_load(kubeconfig)
    contexts = {c["name"]: c["context"] for c in document.get("contexts", [])}
    clusters = {c["name"]: c["cluster"] for c in document.get("clusters", [])}
    current = contexts.get(document.get("current-context"), {}) or next(iter(contexts.values()), {})
    cluster = clusters.get(current.get("cluster")) or next(iter(clusters.values()))
    return str(cluster["server"])
