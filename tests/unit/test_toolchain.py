"""The toolchain's pure parts: pins from pyproject, the cache layout, the Go build's commands."""

from __future__ import annotations

import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

from deploykit.errors import ConfigError
from deploykit.toolchain.cache import bin_dir, build_dir, cache_root
from deploykit.toolchain.download import release_url
from deploykit.toolchain.gobuild import build_steps, first_error
from deploykit.toolchain.pins import PROVIDER_PLUGINS, pins, pins_from

ROOT = Path(__file__).resolve().parents[2]


def test_pins_come_from_pyproject_and_match_what_is_installed() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pinned = pins_from(declared)
    assert pinned == pins()
    assert pinned.sdk == version("pulumi")
    assert pinned.cli == f"v{version('pulumi')}"
    for package, plugin in PROVIDER_PLUGINS.items():
        assert pinned.plugins()[plugin] == version(package) == pinned.providers[package]
    assert pinned.plugins()["pulumi-resource-pulumi-python"] == pinned.sdk


def test_a_loose_pin_is_refused_naming_the_packages() -> None:
    requirements = ["pulumi==3.260.0", "pulumi-kubernetes>=4,<5", "pulumi_command == 1.2.1"]
    with pytest.raises(ConfigError) as refused:
        pins_from(requirements)
    assert str(refused.value).startswith(
        "pyproject.toml: project.dependencies: pulumi-kubernetes, pulumiverse-grafana, "
        "pulumiverse-vercel must be pinned exactly"
    )


def test_cache_layout_is_keyed_by_version() -> None:
    assert cache_root({"HOME": "/home/u"}) == Path("/home/u/.cache/deploykit")
    assert cache_root({"HOME": "/home/u", "DEPLOYKIT_CACHE": "/c"}) == Path("/c")
    assert bin_dir(Path("/c"), "v3.260.0") == Path("/c/pulumi/v3.260.0/bin")
    assert build_dir(Path("/c"), "v3.260.0") == Path("/c/build/pulumi-v3.260.0")


def test_build_commands_are_the_release_build() -> None:
    steps = build_steps("v3.260.0", Path("/out/pulumi"))
    assert [s.argv for s in steps] == [
        (
            "go",
            "get",
            "github.com/pulumi/pulumi/pkg/v3@v3.260.0",
            "github.com/pulumi/pulumi/sdk/v3@v3.260.0",
        ),
        ("go", "mod", "tidy"),
        (
            "go",
            "build",
            "-tags",
            "osusergo,grpcnotrace",
            "-ldflags",
            "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v3.260.0",
            "-o",
            "/out/pulumi",
            "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi",
        ),
    ]
    assert {s.module for s in steps} == {"github.com/pulumi/pulumi/pkg/v3@v3.260.0"}


def test_first_error_skips_go_chatter() -> None:
    refused = (
        "go: downloading github.com/pulumi/pulumi/sdk/v3 v3.265.0\n"
        "go: github.com/pulumi/pulumi/pkg/v3@v3.265.0: reading "
        "https://proxy.golang.org/github.com/pulumi/pulumi/pkg/v3/@v/v3.265.0.zip: 403 Forbidden\n"
    )
    assert first_error(refused).endswith("v3.265.0.zip: 403 Forbidden")
    compile_error = "# github.com/x/y\n/m/y/a.go:3:2: undefined: z\n/m/y/a.go:4:2: other\n"
    assert first_error(compile_error) == "/m/y/a.go:3:2: undefined: z"
    assert first_error("go: downloading a v1\n") == "no error message (see the log)"


def test_release_url_per_platform() -> None:
    assert release_url("v3.260.0", "Linux", "x86_64") == (
        "https://get.pulumi.com/releases/sdk/pulumi-v3.260.0-linux-x64.tar.gz"
    )
    assert release_url("v3.260.0", "Darwin", "arm64").endswith("-darwin-arm64.tar.gz")
    assert release_url("v3.260.0", "Plan9", "x86_64") is None
