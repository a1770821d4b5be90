"""The toolchain's versions, all derived from the exact pins in pyproject.toml's dependencies.

The Pulumi CLI ships in lockstep with the Python SDK, so its version is the `pulumi` pin; each
provider package asks the engine for the resource plugin of its own version, so a plugin's
version is its package's pin.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.metadata import requires

from deploykit.errors import ConfigError

__all__ = ["PROVIDER_PLUGINS", "Pins", "pins", "pins_from"]

PROVIDER_PLUGINS = {
    "pulumi-command": "pulumi-resource-command",
    "pulumi-kubernetes": "pulumi-resource-kubernetes",
    "pulumiverse-grafana": "pulumi-resource-grafana",
    "pulumiverse-vercel": "pulumi-resource-vercel",
}
_EXACT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;,]+)")


@dataclass(frozen=True)
class Pins:
    """The Python SDK's version and each provider package's version."""

    sdk: str
    providers: dict[str, str]

    @property
    def cli(self) -> str:
        """The Pulumi CLI release that matches the SDK: `v` and the SDK's version."""
        return f"v{self.sdk}"

    def plugins(self) -> dict[str, str]:
        """Every plugin the stacks ask for → the version it must have."""
        found = {
            "pulumi-resource-pulumi-python": self.sdk,  # dynamic providers, from sdk/v3
            "pulumi-language-python-exec": self.sdk,
        }
        found |= {PROVIDER_PLUGINS[p]: v for p, v in sorted(self.providers.items())}
        return found


def _name(package: str) -> str:
    return re.sub(r"[-_.]+", "-", package).lower()


def pins_from(requirements: list[str]) -> Pins:
    """Pins from requirement strings; the SDK and every provider package must be pinned `==`."""
    exact = {}
    for line in requirements:
        match = _EXACT.match(line)
        if match:
            exact[_name(match[1])] = match[2]
    wanted = ["pulumi", *PROVIDER_PLUGINS]
    loose = [p for p in wanted if p not in exact]
    if loose:
        raise ConfigError(
            f"pyproject.toml: project.dependencies: {', '.join(loose)} must be pinned exactly "
            "(`name==version`): the Pulumi CLI and its plugins are got at those versions"
        )
    return Pins(exact["pulumi"], {p: exact[p] for p in PROVIDER_PLUGINS})


def pins() -> Pins:
    """The pins of the installed deploykit (scripts/bootstrap reinstalls when pyproject changes)."""
    return pins_from(requires("deploykit") or [])
