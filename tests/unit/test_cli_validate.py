"""`deploykit validate` as a user runs it: the installed console script, exit codes, output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOYKIT = str(Path(sys.executable).parent / "deploykit")


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DEPLOYKIT, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_valid_manifest_prints_one_line_summary() -> None:
    result = run("validate")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines() == [
        "deploykit.yaml: valid: system 'acme': 2 buses, 4 services, 2 streams, 1 kv, "
        "1 object stores, 2 databases"
    ]


def test_invalid_manifest_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "version: 1\nsystem: x\nbuses: {core: {}}\n"
        "streams:\n  A: {subjects: ['a.>'], max_age: 3x}\n"
        "services:\n  gw: {role: frontend, rol: 1}\n"
    )
    result = run("validate", str(bad))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"{bad}: streams.A.max_age: '3x' is not a duration",
        f"{bad}: services.gw.rol: is not a known field (did you mean 'role'? allowed: role, bus, "
        "description, endpoints, calls, emits, consumes, kv, object_stores, database, read_model, "
        "run, replicas, resources)",
    ]


def test_yaml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nbuses: {core: [}\n")
    result = run("validate", str(bad))
    assert result.returncode == 2
    assert result.stderr.startswith(f"{bad}: YAML syntax error at line 2, column 16")


def test_json_output_for_machines(tmp_path: Path) -> None:
    ok = json.loads(run("validate", "--json").stdout)
    assert ok["valid"] is True and ok["services"] == 4
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 3\n")
    result = run("validate", "--json", str(bad))
    assert result.returncode == 2
    problems = json.loads(result.stdout)["problems"]
    assert {
        "file": str(bad),
        "path": "version",
        "message": "3 is not allowed",
        "allowed": "should be 1",
    } in problems


def test_missing_file_exits_2(tmp_path: Path) -> None:
    result = run("validate", str(tmp_path / "none.yaml"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"{tmp_path / 'none.yaml'}: file not found"


def test_help_explains_the_model() -> None:
    result = run("validate", "--help")
    assert result.returncode == 0
    for word in ("buses", "streams", "object_stores", "max_age (required)", "exits 2"):
        assert word in result.stdout
    top = run("--help")
    assert top.returncode == 0 and "validate" in top.stdout


def test_unknown_option_is_a_usage_error() -> None:
    result = run("validate", "--nope")
    assert result.returncode == 2
    assert "No such option" in result.stderr
