"""The launcher of a local stack's Python services (deploykit/local/launch.py): each service is
forked at its turn and only then, and runs as `python -m` or `python SCRIPT` would have run it:
its arguments, its own environment, directory, log and session, with the runtime imported."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from deploykit.local.launch import Launcher, Spec, forkable
from deploykit.local.processes import pid_alive
from deploykit.testing.polling import wait_until

pytestmark = pytest.mark.integration

SCRIPT = """import json, os, sys
from pathlib import Path
print("to the log")
print("and errors too", file=sys.stderr)
Path(sys.argv[1]).write_text(json.dumps({
    "argv": sys.argv, "name": __name__, "cwd": os.getcwd(), "path0": sys.path[0],
    "pid": os.getpid(), "sid": os.getsid(0), "env": dict(os.environ),
    "runtime": "deploykit.runtime" in sys.modules,
}))
"""
BASE = {"PATH": os.environ["PATH"], "PYTHONUNBUFFERED": "1"}


def test_python_modules_and_scripts_run_by_this_interpreter_are_forked_the_rest_not() -> None:
    python = sys.executable
    assert forkable([python, "-m", "apps.gateway", "--x"], BASE, BASE)
    assert forkable([python, "serve.py"], {**BASE, "PORT": "8000"}, BASE)
    assert not forkable([python, "-u", "-m", "apps.gateway"], BASE, BASE)  # options: as is
    assert not forkable([python, "-m"], BASE, BASE)
    assert not forkable(["node", "server.js"], BASE, BASE)
    assert not forkable(["python3", "serve.py"], BASE, BASE)  # not this interpreter
    # the interpreter reads these at its start: a fork would not get them
    assert not forkable([python, "serve.py"], {**BASE, "PYTHONPATH": "lib"}, BASE)
    assert not forkable([python, "serve.py"], {"PATH": BASE["PATH"]}, BASE)


def _spec(tmp_path: Path, name: str, target: list[str], **env: str) -> Spec:
    return Spec(name, target, {**BASE, **env}, str(tmp_path), str(tmp_path / f"{name}.log"))


def _ran(out: Path) -> dict[str, object]:
    wait_until(lambda: out.exists() and out.read_text().endswith("}"), 60, f"{out} written")
    data: dict[str, object] = json.loads(out.read_text())
    return data


def test_a_script_is_forked_on_go_and_runs_as_python_script_would(tmp_path: Path) -> None:
    (tmp_path / "service.py").write_text(SCRIPT)
    out = tmp_path / "ran.json"
    spec = _spec(tmp_path, "svc", ["service.py", str(out), "extra"], SECRET="s3", PORT="81")
    launcher = Launcher([spec], BASE, tmp_path, tmp_path / "launcher.log")
    try:
        assert not out.exists()  # not before its turn
        pid = launcher.go("svc")
        assert pid is not None
        ran = _ran(out)
    finally:
        launcher.close()
    assert ran["argv"] == ["service.py", str(out), "extra"] and ran["name"] == "__main__"
    assert ran["pid"] == pid and ran["sid"] == pid  # its own session: `dev down` stops its group
    assert ran["cwd"] == str(tmp_path) and ran["path0"] == str(tmp_path)
    env = ran["env"]
    assert isinstance(env, dict) and env["SECRET"] == "s3" and env["PORT"] == "81"
    assert set(env) == set(spec.env)  # exactly its own environment
    assert ran["runtime"] is True  # imported once, by the launcher
    wait_until(lambda: not pid_alive(pid), 60, "the service to end")
    log = (tmp_path / "svc.log").read_text()
    assert "to the log" in log and "and errors too" in log


def test_a_module_is_forked_as_python_m_runs_it(tmp_path: Path) -> None:
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "__init__.py").write_text("")
    (tmp_path / "svc" / "__main__.py").write_text(SCRIPT)
    out = tmp_path / "ran.json"
    launcher = Launcher(
        [_spec(tmp_path, "svc", ["-m", "svc", str(out)])], BASE, tmp_path, tmp_path / "l.log"
    )
    try:
        assert launcher.go("svc") is not None
        ran = _ran(out)
    finally:
        launcher.close()
    assert ran["argv"] == [str(tmp_path / "svc" / "__main__.py"), str(out)]
    assert ran["name"] == "__main__" and ran["path0"] == str(tmp_path)


def test_services_whose_turn_never_came_do_not_run(tmp_path: Path) -> None:
    (tmp_path / "service.py").write_text(SCRIPT)
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    launcher = Launcher(
        [
            _spec(tmp_path, "first", ["service.py", str(first)]),
            _spec(tmp_path, "second", ["service.py", str(second)]),
        ],
        BASE,
        tmp_path,
        tmp_path / "launcher.log",
    )
    try:
        assert launcher.go("first") is not None
        _ran(first)
    finally:
        launcher.close()  # `dev up` failed before the second one's turn
    assert launcher.names == {"second"}
    assert not second.exists()


def test_a_dead_launcher_forks_nothing_and_says_so(tmp_path: Path) -> None:
    """`dev up` then starts the service as its own process; the launcher's log says why."""
    (tmp_path / "service.py").write_text(SCRIPT)
    out = tmp_path / "ran.json"
    launcher = Launcher(
        [_spec(tmp_path, "svc", ["service.py", str(out)])],
        {**BASE, "PYTHONHOME": "/nonexistent"},  # its interpreter cannot even start
        tmp_path,
        tmp_path / "launcher.log",
    )
    try:
        assert launcher.go("svc", timeout=60) is None
    finally:
        launcher.close()
    assert not out.exists()
    assert (tmp_path / "launcher.log").read_text().strip()


def test_a_launcher_stuck_before_its_commands_is_killed_on_close(tmp_path: Path) -> None:
    """`dev up` ends even if its launcher hangs (here: in its interpreter's start-up)."""
    (tmp_path / "hang").mkdir()
    (tmp_path / "hang" / "sitecustomize.py").write_text("import time\ntime.sleep(3600)\n")
    env = {**BASE, "PYTHONPATH": str(tmp_path / "hang")}
    launcher = Launcher([_spec(tmp_path, "svc", ["x.py"])], env, tmp_path, tmp_path / "l.log")
    launcher.close(timeout=1)
    assert launcher.ended  # killed, and reaped
