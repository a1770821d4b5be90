"""The Pulumi program itself (`__main__.py` → `components.program.deploy`), under mocks, with
the committed stack file as its config: what `pulumi up --stack small` would declare."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.program import deploy
from deploykit.errors import ConfigError
from deploykit.stack.outputs import StackOutputs
from deploykit.testing.pulumimocks import SmallTierEngine

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pulumiverse_grafana")

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {
    "deploykit:synadiaToken": "syn-token",
    "deploykit:neonApiKey": "neon-key",
    "deploykit:railwayToken": "railway-token",
    "deploykit:vercelToken": "vercel-token",
    "grafana:cloudAccessPolicyToken": "grafana-token",
}


def stack_config(stack: str) -> dict[str, str]:
    """The stack file's config as the Pulumi engine hands it to a program: strings, objects as JSON."""
    config: dict[str, Any] = yaml.safe_load((ROOT / f"stacks/Pulumi.{stack}.yaml").read_text())[
        "config"
    ]
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()} | {
        "deploykit:manifest": str(ROOT / "deploykit.yaml")
    }


def filled_small_config() -> dict[str, str]:
    """The committed small stack file with the account ids a user sets with `pulumi config set`."""
    config = stack_config("small")
    settings = json.loads(config["deploykit:small"])
    settings["nats"]["systemId"] = "sys-1"
    settings["railway"]["workspaceId"] = "ws-1"
    settings["grafana"]["stackSlug"] = "acme"
    settings["neon"]["orgId"] = "org-acme-1"
    return config | {"deploykit:small": json.dumps(settings)} | SECRETS


def test_the_committed_small_stack_says_which_setting_is_missing() -> None:
    with pytest.raises(ConfigError, match=r"deploykit:small\.nats\.systemId is empty"):
        SmallTierEngine().run(deploy, stack_config("small") | SECRETS, SECRETS, stack="small")


def test_pulumi_up_small_declares_the_tier_and_exports_the_outputs_shape() -> None:
    config = filled_small_config()
    engine = SmallTierEngine().run(deploy, config, SECRETS, stack="small")
    assert [r.name for r in engine.of_type("deploykit:small:SmallTier")] == ["small"]
    assert [r.name for r in engine.of_type("deploykit:nats:JetStreamDefinitions")] == [
        "small-jetstream"
    ]
    exported = {name: value for name, (value, _) in engine.exports.items()}
    assert set(exported) == set(StackOutputs.model_fields)
    assert engine.exports["nats"][1] and engine.exports["database"][1], "credentials must be secret"
    assert exported["target"] == "small"
    gateway = next(s for s in exported["services"] if s["name"] == "gateway")
    assert gateway["url"] == "https://acme-gateway.vercel.app"  # the deployment's, smoke's target
    files = engine.registrations["small-frontends-gateway-deployment"].input("files")
    shipped = {"api/index.py", "vercel.json", "requirements.txt", "apps/gateway/server.py"}
    assert shipped | {"deploykit/runtime/connection.py", "deploykit/runtime/settings.py"} <= set(
        files
    )


def test_a_bad_stack_config_fails_before_any_resource() -> None:
    config = filled_small_config()
    config["deploykit:small"] = json.dumps({"neon": {"pgVersion": 9}})
    with pytest.raises(ConfigError, match=r"deploykit:small\.neon\.pgVersion"):
        SmallTierEngine().run(deploy, config, SECRETS, stack="small")
