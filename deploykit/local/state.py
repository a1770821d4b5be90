"""The local stack's state folder: what `up` chose (ports, passwords) so the next `up` reuses it.

Everything under `.deploykit/` is private: the folder is 0700 and files holding secrets are
0600. When we run as root, PostgreSQL runs as an unprivileged user that must traverse the
folder to reach its data directory, so the folder is then 0711 (traverse, no listing); the
secret files stay 0600 and unreadable to that user.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from deploykit.errors import ConfigError
from deploykit.local.processes import Proc
from deploykit.stack.outputs import write_secret_file

__all__ = ["DevState", "StateDir"]

Port = Annotated[int, Field(ge=1, le=65535)]


class DevState(BaseModel):
    """What a local stack was brought up with; stable across `up`s so clients keep working."""

    manifest: str
    cluster_name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,62}$")  # names files: no paths
    nodes: int = Field(ge=1, le=5)
    nats_ports: list[Port] = Field(description="client, monitor, cluster ports per node")
    postgres_port: Port | Literal[0]
    frontend_ports: dict[str, Port] = Field(default_factory=dict)
    metrics_ports: dict[str, Port] = Field(
        default_factory=dict, description="each service's Prometheus endpoint on loopback"
    )
    passwords: dict[str, str] = Field(default_factory=dict, repr=False)

    @model_validator(mode="after")
    def _ports_per_node(self) -> DevState:
        if self.nats_ports and len(self.nats_ports) != 3 * self.nodes:
            raise ValueError(
                f"nats_ports: want 3 per node ({3 * self.nodes}), got {len(self.nats_ports)}"
            )
        return self

    def password(self, key: str) -> str:
        """The password for `key`, generated on first use and kept afterwards."""
        if key not in self.passwords:
            self.passwords[key] = secrets.token_urlsafe(24)
        return self.passwords[key]


class StateDir:
    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def outputs_file(self) -> Path:
        return self.root / "outputs.json"

    @property
    def nats_dir(self) -> Path:
        return self.root / "nats"

    @property
    def postgres_dir(self) -> Path:
        return self.root / "postgres"

    @property
    def services_dir(self) -> Path:
        return self.root / "services"

    def create(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o711 if os.geteuid() == 0 else 0o700)
        for sub in (self.nats_dir, self.services_dir):
            sub.mkdir(exist_ok=True)
            sub.chmod(0o700)

    def load(self) -> DevState | None:
        try:
            return DevState.model_validate_json(self.state_file.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValidationError) as exc:
            raise ConfigError(
                f"{self.state_file}: unreadable local stack state ({exc.__class__.__name__}); "
                "run `deploykit dev down --wipe` to start afresh"
            ) from None

    def save(self, state: DevState) -> None:
        write_secret_file(self.state_file, state.model_dump_json(indent=2))

    def save_outputs(self, outputs: dict[str, object]) -> None:
        write_secret_file(self.outputs_file, json.dumps(outputs, indent=2))

    def foreign(self) -> list[str]:
        """What the folder holds that `up` did not put there (sorted names)."""
        if not self.root.is_dir():
            return [self.root.name] if self.root.exists() else []
        return sorted(p.name for p in self.root.iterdir() if p.name not in _OURS)

    def recorded_processes(self) -> list[Proc]:
        """A Proc for every pid file `up` may have written, services first."""
        pid_files = [
            *sorted(self.services_dir.glob("*.pid")),
            self.postgres_dir / "postgres.pid",
            *sorted(self.nats_dir.glob("*.pid")),
        ]
        return [Proc(p.stem, p, p.with_suffix(".log")) for p in pid_files if p.exists()]

    def wipe(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


_OURS = frozenset(
    {"state.json", "outputs.json", ".state.json.tmp", ".outputs.json.tmp"}
    | {"nats", "postgres", "services"}
)
