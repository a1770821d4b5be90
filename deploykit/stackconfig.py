"""The tier-specific stack configuration (`stacks/Pulumi.<stack>.yaml`), validated.

Only tier settings live here (hosts, regions, plan sizes); the system itself is the manifest's.
Secrets are separate Pulumi config keys set with `--secret` and are not part of these models.
Keys are camelCase, as Pulumi config keys conventionally are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from deploykit.errors import ConfigError, Problem

__all__ = ["MetalConfig", "SmallConfig", "StackFile", "load_stack_file", "parse_stack_config"]

PROJECT = "deploykit"


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SynadiaSettings(_Config):
    apiUrl: str = "https://cloud.synadia.com"
    systemId: str = ""
    existingCredentials: bool = False
    url: str = "tls://connect.ngs.global"
    maxReplicas: Literal[1, 3] = 1


class NeonSettings(_Config):
    regionId: str = "aws-us-east-2"
    pgVersion: Annotated[int, Field(ge=14, le=17)] = 16
    orgId: str = ""
    branch: Annotated[str, Field(min_length=1)] = "main"


class RailwaySettings(_Config):
    workspaceId: str = ""
    environment: str = "production"


class VercelFrontend(_Config):
    framework: str = "nextjs"
    repository: str = ""
    rootDirectory: str = ""
    domain: str = ""


class VercelSettings(_Config):
    team: str = ""
    frontends: dict[str, VercelFrontend] = Field(default_factory=dict)


class GrafanaSettings(_Config):
    stackSlug: str = ""
    region: str = "us"
    existingStack: bool = False


class SmallConfig(_Config):
    nats: SynadiaSettings = Field(default_factory=SynadiaSettings)
    neon: NeonSettings = Field(default_factory=NeonSettings)
    railway: RailwaySettings = Field(default_factory=RailwaySettings)
    vercel: VercelSettings = Field(default_factory=VercelSettings)
    grafana: GrafanaSettings = Field(default_factory=GrafanaSettings)


HostRole = Literal["nats", "database", "kubernetes-server", "kubernetes-agent", "monitoring"]


class Host(_Config):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
    address: str
    privateAddress: str = ""
    sshUser: str = "root"
    roles: Annotated[list[HostRole], Field(min_length=1)]


class MetalDatabase(_Config):
    engine: Literal["postgres", "yugabyte"] = "postgres"
    version: str = "16"


class MetalNats(_Config):
    version: str = "2.12.3"
    tls: Literal["generate", "provided"] = "generate"


class MetalKubernetes(_Config):
    existingKubeconfig: bool = False


class Backup(_Config):
    endpoint: str = ""
    bucket: str = ""
    region: str = ""
    accessKeyId: str = ""


class MetalConfig(_Config):
    hosts: Annotated[list[Host], Field(min_length=1)]
    database: MetalDatabase = Field(default_factory=MetalDatabase)
    nats: MetalNats = Field(default_factory=MetalNats)
    kubernetes: MetalKubernetes = Field(default_factory=MetalKubernetes)
    backup: Backup = Field(default_factory=Backup)
    domains: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _roles_covered(self) -> MetalConfig:
        names = [h.name for h in self.hosts]
        if len(set(names)) != len(names):
            raise ValueError("host names must be unique")
        present = {role for host in self.hosts for role in host.roles}
        needed = {"nats", "database", "monitoring"}
        if not self.kubernetes.existingKubeconfig:
            needed.add("kubernetes-server")
        missing = sorted(needed - present)
        if missing:
            raise ValueError(f"no host has the role(s) {', '.join(missing)}")
        return self

    def hosts_with(self, role: HostRole) -> list[Host]:
        return [h for h in self.hosts if role in h.roles]


class StackFile(_Config):
    tier: Literal["small", "metal"]
    small: SmallConfig | None = None
    metal: MetalConfig | None = None

    @property
    def settings(self) -> SmallConfig | MetalConfig:
        chosen = self.small if self.tier == "small" else self.metal
        if chosen is None:
            raise ConfigError(f"the stack says tier {self.tier!r} but has no {PROJECT}:{self.tier}")
        return chosen


def parse_stack_config(config: dict[str, Any], source: str) -> StackFile:
    """Validate the `deploykit:*` keys of a stack's config (the file's `config:` mapping)."""
    ours = {
        key.split(":", 1)[1]: value
        for key, value in config.items()
        if key.startswith(f"{PROJECT}:") and not _is_secret_key(key)
    }
    try:
        stack = StackFile.model_validate(ours)
    except ValidationError as exc:
        problems = [
            Problem(f"{PROJECT}:" + _loc(err["loc"]), err["msg"].removeprefix("Value error, "))
            for err in exc.errors()
        ]
        raise ConfigError("\n".join(p.render(source) for p in problems)) from None
    stack.settings  # noqa: B018 - the tier's section must exist
    return stack


def load_stack_file(path: str | Path) -> StackFile:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the stack config: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("config", {}), dict):
        raise ConfigError(f"{path}: expected a mapping with a `config:` mapping")
    return parse_stack_config(data.get("config", {}), str(path))


SECRET_KEYS = (
    "synadiaToken",
    "neonApiKey",
    "railwayToken",
    "sshPrivateKey",
    "kubeconfig",
    "backupSecretAccessKey",
    "natsCreds",
)


def _is_secret_key(key: str) -> bool:
    name = key.split(":", 1)[1]
    return name.split(".", 1)[0] in SECRET_KEYS


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
