"""The manifest's services on Kubernetes, in the stack's namespace: per service a Secret (its
own NATS user and password, database URL, the CA), a Deployment, a PodDisruptionBudget, and
for a service with a port a Service (plus an Ingress for a frontend with a domain); per
archiver of the SQL copy (`backup.sql`) a Secret and a Deployment of the kit's image."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi

from components.metal.inputs import ServicesArgs
from components.metal.kubernetes import Kubernetes
from components.metal.objects import kubernetes_deployment, kubernetes_object, kubernetes_secret
from deploykit.manifest.model import Role, Service
from deploykit.manifest.naming import archiver_user
from deploykit.metal import k8s
from deploykit.metal.backup import kit_image

__all__ = ["Apps", "AppsArgs"]


@dataclass(frozen=True)
class AppsArgs(ServicesArgs):
    namespace: str
    kubernetes: Kubernetes


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
        for bus in args.manifest.sql_archived():
            self._deploy_archiver(bus)
        self.prometheus_token = self._prometheus_access()
        self.register_outputs({"namespace": args.namespace})

    def _opts(self, *depends_on: pulumi.Resource) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(
            parent=self, provider=self.args.kubernetes.provider, depends_on=list(depends_on)
        )

    def _workload(
        self,
        name: str,
        env: pulumi.Output[dict[str, str]],
        deployment: Callable[[str], dict[str, Any]],
    ) -> None:
        """The Secret of `name` (its environment and the CA) and its Deployment, made by
        `deployment` from the Secret's checksum (a change rolls the pods)."""
        args, system, ns = self.args, self.args.manifest.system, self.args.namespace
        secret_obj = pulumi.Output.all(env, args.ca_certificate).apply(
            lambda v: k8s.app_secret(ns, system, name, v[0], v[1])
        )
        secret = kubernetes_secret(
            f"{self.name}-{name}-secret", secret_obj, self._opts(self.namespace)
        )
        checksum = pulumi.Output.secret(secret_obj.apply(lambda o: k8s.checksum(o["stringData"])))
        kubernetes_deployment(
            f"{self.name}-{name}-deployment",
            pulumi.Output.unsecret(checksum.apply(deployment)),
            self._opts(self.namespace, secret, *args.depends_on),
        )

    def _deploy(self, name: str, service: Service) -> None:
        args, system, ns = self.args, self.args.manifest.system, self.args.namespace
        self._workload(
            name,
            args.environment(name),
            lambda c: k8s.deployment(ns, system, name, service, c),
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

    def _deploy_archiver(self, bus: str) -> None:
        args, system, ns = self.args, self.args.manifest.system, self.args.namespace
        image = kit_image(args.manifest, args.settings.backup)
        self._workload(
            archiver_user(bus),
            args.archiver_environment(bus),
            lambda c: k8s.archiver_deployment(ns, system, bus, image, c),
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
