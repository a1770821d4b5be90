"""One way to choose a target for every command (`deploykit.stack.target`): where the Pulumi
CLI is found, and `--stack`, `--outputs` and the local stack as each command takes them.

The Pulumi CLI answers here through a stand-in script for the one command the kit runs
(`pulumi stack output --json --show-secrets --stack NAME`), the way the Pulumi CLI documents it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from deploykit.errors import ConfigError
from deploykit.manifest.load import load_manifest
from deploykit.stack.target import BusTarget, bus_targets, find_pulumi, resolve_outputs

ROOT = Path(__file__).resolve().parents[2]
DEPLOYKIT = str(Path(sys.executable).parent / "deploykit")
PASSWORD = "pw-that-must-never-be-printed"
OUTPUTS = {
    "target": "small",
    "system": "acme",
    "nats": {
        "urls": ["nats://127.0.0.1:9"],
        "cluster_size": 3,
        "credentials": {
            f"{role}-{bus}": {
                "account": bus,
                "role": role,
                "user": f"{role}-{bus}",
                "password": PASSWORD,
            }
            for role in ("smoke", "provisioning")
            for bus in ("core", "analytics")
        },
    },
}


def executable(path: Path, text: str = "#!/bin/sh\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME without any Pulumi CLI, and a PATH without one."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    return tmp_path / "home"


def test_find_pulumi_looks_on_path_then_home_then_the_newest_built_version(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert find_pulumi() is None
    cache = home / ".cache" / "deploykit" / "pulumi"
    for version in ("v3.9.0", "v3.260.0", "v3.100.1", "notes"):
        executable(cache / version / "bin" / "pulumi")
    assert find_pulumi() == str(cache / "v3.260.0" / "bin" / "pulumi")
    installed = executable(home / ".pulumi" / "bin" / "pulumi")
    assert find_pulumi() == str(installed)
    on_path = executable(tmp_path / "bin" / "pulumi")
    monkeypatch.setenv("PATH", f"{on_path.parent}{os.pathsep}{os.environ['PATH']}")
    assert find_pulumi() == str(on_path)


def test_a_cache_entry_that_is_not_executable_is_passed_over(home: Path) -> None:
    cache = home / ".cache" / "deploykit" / "pulumi"
    older = executable(cache / "v3.1.0" / "bin" / "pulumi")
    (cache / "v3.2.0" / "bin").mkdir(parents=True)
    (cache / "v3.2.0" / "bin" / "pulumi").write_text("")
    assert find_pulumi() == str(older)


@pytest.fixture()
def fake_pulumi(tmp_path: Path) -> Path:
    """A `pulumi` that records its arguments and folder and prints the outputs of stack `small`."""
    (tmp_path / "outputs.json").write_text(json.dumps(OUTPUTS))
    executable(
        tmp_path / "bin" / "pulumi",
        "#!/bin/sh\n"
        f'echo "$@" > {tmp_path}/argv\n'
        f'echo "$PWD" > {tmp_path}/cwd\n'
        'if [ "$6" != small ]; then echo "error: no stack named \'$6\' found" >&2; exit 255; fi\n'
        f"cat {tmp_path}/outputs.json\n",
    )
    return tmp_path / "bin"


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """A project folder holding the reference manifest, apart from where the command runs."""
    folder = tmp_path / "project"
    folder.mkdir()
    shutil.copy(ROOT / "deploykit.yaml", folder / "deploykit.yaml")
    return folder


def run(*args: str, cwd: Path, path: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if path is not None:
        env["PATH"] = f"{path}{os.pathsep}{env['PATH']}"
    return subprocess.run(
        [DEPLOYKIT, *args], cwd=cwd, capture_output=True, text=True, timeout=60, env=env
    )


@pytest.mark.parametrize(
    "command",
    [
        ["smoke", "--list"],
        ["nats", "plan"],
        ["nats", "apply"],
        ["bench", "--no-progress", "-m", "kv-put"],
    ],
    ids=" ".join,
)
def test_every_command_reads_a_stack_in_the_manifests_folder(
    command: list[str], fake_pulumi: Path, project: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    args = [*command, "-f", str(project / "deploykit.yaml"), "--stack", "small"]
    result = run(*args, cwd=elsewhere, path=fake_pulumi)
    assert (tmp_path / "argv").read_text().split() == [
        "stack",
        "output",
        "--json",
        "--show-secrets",
        "--stack",
        "small",
    ]
    assert (tmp_path / "cwd").read_text().strip() == str(project)
    assert "Traceback" not in result.stderr and PASSWORD not in result.stdout + result.stderr
    if command[0] == "smoke":
        assert result.returncode == 0 and "nats.connect.smoke-core" in result.stdout
    else:  # the outputs were read: the commands went on to connect to their NATS server
        assert result.returncode in (1, 2)
        assert "127.0.0.1:9" in result.stderr, result.stderr


@pytest.mark.parametrize("command", [["smoke"], ["nats", "plan"], ["bench", "--no-progress"]])
def test_a_failing_pulumi_cli_reads_the_same_in_every_command(
    command: list[str], fake_pulumi: Path, project: Path
) -> None:
    result = run(*command, "-f", "deploykit.yaml", "--stack", "nope", cwd=project, path=fake_pulumi)
    assert result.returncode == (1 if command == ["nats", "plan"] else 2)
    assert result.stderr == (
        "--stack nope: `pulumi stack output` failed: error: no stack named 'nope' found\n"
    )


@pytest.mark.parametrize("command", [["smoke"], ["nats", "apply"], ["bench", "--no-progress"]])
def test_without_a_target_every_command_asks_for_the_local_stack(
    command: list[str], project: Path
) -> None:
    result = run(*command, cwd=project)
    assert result.returncode == 2
    assert result.stderr == (
        ".deploykit/outputs.json: no local stack outputs here; start the local stack with "
        "`deploykit dev up`, or pass --outputs FILE or --stack NAME\n"
    )


def test_bus_targets_from_outputs_and_from_a_url(tmp_path: Path) -> None:
    manifest = load_manifest(ROOT / "deploykit.yaml")
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(OUTPUTS))

    def targets(
        url: str | None = None, outputs: Path | None = None, user: str | None = None
    ) -> list[BusTarget]:
        return bus_targets(
            manifest,
            ROOT,
            url=url,
            user=user,
            password=None,
            creds=None,
            stack=None,
            outputs=outputs,
            buses=[],
            cluster_size=None,
        )

    found = targets(outputs=path)
    assert [(t.bus, t.url, t.cluster_size) for t in found] == [
        ("core", "nats://127.0.0.1:9", 3),
        ("analytics", "nats://127.0.0.1:9", 3),
    ]
    assert [t.credential.user for t in found if t.credential] == [
        "provisioning-core",
        "provisioning-analytics",
    ]
    with pytest.raises(ConfigError, match=r"^give exactly one target: --url \(with credentials\)"):
        targets(url="nats://h", outputs=path)
    with pytest.raises(ConfigError, match=r"^--url connects to one account: name its bus"):
        targets(url="nats://h")
    with pytest.raises(ConfigError, match=r"^--user, --password and --creds go with --url"):
        targets(outputs=path, user="u")


def test_stack_and_outputs_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^give --stack NAME or --outputs FILE, not both$"):
        resolve_outputs("small", tmp_path / "outputs.json", tmp_path)


@pytest.mark.parametrize(
    "command",
    [["validate"], ["lint", "--target", "local"], ["render", "permissions"]],
    ids=" ".join,
)
def test_commands_that_take_the_manifest_as_argument_take_f_too(
    command: list[str], project: Path, tmp_path: Path
) -> None:
    manifest = str(project / "deploykit.yaml")
    as_argument = run(*command, manifest, cwd=tmp_path)
    as_option = run(*command, "-f", manifest, cwd=tmp_path)
    assert as_argument.returncode == as_option.returncode == 0, as_option.stderr
    assert as_option.stdout == as_argument.stdout
    twice = run(*command, manifest, "--file", str(tmp_path / "other.yaml"), cwd=tmp_path)
    assert (twice.returncode, twice.stderr) == (
        2,
        f"name the manifest once: {manifest} or -f {tmp_path / 'other.yaml'}, not both\n",
    )
