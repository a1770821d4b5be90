"""`deploykit smoke` on bad input, as a user runs it: one clear line, the right exit code.

The Pulumi CLI cannot be installed here, so `--stack` is tested twice: without any `pulumi`
on PATH, and with a stand-in script that answers the one command smoke runs
(`pulumi stack output --json --show-secrets --stack NAME`) the way the Pulumi CLI documents.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOYKIT = str(Path(sys.executable).parent / "deploykit")
MANIFEST = str(ROOT / "deploykit.yaml")
PASSWORD = "pw-that-must-never-be-printed"
OUTPUTS = {
    "target": "small",
    "system": "acme",
    "nats": {
        "urls": ["nats://127.0.0.1:9"],
        "credentials": {
            "smoke-core": {
                "account": "core",
                "role": "smoke",
                "user": "smoke-core",
                "password": PASSWORD,
            }
        },
    },
}


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DEPLOYKIT, "smoke", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def without_pulumi(tmp_path: Path) -> dict[str, str]:
    """PATH with only the Python of this venv, HOME where no ~/.pulumi exists."""
    env = {k: v for k, v in os.environ.items() if k != "XDG_CACHE_HOME"}
    return {**env, "PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path)}


def test_stack_without_the_pulumi_cli_says_so(tmp_path: Path) -> None:
    result = run("--stack", "small", "--file", MANIFEST, cwd=tmp_path, env=without_pulumi(tmp_path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(
        "--stack small: the Pulumi CLI is not installed (`pulumi` is not on PATH, nor in "
        "~/.pulumi/bin or ~/.cache/deploykit/pulumi)"
    )
    assert "--outputs FILE" in result.stderr


@pytest.fixture()
def fake_pulumi(tmp_path: Path) -> Path:
    """A `pulumi` that records its arguments and prints the outputs of stack `small`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "outputs.json").write_text(json.dumps(OUTPUTS))
    script = bin_dir / "pulumi"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$@" > {tmp_path}/argv\n'
        f'echo "$PWD" > {tmp_path}/cwd\n'
        'if [ "$6" != small ]; then echo "error: no stack named \'$6\' found" >&2; exit 255; fi\n'
        f"cat {tmp_path}/outputs.json\n"
    )
    script.chmod(0o755)
    return bin_dir


def test_stack_reads_the_outputs_with_the_pulumi_cli(tmp_path: Path, fake_pulumi: Path) -> None:
    env = {**os.environ, "PATH": f"{fake_pulumi}:{os.environ['PATH']}"}
    result = run(
        "--stack", "small", "--file", MANIFEST, "--list", "--only", "nats", cwd=tmp_path, env=env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "nats.connect.smoke-core",
        "nats.jetstream.core",
        "nats.jetstream.analytics",
        "nats.cluster",
        "nats.monitor",
    ]
    assert (tmp_path / "argv").read_text().split() == [
        "stack",
        "output",
        "--json",
        "--show-secrets",
        "--stack",
        "small",
    ]
    assert (tmp_path / "cwd").read_text().strip() == str(ROOT)  # the project: the manifest's folder


def test_a_failing_pulumi_cli_is_reported_in_one_line(tmp_path: Path, fake_pulumi: Path) -> None:
    env = {**os.environ, "PATH": f"{fake_pulumi}:{os.environ['PATH']}"}
    result = run("--stack", "nope", "--file", MANIFEST, cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert result.stderr == (
        "--stack nope: `pulumi stack output` failed: error: no stack named 'nope' found\n"
    )


def test_without_a_local_stack_it_says_how_to_start_one(tmp_path: Path) -> None:
    result = run("--file", MANIFEST, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        ".deploykit/outputs.json: no local stack outputs here; start the local stack with "
        "`deploykit dev up`, or pass --outputs FILE or --stack NAME\n"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "file not found"),
        ("{not json", "not a JSON document"),
        ('{"target": "cloud"}', "target: Input should be 'local', 'small' or 'metal'"),
    ],
)
def test_a_bad_outputs_file_is_a_configuration_error(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "outputs.json"
    if content is not None:
        path.write_text(content)
    result = run("--outputs", str(path), "--file", MANIFEST, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_unknown_checks_per_format(tmp_path: Path) -> None:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(OUTPUTS))
    common = ("--outputs", str(path), "--file", MANIFEST, "--only", "nast")
    table = run(*common, cwd=tmp_path)
    assert table.returncode == 2
    assert table.stderr.startswith("unknown check 'nast': give a group (nats, jetstream,")
    nagios = run(*common, "--format", "nagios", cwd=tmp_path)
    assert nagios.returncode == 3
    assert nagios.stdout.startswith("UNKNOWN deploykit_smoke unknown check 'nast'")
    prometheus = run(*common, "--format", "prometheus", cwd=tmp_path)
    assert prometheus.returncode == 0
    assert 'deploykit_smoke_status_code{status="UNKNOWN"} 3\n' in prometheus.stdout
    for result in (table, nagios, prometheus):
        assert PASSWORD not in result.stdout + result.stderr


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    bad_format = run("--format", "xml", "--file", MANIFEST, cwd=tmp_path)
    assert bad_format.returncode == 2 and "'xml' is not one of table" in bad_format.stderr
    both = run("--stack", "a", "--outputs", "b.json", "--file", MANIFEST, cwd=tmp_path)
    assert both.returncode == 2
    assert both.stderr == "give --stack NAME or --outputs FILE, not both\n"


def stopped_local_stack(folder: Path) -> None:
    """The outputs of a local stack of the reference system whose processes all stopped: every
    port it names is free, so nothing answers (a refused connection, at once)."""
    from deploykit.local.plan import plan_outputs
    from deploykit.local.ports import free_ports
    from deploykit.local.state import DevState
    from deploykit.manifest.load import load_manifest

    ports = free_ports(11)
    state = DevState(
        manifest="deploykit.yaml",
        cluster_name="acme",
        nodes=3,
        nats_ports=ports[:9],
        postgres_port=ports[9],
        frontend_ports={"gateway": ports[10]},
    )
    urls = [f"nats://127.0.0.1:{ports[i]}" for i in (0, 3, 6)]
    monitors = [f"http://127.0.0.1:{ports[i]}" for i in (1, 4, 7)]
    outputs = plan_outputs(load_manifest(MANIFEST), state, urls, monitors)
    (folder / ".deploykit").mkdir()
    (folder / ".deploykit" / "outputs.json").write_text(outputs.model_dump_json())


def test_a_stopped_stack_gives_its_root_causes_once_and_a_hint(tmp_path: Path) -> None:
    stopped_local_stack(tmp_path)
    piped = run("--file", MANIFEST, cwd=tmp_path)
    assert piped.returncode == 1, piped.stderr
    shown = piped.stdout.splitlines()
    assert len(shown) < 10, piped.stdout
    assert [line.split()[1] for line in shown if line.startswith("FAIL")] == [
        "nats.connect.smoke-core",
        "database.accounts",
    ]
    assert any(
        line.startswith("SKIP  31 checks ")
        and "not run because nats.connect.smoke-core failed" in line
        for line in shown
    ), piped.stdout
    assert shown[-1].startswith("hint: nothing answers at NATS and database accounts: ")
    assert "`deploykit dev up` starts what is not running" in shown[-1]

    report = json.loads(run("--file", MANIFEST, "--json", cwd=tmp_path).stdout)
    assert report["root_causes"] == ["nats.connect.smoke-core", "database.accounts"]
    blocked = [c["name"] for c in report["checks"] if c["cause"] == "nats.connect.smoke-core"]
    assert len(blocked) == 31 and "roundtrip.stream" in blocked and "services.gateway" in blocked
    nagios = run("--file", MANIFEST, "--format", "nagios", cwd=tmp_path)
    assert nagios.returncode == 2
    assert "(31 not run because of a failure)" in nagios.stdout.splitlines()[0]
    assert nagios.stdout.splitlines()[1].startswith("Hint: nothing answers at NATS")
