"""`deploykit contracts diff`: breaking contract changes named, with whom they break."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from deploykit.cli import app
from deploykit.describe.compat import diff_contracts
from deploykit.manifest.load import parse_manifest
from deploykit.manifest.model import Manifest

ROOT = Path(__file__).resolve().parents[2]
# Through JSON, so that the YAML anchors (one Account schema for an event and two replies)
# become separate copies that a test can change one at a time.
BASE: dict[str, Any] = json.loads(json.dumps(yaml.safe_load((ROOT / "deploykit.yaml").read_text())))


def _manifest(change: Any = None) -> Manifest:
    data = copy.deepcopy(BASE)
    if change:
        change(data)
    return parse_manifest(yaml.safe_dump(data), "deploykit.yaml")


def _created(data: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = data["contracts"]["accounts.events.created"]["schema"]
    return schema


def test_no_change_is_no_change() -> None:
    assert diff_contracts(_manifest(), _manifest()) == []


def test_a_removed_required_field_breaks_the_consumers() -> None:
    def change(d: dict[str, Any]) -> None:
        _created(d)["required"] = ["id"]
        del _created(d)["properties"]["email"]

    [found] = diff_contracts(_manifest(), _manifest(change))
    assert (found.subject, found.part, found.path) == (
        "accounts.events.created",
        "schema",
        "$.email",
    )
    assert found.breaking and found.direction == "forward"
    assert found.breaks == ("projector", "welcome")


def test_an_added_optional_field_is_safe() -> None:
    def change(d: dict[str, Any]) -> None:
        _created(d)["properties"]["plan"] = {"type": "string"}

    [found] = diff_contracts(_manifest(), _manifest(change))
    assert found.path == "$.plan" and not found.breaking and found.breaks == ()


def test_a_field_made_required_breaks_readers_of_the_history() -> None:
    def change(d: dict[str, Any]) -> None:
        _created(d)["required"] = ["id", "email", "created_at"]

    [found] = diff_contracts(_manifest(), _manifest(change))
    assert found.direction == "backward" and "became required" in found.what
    assert found.breaks == ("accounts", "projector", "welcome")


def test_retyped_and_narrowed_enum_fields_break() -> None:
    def before(d: dict[str, Any]) -> None:
        _created(d)["properties"]["tier"] = {"enum": ["free", "pro", "team"]}

    def after(d: dict[str, Any]) -> None:
        _created(d)["properties"]["tier"] = {"enum": ["free", "pro"]}
        _created(d)["properties"]["email"] = {"type": "integer"}

    found = {(c.path, c.direction) for c in diff_contracts(_manifest(before), _manifest(after))}
    assert found == {("$.email", "forward"), ("$.email", "backward"), ("$.tier", "backward")}


def test_a_request_change_names_the_service_and_its_callers() -> None:
    def change(d: dict[str, Any]) -> None:
        d["contracts"]["accounts.rpc.get"]["request"]["required"] = ["id", "name"]

    [found] = diff_contracts(_manifest(), _manifest(change))
    assert found.part == "request" and found.breaks == ("accounts", "gateway")


def test_the_command_compares_with_a_file_and_exits_1_on_breaking(tmp_path: Path) -> None:
    old = tmp_path / "old.yaml"
    old.write_text(yaml.safe_dump(BASE))
    new_data = copy.deepcopy(BASE)
    _created(new_data)["required"] = ["id"]
    new = tmp_path / "new.yaml"
    new.write_text(yaml.safe_dump(new_data))
    runner = CliRunner()
    done = runner.invoke(app, ["contracts", "diff", "-f", str(new), "--against", str(old)])
    assert done.exit_code == 1
    assert (
        "BREAKING accounts.events.created schema $.email: required field no longer required"
        in done.output
    )
    assert "contracts: 1 breaking, 0 safe" in done.output
    same = runner.invoke(app, ["contracts", "diff", "-f", str(old), "--against", str(old)])
    assert same.exit_code == 0 and "no changes" in same.output


def test_the_command_compares_with_a_git_revision(tmp_path: Path) -> None:
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(tmp_path)]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "deploykit.yaml").write_text(yaml.safe_dump(BASE))
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "v1"], check=True)
    data = copy.deepcopy(BASE)
    _created(data)["properties"]["plan"] = {"type": "string"}
    (tmp_path / "deploykit.yaml").write_text(yaml.safe_dump(data))
    done = CliRunner().invoke(
        app, ["contracts", "diff", "HEAD", "-f", str(tmp_path / "deploykit.yaml"), "--json"]
    )
    assert done.exit_code == 0, done.output
    assert '"change": "optional field added"' in done.output
