"""`python -m deploykit.toolchain`: get the Pulumi CLI of the pinned version (scripts/bootstrap)."""

from __future__ import annotations

import sys

from deploykit.errors import ConfigError
from deploykit.toolchain.ensure import NOT_FROM_GO, EngineUnavailable, ensure
from deploykit.toolchain.gobuild import BuildError


def _say(line: str) -> None:
    print(f"bootstrap: {line}", flush=True)


def main() -> int:
    """0 when the CLI is ready or cannot be had here (said why); 1 when a build failed."""
    try:
        toolchain = ensure(_say)
    except EngineUnavailable as exc:
        _say(str(exc))
        return 0
    except (BuildError, ConfigError) as exc:
        _say(str(exc))
        return 1
    _say(f"Pulumi CLI {toolchain.cli} ({toolchain.source}): {toolchain.bin}")
    if (
        toolchain.source in ("cache", "go build")
        and not (toolchain.bin / "pulumi-language-python").exists()
    ):
        _say(f"no Python language host: {NOT_FROM_GO['pulumi-language-python']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
