"""The manifest's services on Kubernetes, in the stack's namespace: per service a Secret (its
own NATS user and password, database URL, the CA), a Deployment, a PodDisruptionBudget, and
for a service with a port a Service (plus an Ingress for a frontend with a domain)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi

from components.metal.inputs import NatsUser
from components.metal.kubernetes import Kubernetes
from components.metal.objects import kubernetes_deployment, kubernetes_object, kubernetes_secret
from deploykit.manifest.model import Manifest, Role, Service
from deploykit.manifest.naming import service_env
from deploykit.metal import k8s
from deploykit.runtime.wiring import wiring_for
from deploykit.stack.config import MetalConfig

__all__ = ["Apps", "AppsArgs"]


@dataclass(frozen=True)
class AppsArgs:
    manifest: Manifest
    settings: MetalConfig
    namespace: str
    kubernetes: Kubernetes
    nats_urls: Sequence[str]
    users: Mapping[str, NatsUser]
    database_urls: Mapping[str, pulumi.Output[str]]
    ca_certificate: pulumi.Output[str]
    depends_on: Sequence[pulumi.Resource]


class Apps(pulumi.ComponentResource):
    """`namespace` (the resource) for the other in-cluster parts of the stack."""

    def __init__(self, name: str, args: AppsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("deploykit:metal:Apps", name, {}, opts)
        self.args, self.name = args, name
        system = args.manifest.system
        self.namespace = kubernetes_object(
            f"{name}-namespace", k8s.namespace(args.namespace, system), self._opts()
        )
        for service_name, service in args.manifest.services.items():
            self._deploy(service_name, service)
        self.prometheus_token = self._prometheus_access()
        self.register_outputs({"namespace": args.namespace})

    def _opts(self, *depends_on: pulumi.Resource) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(
            parent=self, provider=self.args.kubernetes.provider, depends_on=list(depends_on)
        )

    def _env(self, name: str, service: Service) -> pulumi.Output[dict[str, str]]:
        args = self.args
        user = args.users[name]
        database = args.database_urls[service.database] if service.database else None
        return pulumi.Output.all(user.password, database).apply(
            lambda v: service_env(
                name,
                ",".join(args.nats_urls),
                name,
                v[0],
                database_url=v[1],
                port=service.run.port,
                wiring=wiring_for(args.manifest, name).model_dump_json(),
            )
        )

    def _deploy(self, name: str, service: Service) -> None:
        args, system, ns = self.args, self.args.manifest.system, self.args.namespace
        env = self._env(name, service)
        secret_obj = pulumi.Output.all(env, args.ca_certificate).apply(
            lambda v: k8s.app_secret(ns, system, name, v[0], v[1])
        )
        secret = kubernetes_secret(
            f"{self.name}-{name}-secret", secret_obj, self._opts(self.namespace)
        )
        checksum = pulumi.Output.secret(secret_obj.apply(lambda o: k8s.checksum(o["stringData"])))
        deployment = pulumi.Output.unsecret(
            checksum.apply(lambda c: k8s.deployment(ns, system, name, service, c))
        )
        kubernetes_deployment(
            f"{self.name}-{name}-deployment",
            deployment,
            self._opts(self.namespace, secret, *args.depends_on),
        )
        kubernetes_object(
            f"{self.name}-{name}-pdb",
            k8s.pod_disruption_budget(ns, system, name),
            self._opts(self.namespace),
        )
        if service.run.port:
            kubernetes_object(
                f"{self.name}-{name}-service",
                k8s.service(ns, system, name, service.run.port),
                self._opts(self.namespace),
            )
        domain = args.settings.domains.get(name)
        if service.role is Role.FRONTEND and domain:
            kubernetes_object(
                f"{self.name}-{name}-ingress",
                k8s.ingress(ns, system, name, domain, args.kubernetes.ingress_class),
                self._opts(self.namespace),
            )

    def _prometheus_access(self) -> pulumi.Resource:
        """The service account Prometheus discovers the pods with; returns its token Secret."""
        objects = k8s.prometheus_access(self.args.namespace, self.args.manifest.system)
        created = [
            kubernetes_object(
                f"{self.name}-prometheus-{obj['kind'].lower()}", obj, self._opts(self.namespace)
            )
            for obj in objects
        ]
        return created[-1]
