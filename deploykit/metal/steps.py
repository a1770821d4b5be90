"""The lifecycle of a step on a host, and the SSH command line that runs it. Pure.

A step is three scripts and its inputs (`components/metal/remote.py` hands them to Pulumi):

- `create` runs when the step is new;
- `update` (the create script when empty) runs when a script, stdin or a trigger changed;
  it is idempotent and compares before it restarts anything;
- `delete` runs on `pulumi destroy`, or when the step leaves the program: it stops and removes
  what `create` installed. Data folders are in it only with `metal.destroyData: true`.

`step_change` decides, from the old and new inputs, what the engine does: nothing, record
the new inputs without running anything (a new SSH key, a new delete script), run `update`,
or replace the step (a different machine: delete on the old one, create on the new one).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from deploykit.metal.shell import as_root, q, script

__all__ = [
    "CONNECT_RETRY_SECONDS",
    "DELETE_LOCK",
    "KIT_FOLDERS",
    "SSH_FAILED",
    "UPLOAD_DIR",
    "Change",
    "Upload",
    "delete_script",
    "describe",
    "ssh_argv",
    "step_change",
    "upload_script",
]

UPLOAD_DIR = "/var/lib/deploykit/uploads"


@dataclass(frozen=True)
class Upload:
    """A file of the deploying machine that a step needs on the host, by its digest."""

    source: str
    target: str
    sha256: str

    def as_input(self) -> dict[str, str]:
        return {"source": self.source, "target": self.target, "sha256": self.sha256}


# Folders only the kit writes: left empty by the steps' delete scripts, they go too.
DELETE_LOCK = "/run/lock/deploykit-steps.lock"  # /run is a tmpfs: nothing is left behind
KIT_FOLDERS = (
    "/etc/deploykit",
    "/opt/deploykit",
    "/usr/local/lib/deploykit",
    "/var/lib/deploykit",
    "/var/cache/deploykit",
    "/run/deploykit",
)


def delete_script(delete: str, uploads: Sequence[Mapping[str, str]]) -> str:
    """What `pulumi destroy` runs for a step: its delete script, then the files it uploaded,
    then whichever of the kit's folders are left empty."""
    if not delete.strip() and not uploads:
        return ""
    targets = " ".join(q(u["target"]) for u in uploads)
    # apt, installing from an uploaded folder as its archive cache, leaves `partial/` and `lock`
    folders = sorted({u["target"].rsplit("/", 1)[0] for u in uploads})
    apt = " ".join(q(f"{f}/{n}") for f in folders for n in ("partial", "lock"))
    return script(
        # one step's removal at a time on a host: Pulumi deletes steps in parallel, and the
        # sweep of empty folders fails on a tree that another step is removing meanwhile
        f"exec 9>{DELETE_LOCK}",
        "flock 9",
        delete,
        f"rm -rf {targets} {apt}" if uploads else "",
        *(f"[ ! -d {d} ] || find {d} -depth -type d -empty -delete" for d in KIT_FOLDERS),
    )


def upload_script(uploads: Sequence[Mapping[str, str]]) -> str:
    """Receive files as a tar stream on stdin (paths relative to /); each must have its
    expected digest, else all of them are removed and the step fails."""
    sums = "\n".join(f"{u['sha256']}  {u['target']}" for u in uploads)
    targets = " ".join(q(u["target"]) for u in uploads)
    return script(
        "tar -xf - -C / --no-same-owner",
        f"if ! sha256sum -c --quiet - <<'SHA256SUMS'\n{sums}\nSHA256SUMS",
        "then",
        f"rm -f {targets}; echo 'upload: checksum mismatch' >&2; exit 1",
        "fi",
    )


Change = Literal["none", "record", "update", "replace"]

SSH_FAILED = 255  # ssh's own exit status: it could not connect (the host may be rebooting)
CONNECT_RETRY_SECONDS = 120

_MACHINE = ("host", "port", "user")
_RUN = ("create", "update", "stdin", "triggers", "uploads")
_RECORD = ("delete", "private_key", "known_hosts")


def step_change(olds: Mapping[str, Any], news: Mapping[str, Any]) -> Change:
    """What a change of inputs means for a step already on a host."""

    def changed(keys: tuple[str, ...]) -> bool:
        return any(_compared(k, olds.get(k)) != _compared(k, news.get(k)) for k in keys)

    if changed(_MACHINE):
        return "replace"
    if changed(_RUN):
        return "update"
    if changed(_RECORD):
        return "record"
    return "none"


def _compared(key: str, value: Any) -> Any:
    """An upload is the same whatever folder of the deploying machine it comes from."""
    if key == "uploads":
        return sorted((u["target"], u["sha256"]) for u in value or [])
    return value


def ssh_argv(
    *,
    host: str,
    user: str,
    port: int,
    key_file: str,
    known_hosts: str,
    body: str,
    connect_timeout: int = 10,
) -> list[str]:
    """The OpenSSH client command that runs `body` as root on the host.

    `known_hosts`: a known_hosts file to check the host against strictly; empty means the
    user's own files, where a host seen for the first time is added (`accept-new`)."""
    checking = (
        ["-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known_hosts}"]
        if known_hosts
        else ["-o", "StrictHostKeyChecking=accept-new"]
    )
    return [
        "ssh",
        "-i",
        key_file,
        "-p",
        str(port),
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        f"ConnectTimeout={connect_timeout}",
        "-o",
        "ServerAliveInterval=15",
        "-o",
        "LogLevel=ERROR",
        *checking,
        f"{user}@{host}",
        as_root(body, user),
    ]


def describe(argv: list[str]) -> str:
    """The command line without the script, for error messages."""
    return shlex.join(argv[:-1]) + " <script>"
