"""The apps' code for hosts without the internet: one reproducible tar.gz, made on the deploying
machine from what is installed there. Effectful (reads the project and the environment).

Why this and not a wheelhouse: `pip wheel` + `pip install --no-index` on the host needs pip and
venv on every host (not in a minimal Debian) and builds wheels on each deploy; the packages the
deploying environment already has installed need nothing on the host but Python 3 itself. The
bundle holds the project's packages (those of the services' entry modules, and `deploykit`) and, of the installed third-party
distributions, exactly those the services' entry modules import (found by importing, in a
child process, each entry package and what its `__main__` imports, without running it), each
distribution whole with its requirements. Compiled extensions come along as built for
the deploying machine, so its Python minor version and architecture must be the hosts'
(3.11 on amd64 for Debian 12), which `build_bundle` checks against `python`.

The archive is byte-for-byte the same for the same inputs (sorted entries, no timestamps, no
owners), so its digest changes only when the code does and a second `pulumi up` uploads and
restarts nothing.
"""

from __future__ import annotations

import ast
import gzip
import hashlib
import importlib.metadata as metadata
import importlib.util
import io
import json
import os
import re
import shlex
import subprocess
import sys
import tarfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib.machinery import ModuleSpec
from pathlib import Path

from deploykit.cli import COMMANDS
from deploykit.errors import ConfigError

__all__ = ["Bundle", "build_bundle", "entry_modules"]

PROJECT_PACKAGES = ("deploykit",)  # besides the packages of the services' entry modules
_NOT_RUNTIME = {"deploykit", "setuptools", "pip", "wheel"}  # packaging tools, or the project
_SKIP = ("__pycache__",)


@dataclass(frozen=True)
class Bundle:
    path: Path
    digest: str  # sha256 of the archive
    python: str  # the minor version it was made for, e.g. "3.11"


def entry_modules(commands: Iterable[str]) -> list[str]:
    """`python -m apps.gateway` → `apps.gateway`; a command of another shape is refused."""
    modules = []
    for command in commands:
        argv = shlex.split(command)
        if len(argv) < 3 or argv[0] not in ("python", "python3") or argv[1] != "-m":
            raise ConfigError(
                f"run.command {command!r}: with apps: systemd a service runs as "
                "`python -m <module> [args]`"
            )
        modules.append(argv[2])
    return sorted(set(modules))


_LIST_MODULES = """
import importlib, json, sys
for name in json.loads(sys.argv[1]):
    importlib.import_module(name)
if "deploykit.runtime" in sys.modules:  # and what the runtime imports only when a service uses it
    from deploykit.runtime.settings import ON_USE
    for name in ON_USE:
        importlib.import_module(name)
files = {n: getattr(m, "__file__", None) for n, m in list(sys.modules.items())}
print(json.dumps({"tops": sorted({n.split(".")[0] for n in files}),
                  "deploykit": sorted(f for n, f in files.items() if f and n.split(".")[0] == "deploykit")}))
"""


def _main_of(module: str) -> ModuleSpec | None:
    """A package's `__main__`; None for a plain module (`python -m deploykit.backup.archiver`),
    which is imported like any other."""
    try:
        return importlib.util.find_spec(f"{module}.__main__")
    except ModuleNotFoundError:  # not a package: it has no submodules
        return None


def _imported(root: Path, modules: Sequence[str]) -> dict[str, list[str]]:
    """What the entry modules import: `tops`, the top-level module names (each entry package,
    and every module its `__main__.py` imports, read, not run), and `deploykit`, the files of
    the kit's modules among them (only those: a change elsewhere in the kit is no new code for
    the apps)."""
    names = list(modules)
    if "deploykit" in modules:  # the CLI imports each command's module when it runs it
        names += [f"deploykit.cli.{m}" for m in dict.fromkeys(COMMANDS.values())]
    mains = []  # the entry modules' own `__main__.py`, read here and never imported
    for module in modules:
        spec = _main_of(module)
        if spec is not None and spec.origin:
            mains.append(spec.origin)
            tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names += [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    names.append(node.module)
    done = subprocess.run(
        [sys.executable, "-c", _LIST_MODULES, json.dumps(names)],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise ConfigError(f"cannot import the services' modules {names}: {done.stderr.strip()}")
    found: dict[str, list[str]] = json.loads(done.stdout)
    kit = str(Path(_package_dir(root, "deploykit")).resolve())
    found["deploykit"] += [m for m in mains if str(Path(m).resolve()).startswith(kit + "/")]
    return found


def _distributions(tops: Sequence[str]) -> set[str]:
    """The installed distributions of these top-level modules, and their requirements'
    distributions (extras left out)."""
    owners = metadata.packages_distributions()
    names: set[str] = set()
    for top in tops:
        names.update(d for d in owners.get(top, []) if d.lower() not in _NOT_RUNTIME)
    return _with_requirements(names)


def _with_requirements(names: set[str]) -> set[str]:
    todo, seen = list(names), set()
    while todo:
        name = todo.pop()
        key = name.lower().replace("_", "-")
        if key in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen.add(key)
        for requirement in dist.requires or []:
            spec, _, marker = requirement.partition(";")
            if "extra ==" in marker or 'sys_platform == "win32"' in marker:
                continue
            todo.append(re.split(r"[\s\[<>=!~;(]", spec.strip(), maxsplit=1)[0])
    return seen


def _package_dir(root: Path, package: str) -> Path:
    if (root / package / "__init__.py").is_file():
        return root / package
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"package {package!r} of the services is not importable from {root}")
    return Path(next(iter(spec.submodule_search_locations)))


def _files(
    root: Path, packages: set[str], distributions: Iterable[str], kit: Iterable[str]
) -> dict[str, Path]:
    """Archive name → file on this machine: the entry packages whole, the kit's imported
    modules, the distributions whole."""
    files: dict[str, Path] = {}
    kit_dir = _package_dir(root, "deploykit").resolve()
    for module in kit:
        path = Path(module).resolve()
        files[f"deploykit/{path.relative_to(kit_dir)}"] = path
    for package in sorted(packages - {"deploykit"}):
        folder = _package_dir(root, package)
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not any(part in _SKIP for part in path.parts):
                files[f"{package}/{path.relative_to(folder)}"] = path
    for name in sorted(distributions):
        dist = metadata.distribution(name)
        for entry in dist.files or []:
            path = Path(str(dist.locate_file(entry)))
            relative = str(entry)
            if relative.startswith("..") or any(part in _SKIP for part in entry.parts):
                continue
            if relative.split("/")[0] in packages or not path.is_file():
                continue
            files[relative] = path
    return files


def build_bundle(root: Path, commands: Iterable[str], target: Path, python: str = "3.11") -> Bundle:
    """Write the bundle of the services' `commands` (run from the project at `root`)."""
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    if here != python:
        raise ConfigError(
            f"the apps bundle is made with Python {here} but the hosts run Python {python}: "
            f"deploy from a Python {python} environment"
        )
    modules = entry_modules(commands)
    packages = {*PROJECT_PACKAGES, *(m.split(".")[0] for m in modules)}
    imported = _imported(root, modules)
    distributions = _distributions(imported["tops"])
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, path in sorted(
            _files(root, packages, distributions, imported["deploykit"]).items()
        ):
            info = tarfile.TarInfo(name)
            data = path.read_bytes()
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            archive.addfile(info, io.BytesIO(data))
    packed = gzip.compress(raw.getvalue(), mtime=0)
    digest = hashlib.sha256(packed).hexdigest()
    # named by its digest and renamed into place: another deploy (another checkout, other code)
    # building at the same time never replaces the file this one uploads
    final = target.with_name(f"{target.name.removesuffix('.tar.gz')}-{digest[:16]}.tar.gz")
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.with_name(f"{final.name}.{os.getpid()}.partial")
    partial.write_bytes(packed)
    partial.replace(final)
    return Bundle(final, digest, python)
