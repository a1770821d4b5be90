"""What `deploykit new service` would add: decided from the arguments and the manifest alone.

The entry follows the laws by construction (a worker's fanout consumer warms up; endpoints,
calls, emits and consumers only where the role allows them) and everything the user asked for
that the laws refuse is refused by `verdict`, before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from deploykit import __version__
from deploykit.configs.templates import render
from deploykit.errors import ConfigError
from deploykit.laws.rules import Severity, lint
from deploykit.manifest.model import ConsumeMode, Manifest, Role

__all__ = ["NewService", "files", "manifest_entry", "refusals"]


@dataclass(frozen=True)
class NewService:
    name: str
    role: Role
    consumes: str | None = None  # a stream
    mode: ConsumeMode = ConsumeMode.QUEUE
    emits: str | None = None
    calls: str | None = None  # service.endpoint
    package: str = "services"

    @property
    def module(self) -> str:
        return self.name.replace("-", "_")

    @property
    def command(self) -> str:
        return f"python -m {self.package}.{self.module}"

    def check(self) -> None:
        """Arguments that make no sense for the role, before the manifest is consulted."""
        if self.role is Role.WORKER and not self.consumes:
            raise ConfigError(
                "a worker consumes a stream: give --consumes STREAM; nothing was written"
            )
        if self.consumes and self.role is not Role.WORKER:
            raise ConfigError(
                f"--consumes: a {self.role.value} service does not consume streams; only a "
                "worker does"
            )
        if not self.package.isidentifier():
            raise ConfigError(f"--package {self.package!r} is not a Python package name")


def manifest_entry(new: NewService, system: str) -> dict[str, Any]:
    """The service's entry in deploykit.yaml."""
    entry: dict[str, Any] = {"role": new.role.value, "description": _description(new)}
    if new.role is Role.RPC:
        entry["endpoints"] = {"hello": {"description": "answers with what it was sent"}}
    if new.calls:
        entry["calls"] = [new.calls]
    if new.consumes:
        consume: dict[str, Any] = {
            "stream": new.consumes,
            "consumer": new.name,
            "mode": new.mode.value,
        }
        if new.mode is ConsumeMode.FANOUT:
            consume["warmup"] = True
        entry["consumes"] = [consume]
    if new.emits:
        entry["emits"] = [new.emits]
    run: dict[str, Any] = {"image": f"ghcr.io/{system}/{new.name}:latest", "command": new.command}
    if new.role is Role.FRONTEND:
        run["port"] = 8080
    entry["run"] = run
    return entry


def refusals(before: Manifest, after: Manifest) -> list[str]:
    """The law errors the new service brings (those the manifest had before are not its own)."""
    known = {(f.rule, f.path) for f in lint(before) if f.severity is Severity.ERROR}
    return [
        f"{f.path}: {f.rule}: {f.message}\n  law: {f.law}\n  fix: {f.fix}"
        for f in lint(after)
        if f.severity is Severity.ERROR and (f.rule, f.path) not in known
    ]


def files(new: NewService, depth_of_package: int = 1) -> dict[PurePosixPath, str]:
    """Path (relative to the project root) → content."""
    base = PurePosixPath(new.package) / new.module
    endpoint = new.calls.partition(".")[2] if new.calls else ""
    context = {
        "name": new.name,
        "role": new.role.value,
        "description": _description(new),
        "consume": {"stream": new.consumes, "consumer": new.name, "mode": new.mode.value}
        if new.consumes
        else None,
        "emits": new.emits,
        "call": new.calls,
        "endpoint": endpoint,
        "package": new.package,
        "module": new.module,
        "depth": depth_of_package + 1,
        "version": __version__,
    }
    return {
        PurePosixPath(new.package) / "__init__.py": "",
        base / "__init__.py": "",
        base / "__main__.py": render("service/main.py.j2", **context),
        base / "test_service.py": render("service/test.py.j2", **context),
        base / "Dockerfile": render("service/Dockerfile.j2", **context),
    }


def _description(new: NewService) -> str:
    match new.role:
        case Role.FRONTEND:
            return f"HTTP frontend; forwards to {new.calls}" if new.calls else "HTTP frontend"
        case Role.RPC:
            return f"answers {new.name}.hello" + (f"; emits {new.emits}" if new.emits else "")
        case _:
            what = f"{new.mode.value} consumer of {new.consumes}"
            return what + (f"; emits {new.emits}" if new.emits else "")
