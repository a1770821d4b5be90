"""The command line registers, for each command, only the module that defines it."""

from __future__ import annotations

import subprocess
import sys

from typer.main import get_command

from deploykit.cli import COMMANDS, app, build


def _names(command: object) -> set[str]:
    return set(getattr(command, "commands", {}))


def test_every_command_is_in_the_table_with_the_module_that_registers_it() -> None:
    assert _names(get_command(app)) == set(COMMANDS)
    for command, module in COMMANDS.items():
        assert command in _names(get_command(build(command))), f"{module}.py registers {command}"


def test_a_command_imports_only_its_own_module() -> None:
    probe = (
        "import sys; from deploykit.cli import build; build('dev'); "
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('deploykit.cli.'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    loaded = set(done.stdout.split())
    assert "deploykit.cli.dev" in loaded
    assert not loaded & {f"deploykit.cli.{m}" for m in set(COMMANDS.values()) - {"dev"}}
