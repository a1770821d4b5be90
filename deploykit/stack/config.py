"""The tier-specific stack configuration (`stacks/Pulumi.<stack>.yaml`), validated.

Only tier settings live here (hosts, regions, plan sizes); the system itself is the manifest's.
Secrets are separate Pulumi config keys set with `--secret` and are not part of these models.
Keys are camelCase, as Pulumi config keys conventionally are.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from deploykit.errors import ConfigError, Problem
from deploykit.manifest.model import Manifest, Role
from deploykit.manifest.units import parse_size
from deploykit.stack.cron import cron_problem, timer_fields

__all__ = [
    "MetalArtifacts",
    "MetalConfig",
    "SmallConfig",
    "StackFile",
    "check_metal_manifest",
    "load_stack_file",
    "parse_stack_config",
]

PROJECT = "deploykit"


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SynadiaSettings(_Config):
    apiUrl: str = "https://cloud.synadia.com"
    systemId: str = ""
    existingCredentials: bool = False
    url: str = "tls://connect.ngs.global"
    maxReplicas: Literal[1, 3] = 1
    # what to state instead of the derived account limits (docs/small.md, "Account limits")
    accountLimits: dict[
        Literal["conn", "subs", "payload", "data", "imports", "exports", "leaf"],
        Annotated[int, Field(ge=-1)],
    ] = Field(default_factory=dict)


class NeonSettings(_Config):
    apiUrl: str = "https://console.neon.tech/api/v2"
    regionId: str = "aws-us-east-2"
    pgVersion: Annotated[int, Field(ge=14, le=17)] = 16
    orgId: str = ""
    orgKey: bool = False  # deploykit:neonApiKey is an organization key, which implies orgId
    branch: Annotated[str, Field(min_length=1)] = "main"


class RailwaySettings(_Config):
    apiUrl: str = "https://backboard.railway.com/graphql/v2"
    workspaceId: str = ""
    environment: str = "production"
    # a Railway region id, as railwayapp/cli spells them (src/controllers/regions.rs, df3838bf)
    region: Annotated[str, Field(min_length=1)] = "us-west2"
    # frontend services Railway runs as long-running processes from their image instead of
    # Vercel running them as functions (a long-running API, a websocket server)
    frontends: list[str] = Field(default_factory=list)


class VercelFrontend(_Config):
    """How one frontend is deployed to Vercel: the files of `source` (a directory) at the root,
    plus each path of `include` at its own place, all relative to the project directory."""

    source: Annotated[str, Field(min_length=1)]
    include: list[str] = Field(default_factory=list)
    framework: str | None = None  # None: Vercel detects it (Python functions under api/)
    domain: str = ""


class VercelSettings(_Config):
    enabled: bool = True  # false: frontends are not deployed by this stack
    apiUrl: str = "https://api.vercel.com"
    team: str = ""
    frontends: dict[str, VercelFrontend] = Field(default_factory=dict)


class GrafanaSettings(_Config):
    enabled: bool = True  # false: no Grafana Cloud stack, dashboards, alerts or OTLP variables
    stackSlug: str = ""
    region: str = "us"
    existingStack: bool = False


HostRole = Literal[
    "nats", "database", "kubernetes-server", "kubernetes-agent", "monitoring", "apps"
]
ByteSize = Annotated[int, BeforeValidator(parse_size), Field(gt=0)]

# postgres "": the distribution's own PostgreSQL (15 on Debian 12); another major version comes
# from the PostgreSQL apt repository.
DEFAULT_DATABASE_VERSIONS = {"postgres": "", "yugabyte": "2.20.1.0-b97"}


def _network(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"{value!r} is not an address or a network like 10.0.0.0/24") from None
    return value


class Host(_Config):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
    address: Annotated[str, Field(min_length=1)]
    privateAddress: str = ""
    sshUser: str = "root"
    sshPort: Annotated[int, Field(ge=1, le=65535)] = 22
    roles: Annotated[list[HostRole], Field(min_length=1)]

    @property
    def private(self) -> str:
        """Where servers listen and route: the private address, else the only one there is."""
        return self.privateAddress or self.address


class MetalDatabase(_Config):
    engine: Literal["postgres", "yugabyte"] = "postgres"
    version: str = ""
    clients: list[Annotated[str, AfterValidator(_network)]] = Field(default_factory=list)

    @property
    def release(self) -> str:
        return self.version or DEFAULT_DATABASE_VERSIONS[self.engine]

    @model_validator(mode="after")
    def _version_fits_engine(self) -> MetalDatabase:
        if self.engine == "postgres" and not re.fullmatch(r"(1[4-7])?", self.release):
            raise ValueError(f"postgres version {self.version!r}: expected a major version 14-17")
        if self.engine == "yugabyte" and not re.fullmatch(r"\d+\.\d+\.\d+\.\d+-b\d+", self.release):
            raise ValueError(
                f"yugabyte version {self.version!r}: expected a release like 2.20.1.0-b97"
            )
        return self


class MetalNats(_Config):
    version: Annotated[str, Field(pattern=r"^\d+\.\d+\.\d+$")] = "2.12.3"
    tls: Literal["generate", "provided"] = "generate"
    maxFileStore: ByteSize = 20 * 1024**3
    maxMemoryStore: ByteSize = 1024**3
    syncInterval: Annotated[str, Field(pattern=r"^(always|\d+(ms|s|m|h))$")] = "2m"
    exporterVersion: Annotated[str, Field(pattern=r"^\d+\.\d+\.\d+$")] = "0.17.3"
    exporter: bool = True


class MetalMonitoring(_Config):
    prometheusVersion: Annotated[str, Field(pattern=r"^\d+\.\d+\.\d+$")] = "2.53.3"
    retention: Annotated[str, Field(pattern=r"^\d+[dwy]$")] = "30d"
    grafana: bool = True


class MetalKubernetes(_Config):
    existingKubeconfig: bool = False
    k3sVersion: str = "v1.31.4+k3s1"


class Backup(_Config):
    """Scheduled backups of the metal tier (docs/metal.md, "Backups"): `deploykit backup` of
    the streams marked `backup: true` on `schedule` (cron, UTC), the last `keep` snapshots of
    each stream kept in `folder` (mount a backup disk there); pgBackRest for PostgreSQL into
    the same folder on the primary, keeping `keepFull` full backups. With a `bucket`, both are
    copied to that S3-compatible storage as well. `host`: where the snapshots run with
    `apps: systemd` (default: the first host with the role apps); `image`: the container with
    deploykit that runs them with `apps: kubernetes` (default: the first service's image)."""

    enabled: bool = True
    schedule: str = "0 3 * * *"
    keep: Annotated[int, Field(ge=1, le=1000)] = 7
    keepFull: Annotated[int, Field(ge=1, le=100)] = 2
    folder: Annotated[str, Field(pattern=r"^/[A-Za-z0-9._/-]*[A-Za-z0-9._-]$")] = (
        "/var/backups/deploykit"
    )
    host: str = ""
    image: str = ""
    endpoint: str = ""
    bucket: str = ""
    region: str = ""
    accessKeyId: str = ""

    @property
    def s3(self) -> bool:
        """Copies go to the S3-compatible storage too (it needs deploykit:backupSecretAccessKey)."""
        return self.enabled and bool(self.bucket)

    @model_validator(mode="after")
    def _all_or_nothing(self) -> Backup:
        given = {"endpoint": self.endpoint, "bucket": self.bucket, "accessKeyId": self.accessKeyId}
        missing = [key for key, value in given.items() if not value]
        if 0 < len(missing) < len(given):
            raise ValueError(
                f"backup storage needs endpoint, bucket and accessKeyId; missing {', '.join(missing)}"
            )
        timer_fields(self.schedule)  # refuses what a systemd timer could not run exactly
        return self


class SmallBackup(_Config):
    """The small tier's scheduled backup: a Railway cron service running `deploykit backup
    --to s3://bucket/prefix --keep N` from `image` (one with deploykit installed and the
    manifest at `manifest` in its working directory). No bucket: no backup job."""

    bucket: str = ""
    prefix: str = ""
    endpoint: str = ""
    region: str = ""
    accessKeyId: str = ""
    schedule: str = "0 3 * * *"
    keep: Annotated[int, Field(ge=1)] = 7
    image: str = ""
    manifest: Annotated[str, Field(min_length=1)] = "deploykit.yaml"

    @property
    def enabled(self) -> bool:
        return bool(self.bucket)

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}" + (f"/{self.prefix.strip('/')}" if self.prefix else "")

    @model_validator(mode="after")
    def _railway_runs_it(self) -> SmallBackup:
        missing = [k for k in ("endpoint", "accessKeyId", "image") if not getattr(self, k)]
        if self.enabled and missing:
            raise ValueError(
                f"a backup into bucket {self.bucket!r} needs {', '.join(missing)} (endpoint: "
                "the S3 URL; accessKeyId: the key's id; image: what the job runs, with "
                "deploykit and the manifest inside)"
            )
        problem = cron_problem(self.schedule)
        if problem:
            raise ValueError(f"schedule {problem}")
        return self


class SmallConfig(_Config):
    nats: SynadiaSettings = Field(default_factory=SynadiaSettings)
    neon: NeonSettings = Field(default_factory=NeonSettings)
    railway: RailwaySettings = Field(default_factory=RailwaySettings)
    vercel: VercelSettings = Field(default_factory=VercelSettings)
    grafana: GrafanaSettings = Field(default_factory=GrafanaSettings)
    backup: SmallBackup = Field(default_factory=SmallBackup)


class MetalArtifacts(_Config):
    """Where hosts take what they install: `files` (a folder on the deploying machine, made by
    `deploykit metal artifacts fetch`, uploaded over SSH) or `mirror` (an HTTP server holding
    such a folder); neither: the vendors' download sites. Checksums come from the folder's
    index and are verified on the host either way."""

    mirror: str = ""
    files: str = ""

    @property
    def source(self) -> Literal["internet", "mirror", "files"]:
        return "mirror" if self.mirror else "files" if self.files else "internet"

    @model_validator(mode="after")
    def _one_place(self) -> MetalArtifacts:
        if self.mirror and self.files:
            raise ValueError("give mirror or files, not both")
        if self.mirror and not re.match(r"^https?://[^/\s]+", self.mirror):
            raise ValueError(f"mirror {self.mirror!r}: expected an http:// or https:// URL")
        return self


class MetalConfig(_Config):
    hosts: Annotated[list[Host], Field(min_length=1)]
    artifacts: MetalArtifacts = Field(default_factory=MetalArtifacts)
    database: MetalDatabase = Field(default_factory=MetalDatabase)
    nats: MetalNats = Field(default_factory=MetalNats)
    kubernetes: MetalKubernetes = Field(default_factory=MetalKubernetes)
    backup: Backup = Field(default_factory=Backup)
    monitoring: MetalMonitoring = Field(default_factory=MetalMonitoring)
    domains: dict[str, str] = Field(default_factory=dict)
    apps: Literal["kubernetes", "systemd"] = "kubernetes"
    destroyData: bool = False
    sshKnownHosts: str = ""

    @model_validator(mode="after")
    def _roles_covered(self) -> MetalConfig:
        for what, plural in (("name", "names"), ("address", "addresses")):
            values = [getattr(h, what) for h in self.hosts]
            if len(set(values)) != len(values):
                raise ValueError(f"host {plural} must be unique")
        present = {role for host in self.hosts for role in host.roles}
        needed = {"nats", "database", "monitoring"}
        if self.apps == "systemd":
            needed.add("apps")
        elif not self.kubernetes.existingKubeconfig:
            needed.add("kubernetes-server")
        missing = sorted(needed - present)
        if missing:
            raise ValueError(f"no host has the role(s) {', '.join(missing)}")
        return self

    @model_validator(mode="after")
    def _counts(self) -> MetalConfig:
        """Host counts that cannot work, refused before anything is created."""
        nats = len(self.hosts_with("nats"))
        if nats % 2 == 0:
            raise ValueError(
                f"{nats} hosts have the role nats: use an odd number (1, 3 or 5), "
                "an even cluster tolerates no more failures than the odd one below it"
            )
        databases = len(self.hosts_with("database"))
        if self.database.engine == "postgres" and databases > 2:
            raise ValueError(
                f"{databases} hosts have the role database: postgres runs a primary and at most "
                "one streaming replica (use engine yugabyte for more)"
            )
        if self.database.engine == "yugabyte" and databases < 3:
            raise ValueError(
                f"{databases} host(s) have the role database: yugabyte runs with replication "
                "factor 3 and needs at least 3"
            )
        if len(self.hosts_with("monitoring")) > 1:
            raise ValueError("more than one host has the role monitoring: give it to exactly one")
        self._backup_host()
        servers = len(self.hosts_with("kubernetes-server"))
        if self.apps == "systemd" and servers + len(self.hosts_with("kubernetes-agent")):
            raise ValueError(
                "apps is systemd but hosts have kubernetes roles: remove the roles "
                "(the apps run as systemd units on the hosts with the role apps)"
            )
        if self.kubernetes.existingKubeconfig and servers + len(
            self.hosts_with("kubernetes-agent")
        ):
            raise ValueError(
                "kubernetes.existingKubeconfig is true but hosts have kubernetes roles: "
                "remove the roles or install k3s"
            )
        if servers % 2 == 0 and servers:
            raise ValueError(
                f"{servers} hosts have the role kubernetes-server: embedded etcd needs an odd number"
            )
        return self

    def hosts_with(self, role: HostRole) -> list[Host]:
        return [h for h in self.hosts if role in h.roles]

    def backup_host(self) -> Host:
        """Where the scheduled JetStream backups run with `apps: systemd` (it has the code)."""
        named = [h for h in self.hosts_with("apps") if h.name == self.backup.host]
        return named[0] if named else self.hosts_with("apps")[0]

    def _backup_host(self) -> None:
        name = self.backup.host
        if not name:
            return
        if self.apps != "systemd":
            raise ValueError(
                "backup.host is for apps: systemd; with apps: kubernetes the snapshots run in a "
                "CronJob (set backup.image instead)"
            )
        if name not in {h.name for h in self.hosts_with("apps")}:
            apps = ", ".join(h.name for h in self.hosts_with("apps"))
            raise ValueError(f"backup.host {name!r}: not a host with the role apps ({apps})")


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


def check_metal_manifest(
    manifest: Manifest, settings: MetalConfig, source: str = "stacks/Pulumi.metal.yaml"
) -> None:
    """What the metal stack config must provide for this manifest, all problems at once, before
    any resource is declared (a 5-minute `pulumi up` should not fail on its last resource)."""
    problems = [*_replicas_fit(manifest, settings), *_databases_fit(manifest, settings)]
    problems += _services_fit(manifest, settings)
    if problems:
        raise ConfigError("\n".join(p.render(source) for p in problems))


def _replicas_fit(manifest: Manifest, settings: MetalConfig) -> list[Problem]:
    nats = len(settings.hosts_with("nats"))
    assets = [
        (f"{section}.{name}", item.replicas)
        for section in ("streams", "kv", "object_stores")
        for name, item in getattr(manifest, section).items()
    ]
    return [
        Problem(
            f"{PROJECT}:metal.hosts",
            f"{where} in the manifest has replicas {replicas} but only {nats} host(s) have the "
            "role nats",
            f"give the role nats to at least {replicas} hosts",
        )
        for where, replicas in assets
        if replicas > nats
    ]


def _databases_fit(manifest: Manifest, settings: MetalConfig) -> list[Problem]:
    return [
        Problem(
            f"{PROJECT}:metal.database.engine",
            f"is {settings.database.engine!r} but the manifest's database {key!r} uses "
            f"{database.engine!r}",
            "one engine per system",
        )
        for key, database in manifest.databases.items()
        if database.engine != settings.database.engine
    ]


def _services_fit(manifest: Manifest, settings: MetalConfig) -> list[Problem]:
    problems = []
    for service, domain in settings.domains.items():
        where = f"{PROJECT}:metal.domains.{service}"
        found = manifest.services.get(service)
        if found is None or found.role is not Role.FRONTEND:
            frontends = sorted(n for n, s in manifest.services.items() if s.role is Role.FRONTEND)
            problems.append(
                Problem(where, "names no frontend of the manifest", f"frontends: {frontends}")
            )
        elif found.run.port is None:
            problems.append(
                Problem(where, f"{service} serves {domain} but has no run.port in the manifest")
            )
    for name, declared in manifest.services.items():
        if settings.apps == "systemd" and not declared.run.command:
            problems.append(
                Problem(
                    f"{PROJECT}:metal.apps",
                    f"service {name} has no run.command in the manifest",
                    "systemd runs each service's command",
                )
            )
        if settings.apps == "kubernetes" and not declared.run.image:
            problems.append(
                Problem(
                    f"{PROJECT}:metal",
                    f"service {name} has no run.image in the manifest",
                    "Kubernetes runs container images",
                )
            )
    return problems


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
    "natsTls",
    "grafanaAdminPassword",
)


def _is_secret_key(key: str) -> bool:
    name = key.split(":", 1)[1]
    return name.split(".", 1)[0] in SECRET_KEYS


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
