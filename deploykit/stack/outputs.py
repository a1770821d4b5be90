"""The stack outputs: the one shape every target (local, small, metal) exports.

`deploykit dev` writes it to `.deploykit/outputs.json`; the Pulumi stacks export the same keys
(`pulumi stack output --json --show-secrets`); `smoke` and `bench` read it and nothing else.
Secrets (passwords, creds, database URLs) are plain here because this document is the thing
handed to clients: files holding it are written 0600, and `redacted()` is what gets printed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from deploykit.errors import ConfigError

__all__ = [
    "DatabaseOutputs",
    "NatsCredential",
    "NatsOutputs",
    "ObservabilityOutputs",
    "ServiceOutput",
    "StackOutputs",
    "load_outputs",
    "write_secret_file",
]

REDACTED = "********"


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NatsCredential(_Out):
    """How one NATS user connects: user/password (config-file auth) or a .creds document (JWT)."""

    account: str
    role: Literal[
        "frontend", "rpc", "worker", "smoke", "provisioning", "backup", "archiver", "system"
    ]
    service: str | None = None
    user: str | None = None
    password: str | None = Field(None, repr=False)
    creds: str | None = Field(None, repr=False, description="contents of a .creds file")
    inbox_prefix: str = "_INBOX"

    def connect_options(self) -> dict[str, Any]:
        """Keyword arguments for nats-py's `nats.connect` (creds are written to a file first)."""
        options: dict[str, Any] = {"inbox_prefix": self.inbox_prefix.encode()}
        if self.user is not None:
            options |= {"user": self.user, "password": self.password or ""}
        return options


class NatsOutputs(_Out):
    urls: list[str] = Field(min_length=1)
    cluster_size: int = 1
    monitor_urls: list[str] = Field(default_factory=list)
    credentials: dict[str, NatsCredential] = Field(default_factory=dict)


class DatabaseOutputs(_Out):
    engine: Literal["postgres", "yugabyte"] = "postgres"
    admin_url: str | None = Field(None, repr=False)
    urls: dict[str, str] = Field(default_factory=dict, repr=False, description="per database key")
    replica_urls: list[str] = Field(default_factory=list, repr=False)
    archive_url: str | None = Field(
        None,
        repr=False,
        description="the SQL copy of the event store (`backup.sql`), as the archiver",
    )


class ServiceOutput(_Out):
    name: str
    role: Literal["frontend", "rpc", "worker"]
    instances: int = 1
    endpoints: dict[str, str] = Field(default_factory=dict, description="endpoint → subject")
    url: str | None = None
    metrics_url: str | None = Field(None, description="Prometheus text, where it is scraped")


class ObservabilityOutputs(_Out):
    prometheus_url: str | None = None
    grafana_url: str | None = None
    nats_monitor_urls: list[str] = Field(default_factory=list)


class StackOutputs(_Out):
    target: Literal["local", "small", "metal"]
    system: str
    nats: NatsOutputs
    database: DatabaseOutputs | None = None
    services: list[ServiceOutput] = Field(default_factory=list)
    observability: ObservabilityOutputs = Field(default_factory=ObservabilityOutputs)

    def credential(self, user: str) -> NatsCredential:
        try:
            return self.nats.credentials[user]
        except KeyError:
            known = ", ".join(sorted(self.nats.credentials)) or "none"
            raise ConfigError(
                f"the stack outputs have no NATS user {user!r} (have: {known})"
            ) from None

    def redacted(self) -> dict[str, Any]:
        """The outputs as JSON-able data with every secret replaced, safe to print or log."""
        data = self.model_dump(mode="json")
        for cred in data["nats"]["credentials"].values():
            for key in ("password", "creds"):
                if cred.get(key):
                    cred[key] = REDACTED
        if data.get("database"):
            db = data["database"]
            db["admin_url"] = REDACTED if db.get("admin_url") else None
            db["archive_url"] = REDACTED if db.get("archive_url") else None
            db["urls"] = {k: REDACTED for k in db["urls"]}
            db["replica_urls"] = [REDACTED for _ in db["replica_urls"]]
        return data


def load_outputs(path: str | Path) -> StackOutputs:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not a JSON document: {exc}") from None
    return parse_outputs(data, str(path))


def parse_outputs(data: Any, source: str) -> StackOutputs:
    try:
        return StackOutputs.model_validate(data)
    except ValidationError as exc:
        lines = [
            f"{source}: {'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
            for err in exc.errors()
        ]
        raise ConfigError("\n".join(lines)) from None


def write_secret_file(path: Path, text: str) -> None:
    """Write `text` to a file that is 0600 from its first byte (no window where it is readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
