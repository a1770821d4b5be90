"""`deploykit bench` refuses bad input with one clear line and exit 2, never a traceback, and
never prints a secret. (Runs against real servers are in tests/integration/test_bench.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

DEPLOYKIT = str(Path(sys.executable).parent / "deploykit")
SECRET = "pw-never-shown"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DEPLOYKIT, "bench", "--no-progress", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


@pytest.fixture
def outputs(tmp_path: Path) -> Path:
    """Outputs naming a NATS server nobody listens on, and no database."""
    path = tmp_path / "outputs.json"
    credentials = {
        "smoke-core": {
            "account": "core",
            "role": "smoke",
            "user": "smoke-core",
            "password": SECRET,
        },
        "gateway": {"account": "core", "role": "frontend", "user": "gateway", "password": SECRET},
    }
    path.write_text(
        json.dumps(
            {
                "target": "local",
                "system": "t",
                "nats": {"urls": [f"nats://u:{SECRET}@127.0.0.1:1"], "credentials": credentials},
            }
        )
    )
    return path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-m", "pubsub,nope"], "--mode nope: not a mode (one of pubsub, fanout, service, "),
        (["--clients", "0"], "--clients: Input should be greater than or equal to 1"),
        (["--duration", "soon"], "--duration soon: 'soon' is not a duration"),
        (["--size", "big"], "--size big: 'big' is not a size"),
        (["--user", "gateway"], "--user gateway is a frontend user: bench runs as a smoke user"),
        (["--user", "nobody"], "the stack outputs have no NATS user 'nobody'"),
        (["-m", "db-insert"], "the stack outputs give no database for the db modes"),
        (["--stack", "small"], "give --stack NAME or --outputs FILE, not both"),
        (["-m", "kv-put"], "cannot connect to NATS at nats://127.0.0.1:1 as smoke-core: "),
    ],
)
def test_bad_input_is_one_clear_line(outputs: Path, args: list[str], message: str) -> None:
    result = run("--outputs", str(outputs), *args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(message), result.stderr
    assert "Traceback" not in result.stderr and SECRET not in result.stderr + result.stdout


def test_missing_or_bad_outputs_file(tmp_path: Path) -> None:
    missing = run("--outputs", str(tmp_path / "none.json"))
    assert (missing.returncode, missing.stderr.strip()) == (
        2,
        f"{tmp_path / 'none.json'}: file not found",
    )
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"target": "moon", "system": "t", "nats": {"urls": []}}))
    result = run("--outputs", str(bad))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"{bad}: target: Input should be 'local', 'small' or 'metal'",
        f"{bad}: nats.urls: List should have at least 1 item after validation, not 0",
    ]


def test_stack_without_the_pulumi_cli_says_what_to_do_instead(tmp_path: Path) -> None:
    env = {"PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path)} | {
        k: os.environ[k] for k in ("LANG", "TMPDIR") if k in os.environ
    }
    result = run("--stack", "small", env=env)
    assert result.returncode == 2
    assert result.stderr.startswith("--stack small: the Pulumi CLI is not installed")
    assert "pulumi stack output --stack small --json --show-secrets > outputs.json" in result.stderr
