"""The harness itself, through the real engine: config, secrets, no-op updates, the real CLI."""

from __future__ import annotations

import json

import pulumi
import pytest
from pulumi import automation as auto
from pulumi.dynamic import ConfigureRequest, CreateResult, Resource, ResourceProvider

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


class _Configured(ResourceProvider):
    """Reads its token in `configure`, as the small tier's providers do; keeps only its length."""

    token = ""

    def configure(self, req: ConfigureRequest) -> None:
        self.token = req.config.get("deploykit:token") or ""

    def create(self, props: dict[str, object]) -> CreateResult:
        return CreateResult(id_="configured", outs={"token_length": len(self.token)})


class Configured(Resource):
    token_length: pulumi.Output[int]

    def __init__(self, name: str) -> None:
        super().__init__(_Configured(), name, {"token_length": None})


def test_a_secret_config_value_reaches_configure_and_not_the_state(engine: Engine) -> None:
    def configured() -> None:
        pulumi.export("token_length", Configured("configured").token_length)

    stack = engine.stack("configured", configured, secrets={"token": "t0k3n-value"})
    stack.up()
    assert stack.outputs() == {"token_length": len("t0k3n-value")}
    assert "t0k3n-value" not in stack.state_text()
