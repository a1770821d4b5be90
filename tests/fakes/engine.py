"""A fake Pulumi engine for the small tier: Pulumi's own mock monitor, recording each registration.

`pulumi.runtime.set_mocks` runs programs offline; this adds what the mock monitor does not hand to
`Mocks.new_resource` (parent, dependencies, the outputs a resource asks to keep secret), and
stands in for the providers' computed outputs and data-source lookups with fixed values.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.runtime.mocks import MockMonitor

__all__ = ["Engine", "Registration", "plain", "run"]

_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # how the wire format marks a secret value


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get("4dabf18193072939515e22adb298388d") == _SECRET_SIG


def plain(value: Any) -> Any:
    """An input as the program gave it, secret markers removed."""
    if _is_secret(value):
        return plain(value["value"])
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


@dataclass
class Registration:
    type: str
    name: str
    urn: str
    parent: str
    inputs: dict[str, Any]
    dependencies: list[str]
    secret_outputs: list[str]
    provider: str

    def input(self, key: str) -> Any:
        return plain(self.inputs.get(key))

    def is_secret(self, key: str) -> bool:
        return _is_secret(self.inputs.get(key))


def _computed(typ: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """The outputs a real provider would compute, fixed, so the program can use them."""
    values = plain(inputs)
    small = "pulumi-python:dynamic/small:"
    if typ == small + "SynadiaAccount":
        return {"public_key": f"A-{values['name']}"}
    if typ == small + "SynadiaUser":
        return {"creds": f"--creds of {values['name']}--", "public_key": f"U-{values['name']}"}
    if typ == small + "NeonProject":
        return {
            "branch_id": "br-test",
            "admin_database": "neondb",
            "admin_role": "neondb_owner",
            "admin_uri": "postgresql://neondb_owner:pw@ep-test.neon.tech/neondb",
        }
    if typ == small + "NeonRole":
        return {"password": f"pw-{values['name']}"}
    if typ == small + "NeonDatabase":
        return {"uri": f"postgresql://{values['owner']}:pw@ep-test.neon.tech/{values['name']}"}
    if typ == small + "RailwayProject":
        return {"environment_id": "env-test"}
    if typ == small + "RailwayService":
        return {"deployment_id": f"dep-{values['name']}"}
    if typ == "grafana:cloud/stack:Stack":
        return _stack(values["slug"], f"{name}-id")
    if typ == "grafana:cloud/stackServiceAccountToken:StackServiceAccountToken":
        return {"key": "glsa_test_key"}
    if typ == "grafana:cloud/accessPolicy:AccessPolicy":
        return {"policy_id": "policy-test"}
    if typ == "grafana:cloud/accessPolicyToken:AccessPolicyToken":
        return {"token": "glc_test_token"}
    return {}


def _stack(slug: str, stack_id: str) -> dict[str, Any]:
    return {
        "id": stack_id,
        "slug": slug,
        "url": f"https://{slug}.grafana.net",
        "region_slug": "prod-us-east-0",
        "otlp_url": "https://otlp-gateway-prod-us-east-0.grafana.net/otlp",
        "prometheus_url": "https://prometheus-prod-13-prod-us-east-0.grafana.net",
    }


class Engine(pulumi.runtime.Mocks):
    """Mocks whose monitor records every registration by name, and every invoke."""

    def __init__(self) -> None:
        self.registrations: dict[str, Registration] = {}
        self.invokes: list[tuple[str, dict[str, Any]]] = []
        self.exports: dict[str, tuple[Any, bool]] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", {**args.inputs, **_computed(args.typ, args.name, args.inputs)}

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        self.invokes.append((args.token, dict(args.args)))
        if args.token == "grafana:cloud/getStack:getStack":
            return _stack(args.args["slug"], "4242")
        if args.token == "grafana:oss/getDataSource:getDataSource":
            return {"uid": "grafanacloud-prom", "name": args.args["name"]}
        return {}

    def of_type(self, typ: str) -> list[Registration]:
        return [r for r in self.registrations.values() if r.type == typ]

    def by_urn(self, urn: str) -> Registration:
        return next(r for r in self.registrations.values() if r.urn == urn)


class _RecordingMonitor(MockMonitor):
    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.engine = engine

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        inputs = pulumi.runtime.rpc.deserialize_properties(request.object)
        self.engine.registrations[request.name] = Registration(
            type=request.type,
            name=request.name,
            urn=response.urn,
            parent=request.parent,
            inputs=inputs,
            dependencies=list(request.dependencies),
            secret_outputs=list(request.additionalSecretOutputs),
            provider=request.provider,
        )
        return response


def run(program: Callable[[], Any], config: dict[str, str], secrets: list[str]) -> Engine:
    """Run `program` under the mocks with this stack config, until every resource registered.

    Stack exports land in `engine.exports` as name → (value, is it secret).
    """
    engine = Engine()
    asyncio.set_event_loop(asyncio.new_event_loop())  # earlier tests may have closed theirs
    pulumi.runtime.set_all_config(config, secrets)
    monitor = _RecordingMonitor(engine)
    pulumi.runtime.set_mocks(
        engine, project="deploykit", stack="small", preview=False, monitor=monitor
    )
    exported: dict[str, pulumi.Output[Any]] = {}
    original = pulumi.export
    pulumi.export = lambda name, value: exported.__setitem__(name, pulumi.Output.from_input(value))

    async def settle() -> None:
        for name, output in exported.items():
            engine.exports[name] = (await output.future(), await output.is_secret())

    @pulumi.runtime.test
    def everything() -> Any:
        program()
        return pulumi.Output.from_input(asyncio.ensure_future(settle()))

    try:
        everything()
    finally:
        pulumi.export = original
    return engine
