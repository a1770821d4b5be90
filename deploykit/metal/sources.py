"""Where each thing a host installs comes from, for one stack: the vendors' sites (no
`artifacts` setting), or the stack's artifact folder or mirror (`deploykit.metal.artifacts`).
Pure: the tier reads the folder's index (effectful) and hands it here.

`install(name)` is the script that installs an artifact from the stack's place (checksums
verified on the host), `uploads(name)` the files a step must copy to the host first (`files`
only: a mirror is downloaded from by the host itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deploykit.errors import ConfigError
from deploykit.metal.artifacts import (
    DISTRIBUTION_POSTGRES,
    REMOTE_FOLDER,
    ArtifactIndex,
    catalogue,
    install_snippet,
    require,
)
from deploykit.metal.steps import Upload
from deploykit.stack.config import MetalConfig

__all__ = ["Sources", "needed_artifacts"]


def needed_artifacts(settings: MetalConfig) -> list[str]:
    """The artifacts this stack installs (what an air-gapped install must provide)."""
    names = ["nats-server", *(["prometheus-nats-exporter"] if settings.nats.exporter else [])]
    if settings.database.engine == "postgres":
        names += ["postgresql", "prometheus-postgres-exporter"]
        names += ["pgbackrest"] if settings.backup.enabled else []
    if settings.apps == "systemd" and settings.backup.s3:
        names.append("rclone")
    names += ["prometheus-node-exporter", "prometheus"]
    if settings.monitoring.grafana:
        names.append("grafana")
    if settings.apps == "kubernetes" and not settings.kubernetes.existingKubeconfig:
        names.append("k3s")
    return names


@dataclass(frozen=True)
class Sources:
    """`index` None: the vendors' sites (the scripts' own downloads)."""

    index: ArtifactIndex | None = None
    folder: Path | None = None
    mirror: str = ""
    postgres: str = ""

    @classmethod
    def of(
        cls, settings: MetalConfig, index: ArtifactIndex | None, folder: Path | None, source: str
    ) -> Sources:
        """Check that the index has every artifact the stack needs (all problems at once)."""
        if index is None:
            return cls()
        if settings.database.engine != "postgres":
            raise ConfigError(
                f"{source}: artifacts: yugabyte cannot be installed from artifacts; "
                "use engine postgres or the vendors' downloads"
            )
        require(index, needed_artifacts(settings), source)
        postgres = settings.database.version or DISTRIBUTION_POSTGRES.get(index.suite, "")
        return cls(index, folder, settings.artifacts.mirror, postgres)

    @property
    def offline(self) -> bool:
        return self.index is not None

    def install(self, name: str) -> str:
        assert self.index is not None
        artifact = catalogue(self.index.suite, self.postgres)[name]
        return install_snippet(artifact, self.index.artifacts[name], mirror=self.mirror)

    def version(self, name: str) -> str:
        assert self.index is not None
        return self.index.artifacts[name].version

    def uploads(self, *names: str) -> list[Upload]:
        if self.index is None or self.folder is None:
            return []
        return [
            Upload(str(self.folder / item.path), f"{REMOTE_FOLDER}/{item.path}", item.sha256)
            for name in names
            for item in self.index.artifacts[name].files
        ]
