"""Fixtures the unit tests share: the reference manifest and metal stack settings (`settings`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploykit.manifest.load import load_manifest
from deploykit.manifest.model import Manifest
from deploykit.stack.config import MetalConfig, load_stack_file

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def manifest() -> Manifest:
    """The reference manifest, `deploykit.yaml` (a module may define its own)."""
    return load_manifest(ROOT / "deploykit.yaml")


@pytest.fixture(scope="module")
def settings() -> MetalConfig:
    """The reference metal stack's settings, `stacks/Pulumi.metal.yaml`."""
    loaded = load_stack_file(ROOT / "stacks/Pulumi.metal.yaml").settings
    assert isinstance(loaded, MetalConfig)
    return loaded
