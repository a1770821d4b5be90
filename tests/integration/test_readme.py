"""Every command the README shows is run, in order, as a newcomer would run it (Typer's rule:
the documentation is tested). `scripts/test` is the one exception: it is what runs this test."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NOT_RUN_HERE = {"scripts/test"}


def console_blocks(text: str) -> list[list[str]]:
    return [block.splitlines() for block in re.findall(r"```console\n(.*?)```", text, re.S)]


def commands(text: str) -> list[tuple[str, list[str]]]:
    """(command, the output lines the README shows under it), in the README's order."""
    found: list[tuple[str, list[str]]] = []
    for block in console_blocks(text):
        for line in block:
            if line.startswith("$ "):
                found.append((line[2:].split("  #")[0].strip(), []))
            elif found:
                found[-1][1].append(line)
    return found


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A checkout as a newcomer has it: the project files, with this checkout's .venv."""
    for name in ("deploykit.yaml", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    for name in ("apps", "scripts", "templates", ".venv"):
        (tmp_path / name).symlink_to(ROOT / name)
    return tmp_path


def test_the_readme_shows_commands() -> None:
    shown = [c for c, _ in commands((ROOT / "README.md").read_text())]
    assert shown[:2] == ["scripts/dev", "scripts/test"]
    assert len(shown) >= 10


def test_every_readme_command_runs(project: Path) -> None:
    env = {
        **os.environ,
        "PATH": f"{project / '.venv' / 'bin'}:{os.environ['PATH']}",
        "COLUMNS": "200",
    }
    ran = []
    try:
        for command, shown in commands((ROOT / "README.md").read_text()):
            if command in NOT_RUN_HERE:
                continue
            result = subprocess.run(
                command,
                shell=True,
                cwd=project,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                stdin=subprocess.DEVNULL,
            )
            assert result.returncode == 0, f"$ {command}\n{result.stdout}\n{result.stderr}"
            assert "Traceback" not in result.stderr, command
            if command == "deploykit validate":
                assert result.stdout.splitlines() == shown
            ran.append(command)
    finally:
        subprocess.run(
            [str(project / ".venv/bin/deploykit"), "dev", "down", "--wipe"],
            cwd=project,
            capture_output=True,
            timeout=120,
            check=False,
        )
    assert "scripts/dev" in ran and "deploykit nats apply --outputs .deploykit/outputs.json" in ran
