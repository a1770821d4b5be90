"""A normal (non-editable) install works away from the checkout, and installs only `deploykit`.

The wheel is built from a copy of the checkout (no network: `--no-build-isolation` uses the
setuptools of the test extras) and installed without dependencies into a fresh venv that sees
this venv's site-packages through a path file, as `--system-site-packages` would. The editable
install's import hook lives in a `.pth` file of this venv, which a path line does not run, so
`deploykit` can only come from the new install.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOT_SOURCES = (
    ".git",
    ".venv",
    ".deploykit",
    "build",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
    ".hypothesis",
)


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv holding the kit installed from its wheel; returns the venv's folder."""
    base = tmp_path_factory.mktemp("install")
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCES))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    wheels = base / "wheels"
    built = _run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), "."], source
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = wheels.glob("deploykit-*.whl")

    venv = base / "venv"
    made = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], base)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    target = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], base
        ).stdout.strip()
    )
    (target / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    done = _run(
        [*pip, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)], base
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return venv


def _site_packages(venv: Path) -> Path:
    (path,) = venv.glob("lib/python3*/site-packages")
    return path


def _file_args(deploykit: Path, command: list[str], manifest: Path) -> list[str]:
    """The manifest given as `-f FILE` where the command takes it, else as its argument."""
    help_text = _run([str(deploykit), *command, "--help"], manifest.parent).stdout
    return ["-f", str(manifest)] if "--file" in help_text else [str(manifest)]


def test_only_deploykit_is_installed(installed: Path) -> None:
    site = _site_packages(installed)
    top_level = sorted(p.name for p in site.iterdir() if not p.name.endswith(".pth"))
    assert [n for n in top_level if not n.startswith("deploykit")] == []
    assert "components" not in top_level and "apps" not in top_level
    (info,) = site.glob("deploykit-*.dist-info")
    assert (info / "top_level.txt").read_text().split() == ["deploykit"]


def test_the_installed_package_ships_and_renders_the_templates(
    installed: Path, tmp_path: Path
) -> None:
    script = (
        "import json\n"
        "from deploykit.configs.templates import TEMPLATES\n"
        "from deploykit.configs.nats import cluster_nodes, render_node_config\n"
        "node = cluster_nodes('t', ['127.0.0.1'], [4222], [8222], [6222], ['/var/t'])[0]\n"
        "files = sorted(str(p.relative_to(TEMPLATES)) for p in TEMPLATES.rglob('*') if p.is_file())\n"
        "print(json.dumps({'folder': str(TEMPLATES), 'files': files,\n"
        "                  'conf': render_node_config(node)}))\n"
    )
    result = _run([str(installed / "bin" / "python"), "-c", script], tmp_path)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert Path(document["folder"]) == _site_packages(installed) / "deploykit" / "templates"
    shipped = sorted(
        str(p.relative_to(ROOT / "templates"))
        for p in (ROOT / "templates").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )
    assert document["files"] == shipped
    assert 'listen: "127.0.0.1:4222"' in document["conf"]
    assert 'store_dir: "/var/t"' in document["conf"]


def test_the_components_and_apps_are_not_importable_from_elsewhere(
    installed: Path, tmp_path: Path
) -> None:
    for name in ("components", "apps"):
        result = _run([str(installed / "bin" / "python"), "-c", f"import {name}"], tmp_path)
        assert "ModuleNotFoundError" in result.stderr, (name, result.stderr)


def test_render_permissions_runs_from_another_folder(installed: Path, tmp_path: Path) -> None:
    deploykit = installed / "bin" / "deploykit"
    manifest = ROOT / "deploykit.yaml"
    command = ["render", "permissions"]
    result = _run([str(deploykit), *command, *_file_args(deploykit, command, manifest)], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "account core (JetStream enabled)" in result.stdout
    assert "user gateway (frontend" in result.stdout
