"""The committed project files are what the docs say: loaded and validated, not just present."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from deploykit.errors import ConfigError
from deploykit.stack.config import MetalConfig, SmallConfig, load_stack_file, parse_stack_config

ROOT = Path(__file__).resolve().parents[2]


def test_pulumi_project_matches_bootstrap() -> None:
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["runtime"]["name"] == "python"
    assert project["runtime"]["options"]["virtualenv"] == ".venv"
    assert project["stackConfigDir"] == "stacks"
    assert "VENV=.venv" in (ROOT / "scripts/bootstrap").read_text()


@pytest.mark.parametrize(("stack", "model"), [("small", SmallConfig), ("metal", MetalConfig)])
def test_committed_stack_files_validate(stack: str, model: type) -> None:
    loaded = load_stack_file(ROOT / f"stacks/Pulumi.{stack}.yaml")
    assert loaded.tier == stack
    assert isinstance(loaded.settings, model)


def test_stack_files_hold_no_secret_values() -> None:
    for path in (ROOT / "stacks").glob("Pulumi.*.yaml"):
        config = yaml.safe_load(path.read_text())["config"]
        for key in ("synadiaToken", "neonApiKey", "railwayToken", "sshPrivateKey", "kubeconfig"):
            assert f"deploykit:{key}" not in config, f"{path.name} has a secret in plain text"
        assert "secure:" not in path.read_text()


def test_every_metal_setting_is_documented_by_a_comment() -> None:
    text = (ROOT / "stacks/Pulumi.metal.yaml").read_text()
    for key in ("hosts", "database", "nats", "kubernetes", "backup", "domains", "roles"):
        line = next(line for line in text.splitlines() if line.strip().startswith(f"{key}:"))
        assert "#" in line, f"{key} has no comment"


METAL = yaml.safe_load((ROOT / "stacks/Pulumi.metal.yaml").read_text())["config"]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (
            lambda m: m["hosts"][0]["roles"].append("mailserver"),
            "deploykit:metal.hosts[0].roles[4]",
        ),
        (lambda m: m.update(hosts=[]), "at least 1 item"),
        (
            lambda m: [
                h["roles"].remove("monitoring") for h in m["hosts"] if "monitoring" in h["roles"]
            ],
            "no host has the role(s) monitoring",
        ),
        (lambda m: m["hosts"][1].update(name="node1"), "host names must be unique"),
        (lambda m: m["database"].update(engine="mysql"), "deploykit:metal.database.engine"),
        (lambda m: m.update(hostz=[]), "deploykit:metal.hostz"),
    ],
)
def test_broken_metal_config_names_the_key(change, fragment: str) -> None:  # type: ignore[no-untyped-def]  # change: a lambda above
    config = yaml.safe_load(yaml.safe_dump(METAL))
    change(config["deploykit:metal"])
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(config, "stacks/Pulumi.metal.yaml")
    assert str(caught.value).startswith("stacks/Pulumi.metal.yaml: ")
    assert fragment in str(caught.value)


def test_tier_section_must_exist() -> None:
    with pytest.raises(ConfigError, match="has no deploykit:metal"):
        parse_stack_config({"deploykit:tier": "metal"}, "stacks/Pulumi.metal.yaml")
