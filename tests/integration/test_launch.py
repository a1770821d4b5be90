"""A Python service behind its gate (deploykit/local/launch.py): it runs on "go" and only then,
as `python -m` or `python SCRIPT` would, in the process that was started."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from deploykit.local.launch import GO, launcher_argv
from deploykit.testing.polling import wait_until

pytestmark = pytest.mark.integration

SCRIPT = """import sys
from pathlib import Path
Path(sys.argv[1]).write_text(" ".join(sys.argv[1:]) + " " + __name__)
"""


def test_python_modules_and_scripts_are_launched_behind_the_gate_and_the_rest_as_is() -> None:
    python = sys.executable
    gated = [python, "-m", "deploykit.local.launch", "7"]
    assert launcher_argv([python, "-m", "apps.gateway", "--x"], 7) == [
        *gated,
        "-m",
        "apps.gateway",
        "--x",
    ]
    assert launcher_argv([python, "serve.py"], 7) == [*gated, "serve.py"]
    assert launcher_argv([python, "-u", "-m", "apps.gateway"], 7) is None  # options: as is
    assert launcher_argv([python, "-m"], 7) is None
    assert launcher_argv(["node", "server.js"], 7) is None
    assert launcher_argv(["python3", "serve.py"], 7) is None  # not this interpreter


def _launch(tmp_path: Path, target: list[str]) -> tuple[subprocess.Popen[bytes], int]:
    gate, go = os.pipe()
    argv = launcher_argv([sys.executable, *target], gate)
    assert argv is not None
    child = subprocess.Popen(argv, cwd=tmp_path, pass_fds=(gate,))
    os.close(gate)
    return child, go


def test_the_service_runs_on_go_with_its_own_arguments(tmp_path: Path) -> None:
    (tmp_path / "service.py").write_text(SCRIPT)
    out = tmp_path / "ran"
    child, go = _launch(tmp_path, ["service.py", str(out), "extra"])
    assert child.poll() is None and not out.exists()  # waiting for its turn
    os.write(go, GO)
    os.close(go)
    assert child.wait(timeout=60) == 0
    assert out.read_text() == f"{out} extra __main__"


def test_a_module_runs_on_go_as_python_m_runs_it(tmp_path: Path) -> None:
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "__init__.py").write_text("")
    (tmp_path / "svc" / "__main__.py").write_text(SCRIPT)
    out = tmp_path / "ran"
    child, go = _launch(tmp_path, ["-m", "svc", str(out)])
    os.write(go, GO)
    os.close(go)
    assert child.wait(timeout=60) == 0
    assert out.read_text() == f"{out} __main__"


def test_a_gate_closed_without_go_ends_the_service_before_it_runs(tmp_path: Path) -> None:
    (tmp_path / "service.py").write_text(SCRIPT)
    out = tmp_path / "ran"
    child, go = _launch(tmp_path, ["service.py", str(out)])
    os.close(go)  # `dev up` failed before this service's turn
    assert wait_until(lambda: child.poll() is not None, 60, "the launcher to end") is True
    assert child.returncode == 0
    assert not out.exists()
