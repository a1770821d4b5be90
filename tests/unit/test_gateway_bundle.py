"""The gateway's Vercel function is complete as the small tier uploads it: every module of this
repository that `api/index.py` imports is one of the bundle's files, and every distribution it
imports is installed from the bundle's requirements.txt, pinned as in pyproject.toml. A Vercel
function installs requirements.txt and nothing else: the kit itself is not a package there."""

from __future__ import annotations

import importlib.metadata as metadata
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ("apps", "deploykit")
IMPORTED = """
import json, sys
sys.path.insert(0, ".")
import api.index
print(json.dumps({n: getattr(m, "__file__", None) for n, m in list(sys.modules.items())}))
"""


def imported_by_the_function(functions: Path) -> dict[str, str | None]:
    done = subprocess.run(
        [sys.executable, "-c", IMPORTED], cwd=functions, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    modules: dict[str, str | None] = json.loads(done.stdout)
    return modules


# Imported only because the test's environment has them (each importer falls back without):
# nats-py's websocket transport, OpenTelemetry's process resource, setuptools' own hook,
# jsonschema's `json-pointer` format (checked only where jsonpointer is installed).
OPTIONAL = {"aiohttp", "psutil", "setuptools", "jsonpointer"}


def requirement_name(line: str) -> str:
    return re.split(r"[\s\[<>=!~;]", line.strip(), maxsplit=1)[0].lower().replace("_", "-")


def installed_with(requirements: set[str]) -> set[str]:
    """The distributions these requirements install here: each with its extras, and everything
    they require (Windows-only ones left out)."""
    todo, seen = list(requirements), set()
    while todo:
        spec = todo.pop()
        name = requirement_name(spec)
        extras = set(re.findall(r"[\w-]+", spec.partition("[")[2].partition("]")[0]))
        if name in seen:
            continue
        try:
            requires = metadata.distribution(name).requires or []
        except metadata.PackageNotFoundError:  # not for this Python (a marker says so)
            continue
        seen.add(name)
        for requirement in requires:
            wanted, _, marker = requirement.partition(";")
            extra = re.search(r"extra == [\"']([\w-]+)", marker)
            if (extra is None or extra[1] in extras) and "win32" not in marker:
                todo.append(wanted)
    return seen


def test_the_function_imports_the_project_only_from_its_bundle(gateway_function: Path) -> None:
    modules = imported_by_the_function(gateway_function)
    ours = {n: f for n, f in modules.items() if n.split(".")[0] in PROJECT}
    assert "deploykit.runtime.connection" in ours and "apps.gateway.server" in ours
    outside = sorted(
        n for n, f in ours.items() if f and not Path(f).is_relative_to(gateway_function)
    )
    assert outside == [], f"imported from outside the bundle (add to include): {outside}"


def test_the_function_requirements_install_what_it_imports(gateway_function: Path) -> None:
    lines = (ROOT / "apps/gateway/vercel/requirements.txt").read_text().split()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert set(lines) <= set(project["dependencies"]), "pinned as in pyproject.toml"
    installed = installed_with(set(lines)) | installed_with(OPTIONAL)
    owners = metadata.packages_distributions()
    tops = {n.split(".")[0] for n in imported_by_the_function(gateway_function)}
    third_party = tops - set(sys.stdlib_module_names) - set(PROJECT) - {"api", "__main__"}
    missing = sorted(
        f"{top} ({', '.join(owners[top])})"
        for top in third_party
        if top in owners and not {requirement_name(d) for d in owners[top]} & installed
    )
    assert missing == [], f"imported, not installed by requirements.txt: {missing}"
