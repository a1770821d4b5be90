"""Kubernetes objects from `deploykit.metal.k8s` dicts to pulumi_kubernetes resources, as they
are: the dict validated in the tests is the dict deployed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

__all__ = ["kubernetes_deployment", "kubernetes_object", "kubernetes_secret"]

_KINDS: dict[str, type[pulumi.CustomResource]] = {
    "Namespace": k8s.core.v1.Namespace,
    "Service": k8s.core.v1.Service,
    "ServiceAccount": k8s.core.v1.ServiceAccount,
    "Secret": k8s.core.v1.Secret,
    "Deployment": k8s.apps.v1.Deployment,
    "Ingress": k8s.networking.v1.Ingress,
    "PodDisruptionBudget": k8s.policy.v1.PodDisruptionBudget,
    "Role": k8s.rbac.v1.Role,
    "RoleBinding": k8s.rbac.v1.RoleBinding,
    "CronJob": k8s.batch.v1.CronJob,
}
_FIELDS = {"roleRef": "role_ref", "stringData": "string_data"}


def kubernetes_object(
    name: str, obj: Mapping[str, Any], opts: pulumi.ResourceOptions
) -> pulumi.CustomResource:
    """The resource for a dict without secret values (anything but a Secret's data)."""
    fields = {
        _FIELDS.get(key, key): value
        for key, value in obj.items()
        if key not in ("apiVersion", "kind")
    }
    return _KINDS[obj["kind"]](name, opts=opts, **fields)


def kubernetes_secret(
    name: str, obj: pulumi.Output[Mapping[str, Any]], opts: pulumi.ResourceOptions
) -> k8s.core.v1.Secret:
    """A Secret from a dict whose values are only known later (and are secret)."""
    return k8s.core.v1.Secret(
        name,
        metadata=obj.apply(lambda o: o["metadata"]),
        type=obj.apply(lambda o: o["type"]),
        string_data=pulumi.Output.secret(obj.apply(lambda o: o["stringData"])),
        opts=opts,
    )


def kubernetes_deployment(
    name: str, obj: pulumi.Output[Mapping[str, Any]], opts: pulumi.ResourceOptions
) -> k8s.apps.v1.Deployment:
    """A Deployment whose pod template carries a checksum known only once its Secret is."""
    return k8s.apps.v1.Deployment(
        name,
        metadata=obj.apply(lambda o: o["metadata"]),
        spec=obj.apply(lambda o: o["spec"]),
        opts=opts,
    )
