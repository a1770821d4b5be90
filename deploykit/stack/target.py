"""Choose the target a command works on, the same way for every command.

A target is one of:
- `--stack NAME`: the outputs of a Pulumi stack, read with
  `pulumi stack output --json --show-secrets --stack NAME` in the project folder (the
  manifest's); the stacks export one output per key of the outputs document, so its JSON is
  the document itself. Secrets in what the CLI prints are never echoed.
- `--outputs FILE`: an outputs document (`deploykit dev up` writes one; so can
  `pulumi stack output --json --show-secrets > FILE`).
- nothing: the running local stack's `.deploykit/outputs.json`.
- `--url URL` with credentials (`deploykit nats` only): one account, so one bus.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from deploykit.errors import ConfigError
from deploykit.manifest.model import Manifest
from deploykit.manifest.naming import inbox_prefix, provisioning_user
from deploykit.stack.outputs import NatsCredential, StackOutputs, load_outputs, parse_outputs

__all__ = [
    "LOCAL_OUTPUTS",
    "PULUMI_TIMEOUT",
    "BusTarget",
    "bus_targets",
    "find_pulumi",
    "pulumi_cache",
    "resolve_outputs",
]

LOCAL_OUTPUTS = Path(".deploykit") / "outputs.json"
PULUMI_TIMEOUT = 120.0  # seconds; `stack output` may have to reach the Pulumi Cloud backend


def pulumi_cache() -> Path:
    """Where the kit's toolchain build keeps Pulumi CLIs, one folder per version."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "deploykit" / "pulumi"


def find_pulumi() -> str | None:
    """The Pulumi CLI: on PATH, else where its installer puts it (~/.pulumi/bin), else the
    newest version the kit built into its cache (~/.cache/deploykit/pulumi/VERSION/bin)."""
    found = shutil.which("pulumi")
    if found:
        return found
    candidates = [Path.home() / ".pulumi" / "bin" / "pulumi"]
    cache = pulumi_cache()
    if cache.is_dir():
        built = sorted(cache.glob("*/bin/pulumi"), key=lambda p: _version_key(p.parent.parent.name))
        candidates += reversed(built)
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    return None


def _version_key(name: str) -> tuple[int, ...]:
    """`v3.260.0` → (3, 260, 0); a folder not named like a version sorts first."""
    parts = name.removeprefix("v").split("-")[0].split(".")
    return tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) else (-1,)


def _from_pulumi(stack: str, project_dir: Path) -> StackOutputs:
    pulumi = find_pulumi()
    if pulumi is None:
        raise ConfigError(
            f"--stack {stack}: the Pulumi CLI is not installed (`pulumi` is not on PATH, nor in "
            "~/.pulumi/bin or ~/.cache/deploykit/pulumi); install it "
            "(https://www.pulumi.com/docs/iac/download-install/), or where it is, run "
            f"`pulumi stack output --stack {stack} --json --show-secrets > outputs.json` and pass "
            "that file as --outputs FILE (it holds secrets: keep it 0600)"
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
    """The outputs of the chosen target and a label saying where they came from (for reports)."""
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


@dataclass(frozen=True)
class BusTarget:
    """One bus of a target as `deploykit nats` reaches it: its account's URL and user."""

    bus: str
    url: str
    credential: NatsCredential | None
    cluster_size: int | None


def bus_targets(
    manifest: Manifest,
    project_dir: Path,
    *,
    url: str | None,
    user: str | None,
    password: str | None,
    creds: Path | None,
    stack: str | None,
    outputs: Path | None,
    buses: list[str],
    cluster_size: int | None,
) -> list[BusTarget]:
    """Each chosen bus (default: every bus) with how to reach it: from outputs (each bus as its
    `provisioning-<bus>` user), or from `--url` and the credentials given with it."""
    unknown = [b for b in buses if b not in manifest.buses]
    if unknown:
        raise ConfigError(
            f"--bus {unknown[0]}: not a bus of the manifest "
            f"(declared: {', '.join(sorted(manifest.buses))})"
        )
    chosen = buses or list(manifest.buses)
    if url is None:
        if user or password or creds:
            raise ConfigError("--user, --password and --creds go with --url, not with outputs")
        found, _ = resolve_outputs(stack, outputs, project_dir)
        size = cluster_size or found.nats.cluster_size
        urls = ",".join(found.nats.urls)
        return [BusTarget(b, urls, found.credential(provisioning_user(b)), size) for b in chosen]
    if stack or outputs:
        raise ConfigError(
            "give exactly one target: --url (with credentials), --outputs FILE or --stack NAME"
        )
    if len(manifest.buses) > 1 and not buses:
        raise ConfigError(
            "--url connects to one account: name its bus with --bus "
            f"(one of {', '.join(sorted(manifest.buses))})"
        )
    text = _creds_text(user, password, creds)
    try:
        in_url = urlsplit(url.split(",")[0].strip()).username
    except ValueError:  # not a URL: connecting says so
        in_url = None

    def credential(bus: str) -> NatsCredential | None:
        """Replies come to the user's own inbox, the only one its permissions let it read: the
        named user's (option or URL), or with a .creds document the bus's provisioning user's."""
        if not (user or text or in_url):
            return None
        inbox = inbox_prefix(user or in_url or provisioning_user(bus))
        return NatsCredential(
            account="",
            role="provisioning",
            user=user,
            password=password,
            creds=text,
            inbox_prefix=inbox,
        )

    return [BusTarget(b, url, credential(b), cluster_size) for b in chosen]


def _creds_text(user: str | None, password: str | None, creds: Path | None) -> str | None:
    """The .creds document given with --creds, after checking the credential options agree."""
    if not (user or creds):
        if password:
            raise ConfigError("--password needs --user")
        return None
    if user and creds:
        raise ConfigError("give --user/--password or --creds, not both")
    if creds is None:
        return None
    try:
        return creds.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--creds {creds}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"--creds {creds}: not a .creds document (not text)") from None
