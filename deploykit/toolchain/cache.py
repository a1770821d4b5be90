"""Where the toolchain is kept: outside the repository, one folder per version.

    $DEPLOYKIT_CACHE (default ~/.cache/deploykit)/
      pulumi/v3.260.0/bin/   pulumi, pulumi-resource-pulumi-python, pulumi-language-python-exec
      build/pulumi-v3.260.0/ the Go wrapper module the CLI is built from, and its build.log

A version's folder appears whole (renamed into place from a `.partial` sibling) or not at all.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["REQUIRED", "bin_dir", "build_dir", "cache_root", "missing", "pulumi_dir"]

REQUIRED = ("pulumi", "pulumi-resource-pulumi-python", "pulumi-language-python-exec")


def cache_root(env: Mapping[str, str] = os.environ) -> Path:
    """`DEPLOYKIT_CACHE`, else `$HOME/.cache/deploykit`."""
    if env.get("DEPLOYKIT_CACHE"):
        return Path(env["DEPLOYKIT_CACHE"])
    return Path(env.get("HOME") or Path.home()) / ".cache" / "deploykit"


def pulumi_dir(root: Path, cli: str) -> Path:
    """The folder of one CLI release (`cli` is its tag, `v3.260.0`)."""
    return root / "pulumi" / cli


def bin_dir(root: Path, cli: str) -> Path:
    return pulumi_dir(root, cli) / "bin"


def build_dir(root: Path, cli: str) -> Path:
    return root / "build" / f"pulumi-{cli}"


def missing(bin_path: Path) -> list[str]:
    """The required executables not (or not executably) in `bin_path`."""
    return [n for n in REQUIRED if not os.access(bin_path / n, os.X_OK)]
