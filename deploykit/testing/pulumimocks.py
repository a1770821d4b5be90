"""The one Pulumi mock engine: Pulumi's own mock runtime, recording every registration and invoke.

`pulumi.runtime.set_mocks` runs a program offline but hands `Mocks.new_resource` neither the
parent, the dependencies nor the outputs a resource asks to keep secret; a recording monitor
keeps those, so tests can assert on the resource graph and on secrecy. Inputs are kept as the
engine receives them: a secret stays wrapped (`is_secret`), `plain` takes the wrapping off.

What a provider would compute is a hook (`Engine.computed`, `Engine.answer`): the plain `Engine`
echoes the inputs back, `SmallTierEngine` stands in for the small tier's providers with fixed
values, and a test may subclass it (the metal tests run the local commands for real).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Self

import pulumi
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor

from deploykit.small.database import archive_url
from deploykit.toolchain.pickling import keep_pickler_shallow

__all__ = ["Engine", "Registration", "SmallTierEngine", "is_secret", "plain", "strings"]

STACK = "pulumi:pulumi:Stack"


def is_secret(value: Any) -> bool:
    """Whether an input reached the engine as a secret."""
    return isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig


def plain(value: Any) -> Any:
    """An input as the program gave it, secret markers removed."""
    if is_secret(value):
        return plain(value["value"])
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def strings(value: Any) -> Iterator[str]:
    """Every string in an input, except inside a secret (`strings(plain(v))`: every string)."""
    if is_secret(value):
        return
    if isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif isinstance(value, str):
        yield value


@dataclass
class Registration:
    """One resource as the engine saw it registered."""

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
        return is_secret(self.inputs.get(key))


class Engine(pulumi.runtime.Mocks):
    """Mocks that record every resource by name (the root stack apart), every invoke, and the
    stack's exports; `run` a program under them."""

    def __init__(self) -> None:
        self.registrations: dict[str, Registration] = {}
        self.stack: Registration | None = None  # the first run in a process registers one
        self.invokes: list[tuple[str, dict[str, Any]]] = []
        self.exports: dict[str, tuple[Any, bool]] = {}

    def computed(self, args: pulumi.runtime.MockResourceArgs) -> dict[str, Any]:
        """The outputs a provider would compute beyond the inputs; none by default."""
        return {}

    def answer(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        """What an invoke (a data source lookup) returns; nothing by default."""
        return {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", {**args.inputs, **self.computed(args)}

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        self.invokes.append((args.token, dict(args.args)))
        return self.answer(args), []  # no check failures (the SDK iterates them: not None)

    def of_type(self, typ: str) -> list[Registration]:
        return [r for r in self.registrations.values() if r.type == typ]

    def by_urn(self, urn: str) -> Registration:
        everything = [*self.registrations.values(), *([self.stack] if self.stack else [])]
        for registration in everything:
            if registration.urn == urn:
                return registration
        raise KeyError(f"no resource was registered as {urn}")

    def closure(self, urn: str) -> set[str]:
        """Every URN `urn` waits for, directly or through what it waits for."""
        known = {r.urn: r for r in self.registrations.values()}
        seen: set[str] = set()
        todo = [urn]
        while todo:
            for dep in known[todo.pop()].dependencies:
                if dep not in seen and dep in known:
                    seen.add(dep)
                    todo.append(dep)
        return seen

    def record(self, registration: Registration) -> None:
        if registration.type == STACK:
            self.stack = registration
            return
        if registration.name in self.registrations:  # lookups by name would miss one
            raise AssertionError(f"two resources are named {registration.name!r}")
        self.registrations[registration.name] = registration

    def run(
        self,
        program: Callable[[], object],
        config: Mapping[str, str] | None = None,
        secrets: Iterable[str] = (),
        *,
        stack: str = "test",
    ) -> Self:
        """Run `program` under these mocks with this stack config until every resource
        registered and whatever it returns (an Output, say one that asserts) has resolved.

        Stack exports land in `exports` as name → (value, is it secret).
        """
        keep_pickler_shallow()
        asyncio.set_event_loop(asyncio.new_event_loop())  # earlier tests may have closed theirs
        pulumi.runtime.set_all_config(dict(config or {}), list(secrets))
        pulumi.runtime.set_mocks(
            self, project="deploykit", stack=stack, preview=False, monitor=_Recorder(self)
        )
        exported: dict[str, pulumi.Output[Any]] = {}
        original = pulumi.export
        pulumi.export = lambda name, value: exported.__setitem__(
            name, pulumi.Output.from_input(value)
        )

        async def settle() -> None:
            for name, output in exported.items():
                self.exports[name] = (await output.future(), await output.is_secret())

        @_runs_to_completion
        def everything() -> pulumi.Output[Any]:
            result = pulumi.Output.from_input(program())
            settled: pulumi.Output[None] = pulumi.Output.from_input(asyncio.ensure_future(settle()))
            return pulumi.Output.all(result, settled)

        try:
            everything()
        finally:
            pulumi.export = original
        return self


# `pulumi.runtime.test`, typed: runs the function under the mocks until its Output resolves.
_runs_to_completion: Callable[[Callable[[], pulumi.Output[Any]]], Callable[[], None]] = (
    pulumi.runtime.test
)


class _Recorder(MockMonitor):
    """The mock monitor, keeping what the engine would see: parents, dependencies, secrecy."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.engine = engine

    def RegisterResource(self, request: Any) -> Any:  # the gRPC method's name
        register: Callable[[Any], Any] = super().RegisterResource  # the SDK leaves it untyped
        response = register(request)
        self.engine.record(
            Registration(
                type=request.type,
                name=request.name,
                urn=response.urn,
                parent=request.parent,
                inputs=rpc.deserialize_properties(request.object),
                dependencies=list(request.dependencies),
                secret_outputs=list(request.additionalSecretOutputs),
                provider=request.provider,
            )
        )
        return response


class SmallTierEngine(Engine):
    """Stands in for the small tier's providers (the kit's dynamic providers for Synadia, Neon,
    Railway and Vercel, and Grafana Cloud) with fixed computed outputs and data-source lookups."""

    def computed(self, args: pulumi.runtime.MockResourceArgs) -> dict[str, Any]:
        values = plain(args.inputs)
        match args.typ:
            case "pulumi-python:dynamic/small:SynadiaAccount":
                return {"public_key": f"A-{values['name']}"}
            case "pulumi-python:dynamic/small:SynadiaUser":
                return {
                    "creds": f"--creds of {values['name']}--",
                    "public_key": f"U-{values['name']}",
                }
            case "pulumi-python:dynamic/small:NeonProject":
                return {
                    "branch_id": "br-test",
                    "admin_database": "neondb",
                    "admin_role": "neondb_owner",
                    "admin_uri": "postgresql://neondb_owner:pw@ep-test.neon.tech/neondb",
                }
            case "pulumi-python:dynamic/small:NeonRole":
                return {"password": f"pw-{values['name']}"}
            case "pulumi-python:dynamic/small:NeonDatabase":
                owner, name = values["owner"], values["name"]
                return {"uri": f"postgresql://{owner}:pw@ep-test.neon.tech/{name}"}
            case "pulumi-python:dynamic/small:ArchiveTable":
                return {
                    "password": "pw-archiver",
                    "url": archive_url(values["owner_uri"], "pw-archiver"),
                }
            case "pulumi-python:dynamic/small:RailwayProject":
                return {"environment_id": "env-test"}
            case "pulumi-python:dynamic/small:RailwayService":
                return {"deployment_id": f"dep-{values['name']}"}
            case "pulumi-python:dynamic/small:VercelDeployment":
                return {"url": f"https://{values['project_name']}.vercel.app"}
            case "grafana:cloud/stack:Stack":
                return _grafana_stack(values["slug"], f"{args.name}-id")
            case "grafana:cloud/stackServiceAccountToken:StackServiceAccountToken":
                return {"key": "glsa_test_key"}
            case "grafana:cloud/accessPolicy:AccessPolicy":
                return {"policy_id": "policy-test"}
            case "grafana:cloud/accessPolicyToken:AccessPolicyToken":
                return {"token": "glc_test_token"}
        return {}

    def answer(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        if args.token == "grafana:cloud/getStack:getStack":
            return _grafana_stack(args.args["slug"], "4242")
        if args.token == "grafana:oss/getDataSource:getDataSource":
            return {"uid": "grafanacloud-prom", "name": args.args["name"]}
        return {}


def _grafana_stack(slug: str, stack_id: str) -> dict[str, Any]:
    return {
        "id": stack_id,
        "slug": slug,
        "url": f"https://{slug}.grafana.net",
        "region_slug": "prod-us-east-0",
        "otlp_url": "https://otlp-gateway-prod-us-east-0.grafana.net/otlp",
        "prometheus_url": "https://prometheus-prod-13-prod-us-east-0.grafana.net",
    }
