"""The Kubernetes objects of the apps, as plain dicts: per service a Deployment, a Secret with
its own NATS credentials and database URL, a PodDisruptionBudget, and for a service with a port
a Service (an Ingress too for a frontend with a domain); all in one namespace per stack. The
archivers of the SQL copy (`backup.sql`) are Deployments of the kit's own command.

Pure: the dicts are validated against the Kubernetes schemas in the tests and handed as they
are to pulumi_kubernetes by `components/metal/apps.py`.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from deploykit.backup.sqlcopy import ARCHIVER_COMMAND
from deploykit.manifest.model import Role, Run, Service
from deploykit.manifest.naming import archiver_user
from deploykit.metal import layout

__all__ = [
    "app_secret",
    "archiver_deployment",
    "checksum",
    "deployment",
    "ingress",
    "labels",
    "namespace",
    "pod_disruption_budget",
    "prometheus_access",
    "secret_name",
    "service",
]

Obj = dict[str, Any]
_TLS_DIR = layout.POD_CA_FILE.rsplit("/", 1)[0]
METRICS_PORT = 9464  # the runtime's Prometheus endpoint in every pod (scraped by annotation)


def labels(system: str, name: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/part-of": system,
        "app.kubernetes.io/managed-by": "deploykit",
    }


def _selector(system: str, name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": system}


def _metadata(ns: str, system: str, name: str) -> Obj:
    return {"name": name, "namespace": ns, "labels": labels(system, name)}


def secret_name(name: str) -> str:
    return f"{name}-deploykit"


def checksum(values: Mapping[str, str]) -> str:
    """Changes with any value: in the pod template, it rolls the pods when the Secret changes."""
    return hashlib.sha256(json.dumps(dict(values), sort_keys=True).encode()).hexdigest()


def namespace(name: str, system: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": labels(system, name)},
    }


def app_secret(ns: str, system: str, name: str, env: Mapping[str, str], ca_pem: str) -> Obj:
    """The service's environment (`naming.service_env`) and the stack's CA certificate."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata(ns, system, secret_name(name)),
        "type": "Opaque",
        "stringData": {**env, "ca.pem": ca_pem},
    }


def deployment(
    ns: str,
    system: str,
    name: str,
    svc: Service,
    secret_checksum: str,
    command: Sequence[str] = (),
) -> Obj:
    """`command`: instead of the image's entrypoint."""
    port = svc.run.port
    annotations = {"deploykit.local/secret-checksum": secret_checksum}
    container: Obj = {
        "name": name,
        "image": svc.run.image,
        "envFrom": [{"secretRef": {"name": secret_name(name)}}],
        "env": [
            {"name": "SSL_CERT_FILE", "value": layout.POD_CA_FILE},
            {"name": "DEPLOYKIT_METRICS_ADDR", "value": f"0.0.0.0:{METRICS_PORT}"},
            # a pod is reached on its own interface (services default to loopback)
            *([{"name": "HOST", "value": "0.0.0.0"}] if "HOST" not in svc.run.env else []),
            *({"name": k, "value": v} for k, v in sorted(svc.run.env.items())),
        ],
        "resources": {
            "requests": {"cpu": svc.resources.cpu, "memory": svc.resources.memory},
            "limits": {"memory": svc.resources.memory},
        },
        "volumeMounts": [{"name": "tls", "mountPath": _TLS_DIR, "readOnly": True}],
        "securityContext": {"allowPrivilegeEscalation": False},
    }
    if command:
        container["command"] = list(command)
    container["ports"] = [{"name": "metrics", "containerPort": METRICS_PORT}]
    annotations |= {"prometheus.io/scrape": "true", "prometheus.io/port": str(METRICS_PORT)}
    if port:
        probe = {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 5}
        container |= {
            "ports": [{"name": "http", "containerPort": port}, *container["ports"]],
            "readinessProbe": probe,
            "livenessProbe": {**probe, "periodSeconds": 10, "failureThreshold": 6},
        }
    selector = _selector(system, name)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(ns, system, name),
        "spec": {
            "replicas": svc.replicas,
            "selector": {"matchLabels": selector},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {"labels": labels(system, name), "annotations": annotations},
                "spec": {
                    "containers": [container],
                    "volumes": [
                        {
                            "name": "tls",
                            "secret": {
                                "secretName": secret_name(name),
                                "items": [{"key": "ca.pem", "path": "ca.pem"}],
                            },
                        }
                    ],
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": selector},
                        }
                    ],
                },
            },
        },
    }


def archiver_deployment(ns: str, system: str, bus: str, image: str, secret_checksum: str) -> Obj:
    """The archiver of `bus`: one pod of `image` (it has deploykit) running the kit's archiver,
    with its Secret (`app_secret` of `archiver-<bus>`) like a worker's."""
    svc = Service(role=Role.WORKER, bus=bus, run=Run(image=image))
    command = shlex.split(ARCHIVER_COMMAND)
    return deployment(ns, system, archiver_user(bus), svc, secret_checksum, command)


def service(ns: str, system: str, name: str, port: int) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(ns, system, name),
        "spec": {
            "selector": _selector(system, name),
            "ports": [{"name": "http", "port": port, "targetPort": "http"}],
        },
    }


def ingress(ns: str, system: str, name: str, domain: str, ingress_class: str | None) -> Obj:
    spec: Obj = {
        "rules": [
            {
                "host": domain,
                "http": {
                    "paths": [
                        {
                            "path": "/",
                            "pathType": "Prefix",
                            "backend": {"service": {"name": name, "port": {"name": "http"}}},
                        }
                    ]
                },
            }
        ]
    }
    if ingress_class:
        spec["ingressClassName"] = ingress_class
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": _metadata(ns, system, name),
        "spec": spec,
    }


def pod_disruption_budget(ns: str, system: str, name: str) -> Obj:
    """One pod at a time may be evicted (a node drain never takes a service down whole when it
    has several replicas, and never blocks forever when it has one)."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _metadata(ns, system, name),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": _selector(system, name)}},
    }


def prometheus_access(ns: str, system: str) -> list[Obj]:
    """What Prometheus (outside the cluster) needs to discover the apps' pods in the namespace:
    a service account allowed to list pods, and a long-lived token for it."""
    name = "prometheus"
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _metadata(ns, system, name)},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": _metadata(ns, system, name),
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["pods", "services", "endpoints"],
                    "verbs": ["get", "list", "watch"],
                }
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": _metadata(ns, system, name),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}],
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                **_metadata(ns, system, f"{name}-token"),
                "annotations": {"kubernetes.io/service-account.name": name},
            },
            "type": "kubernetes.io/service-account-token",
        },
    ]
