"""The vendor's release archive of the Pulumi CLI, unpacked into the cache, time-boxed.

The archive (`pulumi-v<version>-<os>-<arch>.tar.gz` from get.pulumi.com) holds the CLI, the
language hosts and `pulumi-resource-pulumi-python` in one `pulumi/` folder: the same files the
Go build makes, in the same layout.
"""

from __future__ import annotations

import platform
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from deploykit.toolchain.cache import bin_dir, pulumi_dir

__all__ = ["TIMEOUT", "download_cli", "release_url"]

TIMEOUT = 10.0  # seconds without an answer before giving up: a blocked site must not stall
_SYSTEMS = {"Linux": "linux", "Darwin": "darwin"}
_MACHINES = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}


def release_url(cli: str, system: str | None = None, machine: str | None = None) -> str | None:
    """The archive's URL for CLI tag `cli` on this platform; None where no archive is published."""
    os_name = _SYSTEMS.get(system or platform.system())
    arch = _MACHINES.get((machine or platform.machine()).lower())
    if os_name is None or arch is None:
        return None
    return f"https://get.pulumi.com/releases/sdk/pulumi-{cli}-{os_name}-{arch}.tar.gz"


def download_cli(root: Path, cli: str) -> Path | str:
    """The bin folder with the downloaded CLI, or why it could not be downloaded."""
    url = release_url(cli)
    if url is None:
        return f"no release archive for {platform.system()} {platform.machine()}"
    final = pulumi_dir(root, cli)
    staging = final.with_name(f"{final.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with tempfile.TemporaryFile() as archive:
            with urllib.request.urlopen(url, timeout=TIMEOUT) as answer:
                shutil.copyfileobj(answer, archive)
            archive.seek(0)
            with tarfile.open(fileobj=archive, mode="r:gz") as tar:
                tar.extractall(staging, filter="data")
    except (urllib.error.URLError, TimeoutError, OSError, tarfile.TarError) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        return f"{url}: {getattr(exc, 'reason', exc)}"
    (staging / "pulumi").rename(staging / "bin")
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    return bin_dir(root, cli)
