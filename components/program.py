"""The Pulumi program behind `pulumi up`: manifest + stack config → the tier's components.

Everything is validated before the first resource is declared, so a bad manifest or stack
config fails the preview with a clear message and deploys nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi

from deploykit.manifest.load import load_manifest
from deploykit.stack.config import parse_stack_config
from deploykit.toolchain.pickling import keep_pickler_shallow

__all__ = ["deploy"]


def deploy() -> None:
    keep_pickler_shallow()  # hundreds of dynamic resources must not exhaust the recursion limit
    config = pulumi.Config("deploykit")
    path = Path(config.get("manifest") or "deploykit.yaml")
    manifest = load_manifest(path)
    tier = config.require("tier")
    raw: dict[str, Any] = {"deploykit:tier": tier}
    if (settings := config.get_object(tier)) is not None:
        raw[f"deploykit:{tier}"] = settings
    stack = parse_stack_config(raw, f"stacks/Pulumi.{pulumi.get_stack()}.yaml")
    if stack.tier == "small":
        from components.small import SmallTier

        SmallTier("small", manifest, stack.settings, root=path.resolve().parent)
    else:
        from components.metal import MetalTier

        MetalTier("metal", manifest, stack.settings)
