"""Secrets made once on the deploying machine and kept, encrypted, in the stack state: passwords,
the stack's CA and the host certificates (`deploykit.metal.tls`, Python's `cryptography`).

`Generated` is a dynamic resource: its value is made on create and never again, so a second
`pulumi up` changes nothing; a host certificate is remade (replaced) when its names or its CA
change. Values are secret outputs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider

from deploykit.metal.tls import new_ca, new_host_certificate, new_password

__all__ = ["Generated", "GeneratedProvider", "generated_secret"]

_IDENTITY = ("kind", "common_name", "names", "ca_certificate")


def generate(props: dict[str, Any]) -> dict[str, str]:
    """The outputs of a new resource of `kind` password | ca | certificate."""
    kind = props["kind"]
    if kind == "password":
        return {"value": new_password(), "certificate": "", "private_key": ""}
    if kind == "ca":
        certificate, key = new_ca(props["common_name"])
    else:
        certificate, key = new_host_certificate(
            props["ca_certificate"], props["ca_key"], props["common_name"], props["names"]
        )
    return {"value": "", "certificate": certificate, "private_key": key}


class GeneratedProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(f"{props['kind']}-{props['common_name']}", {**props, **generate(props)})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [k for k in _IDENTITY if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(replaces), replaces=replaces)


class Generated(Resource, module="metal", name="Generated"):
    """`value` (a password), or `certificate` (public) and `private_key` (secret)."""

    value: pulumi.Output[str]
    certificate: pulumi.Output[str]
    private_key: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        kind: str,
        *,
        common_name: str = "",
        names: Sequence[str] = (),
        ca_certificate: pulumi.Input[str] = "",
        ca_key: pulumi.Input[str] = "",
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "kind": kind,
            "common_name": common_name or name,
            "names": list(names),
            "ca_certificate": ca_certificate,
            "ca_key": pulumi.Output.secret(ca_key),
            "value": None,
            "certificate": None,
            "private_key": None,
        }
        opts = pulumi.ResourceOptions.merge(
            opts,
            pulumi.ResourceOptions(additional_secret_outputs=["value", "private_key", "ca_key"]),
        )
        super().__init__(GeneratedProvider(), name, props, opts)


def generated_secret(name: str, parent: pulumi.Resource) -> pulumi.Output[str]:
    """A random password made once and kept as a secret in the stack state."""
    resource = Generated(name, "password", opts=pulumi.ResourceOptions(parent=parent))
    return pulumi.Output.secret(resource.value)
