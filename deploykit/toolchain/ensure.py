"""The Pulumi CLI at the pinned version: from the cache, from PATH, downloaded, or built.

In that order, stopping at the first that works: the cache folder of the pinned version; a
`pulumi` of exactly that version on PATH or in ~/.pulumi/bin with the dynamic-provider plugin
beside it; the vendor's release archive (time-boxed); a build from Go modules when `go` is on
PATH. When none works, `EngineUnavailable` says why and what to install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from deploykit.errors import DeploykitError
from deploykit.toolchain.cache import bin_dir, cache_root, missing
from deploykit.toolchain.download import download_cli
from deploykit.toolchain.gobuild import build_cli
from deploykit.toolchain.pins import Pins, pins

__all__ = ["NOT_FROM_GO", "EngineUnavailable", "Toolchain", "ensure", "locate"]

Source = Literal["cache", "path", "download", "go build"]

# What a machine with only Go and its module proxy cannot get, checked on 2026-12-06.
NOT_FROM_GO = {
    "pulumi-language-python": (
        "the Go module proxy answers 403 Forbidden for "
        "github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3 (list, master and "
        "pseudo-versions): programs run inline through the Automation API (runtime `client`), "
        "which needs no language host"
    ),
    "pulumi-resource-command": (
        "the Go module proxy answers 403 Forbidden for github.com/pulumi/pulumi-command/provider"
    ),
    "pulumi-resource-kubernetes": (
        "its module zip lacks the generated files it embeds (schema-embed.json, "
        "terraform-mapping-embed.json)"
    ),
    "pulumi-resource-grafana": "it depends on an AGPL Grafana module that the kit does not build",
    "pulumi-resource-vercel": "no Go module build is attempted; it stays under the mock runtime",
}


class EngineUnavailable(DeploykitError):
    """No Pulumi CLI of the pinned version here, and no way to get one; the message says why."""


@dataclass(frozen=True)
class Toolchain:
    """A Pulumi CLI of the pinned version and where it came from."""

    bin: Path
    cli: str
    source: Source

    @property
    def pulumi(self) -> Path:
        return self.bin / "pulumi"

    @property
    def root(self) -> Path:
        """The folder above bin/, as the Automation API's `PulumiCommand(root=...)` wants it."""
        return self.bin.parent


def _version_of(pulumi: Path) -> str | None:
    try:
        done = subprocess.run(
            [str(pulumi), "version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _installed() -> list[Path]:
    found = shutil.which("pulumi")
    home = Path.home() / ".pulumi" / "bin" / "pulumi"
    return [Path(p) for p in (found, home) if p and os.access(p, os.X_OK)]


def locate(pinned: Pins | None = None, root: Path | None = None) -> Toolchain | None:
    """The CLI of the pinned version if it is already here; never downloads or builds."""
    cli = (pinned or pins()).cli
    cached = bin_dir(root or cache_root(), cli)
    if not missing(cached):
        return Toolchain(cached, cli, "cache")
    for pulumi in _installed():
        if _version_of(pulumi) == cli and not missing(pulumi.parent):
            return Toolchain(pulumi.parent, cli, "path")
    return None


def ensure(
    report: Callable[[str], None], pinned: Pins | None = None, root: Path | None = None
) -> Toolchain:
    """The CLI of the pinned version, downloaded or built if need be.

    Raises `EngineUnavailable` when it cannot be had, `BuildError` when a Go build failed.
    """
    pinned = pinned or pins()
    root = root or cache_root()
    found = locate(pinned, root)
    if found is not None:
        return found
    report(f"getting the Pulumi CLI {pinned.cli} (it matches the Python SDK pulumi=={pinned.sdk})")
    started = time.monotonic()
    downloaded = download_cli(root, pinned.cli)
    if isinstance(downloaded, Path):
        report(f"downloaded the Pulumi CLI {pinned.cli} in {time.monotonic() - started:.0f}s")
        return Toolchain(downloaded, pinned.cli, "download")
    report(f"cannot download it ({downloaded})")
    if shutil.which("go") is None:
        raise EngineUnavailable(
            f"the Pulumi CLI {pinned.cli} is not installed, its download failed ({downloaded}), "
            "and Go is not installed to build it: `pulumi up` cannot run on this machine. "
            f"Install the Pulumi CLI {pinned.cli} or Go, then run scripts/bootstrap again."
        )
    report(f"building it from Go modules into {root} (minutes the first time, then cached)")
    return Toolchain(build_cli(root, pinned.cli, report), pinned.cli, "go build")
