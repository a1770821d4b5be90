"""The harness itself, through the real engine: config, secrets, no-op updates, the real CLI."""

from __future__ import annotations

import json

import pulumi
import pytest
from pulumi import automation as auto
from pulumi.dynamic import CreateResult, Resource, ResourceProvider

from deploykit.testing.engine import Engine


class _Echo(ResourceProvider):
    def create(self, props: dict[str, object]) -> CreateResult:
        return CreateResult(id_="echo", outs=dict(props))


class Echo(Resource):
    value: pulumi.Output[str]

    def __init__(self, name: str, value: pulumi.Input[str], token: pulumi.Input[str]) -> None:
        super().__init__(_Echo(), name, {"value": value, "token": token})


def program() -> None:
    config = pulumi.Config()
    echo = Echo("echo", config.require("value"), config.require_secret("token"))
    pulumi.export("value", echo.value)
    pulumi.export("token", config.require_secret("token"))


def test_config_secrets_and_a_second_up(engine: Engine) -> None:
    stack = engine.stack("harness", program, config={"value": "v1"}, secrets={"token": "s3cr3t"})
    assert stack.preview().change_summary == {"create": 2}
    assert stack.up().summary.resource_changes == {"create": 2}
    assert stack.expect_no_changes().summary.resource_changes == {"same": 2}
    assert "s3cr3t" not in stack.state_text()
    shown = json.loads(stack.cli("stack", "output", "--json", "--show-secrets").stdout)
    assert shown == {"token": "s3cr3t", "value": "v1"}

    stack.set_config("value", "v2")
    with pytest.raises(auto.CommandError, match="no changes were expected"):
        stack.expect_no_changes()
    assert stack.destroy().summary.resource_changes == {"delete": 2}
