"""Where a smoke run gets its stack outputs: a Pulumi stack, a file, or the local stack.

`--stack NAME` runs `pulumi stack output --json --show-secrets --stack NAME` in the project
folder (the manifest's); the Pulumi stacks export one output per key of the outputs document,
so its JSON is the document itself. Without the Pulumi CLI, or when it fails, the message says
so and what to do instead; secrets in its output are never echoed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from deploykit.errors import ConfigError
from deploykit.stack.outputs import StackOutputs, load_outputs, parse_outputs

__all__ = ["LOCAL_OUTPUTS", "PULUMI_TIMEOUT", "find_pulumi", "resolve_outputs"]

LOCAL_OUTPUTS = Path(".deploykit") / "outputs.json"
PULUMI_TIMEOUT = 120.0  # seconds; `stack output` may have to reach the Pulumi Cloud backend


def find_pulumi() -> str | None:
    """The Pulumi CLI on PATH, else where its installer puts it (~/.pulumi/bin)."""
    found = shutil.which("pulumi")
    if found:
        return found
    home = Path(os.path.expanduser("~")) / ".pulumi" / "bin" / "pulumi"
    return str(home) if home.is_file() and os.access(home, os.X_OK) else None


def _from_pulumi(stack: str, project_dir: Path) -> StackOutputs:
    pulumi = find_pulumi()
    if pulumi is None:
        raise ConfigError(
            f"--stack {stack}: the Pulumi CLI is not installed (`pulumi` is not on PATH); "
            "install it (https://www.pulumi.com/docs/install/) or pass the outputs as a file: "
            "--outputs FILE (from `pulumi stack output --json --show-secrets`)"
        )
    argv = [pulumi, "stack", "output", "--json", "--show-secrets", "--stack", stack]
    try:
        done = subprocess.run(
            argv,
            cwd=project_dir,
            capture_output=True,
            text=True,
            timeout=PULUMI_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ConfigError(
            f"--stack {stack}: `pulumi stack output` did not finish in {PULUMI_TIMEOUT:g}s"
        ) from None
    except OSError as exc:
        raise ConfigError(f"--stack {stack}: cannot run {pulumi}: {exc.strerror}") from None
    if done.returncode != 0:
        said = done.stderr.strip().splitlines()
        reason = said[-1] if said else f"exit code {done.returncode}"
        raise ConfigError(f"--stack {stack}: `pulumi stack output` failed: {reason}")
    try:
        data = json.loads(done.stdout)
    except ValueError:
        raise ConfigError(
            f"--stack {stack}: `pulumi stack output --json` printed no JSON"
        ) from None
    return parse_outputs(data, f"pulumi stack {stack}")


def resolve_outputs(
    stack: str | None, outputs: Path | None, project_dir: Path
) -> tuple[StackOutputs, str]:
    """The outputs and a label saying where they came from (for reports)."""
    if stack and outputs:
        raise ConfigError("give --stack NAME or --outputs FILE, not both")
    if stack:
        return _from_pulumi(stack, project_dir), f"pulumi stack {stack}"
    if outputs:
        return load_outputs(outputs), str(outputs)
    if not LOCAL_OUTPUTS.exists():
        raise ConfigError(
            f"{LOCAL_OUTPUTS}: no local stack outputs here; start the local stack with "
            "`deploykit dev up`, or pass --outputs FILE or --stack NAME"
        )
    return load_outputs(LOCAL_OUTPUTS), str(LOCAL_OUTPUTS)
