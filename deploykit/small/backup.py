"""The small tier's scheduled backup: a Railway cron service running `deploykit backup`. Pure.

Railway starts a service that has a cron schedule at each scheduled time (UTC) and expects it to
exit (railwayapp/docs `src/docs/reference/cron-jobs.md`); it skips a run while the previous one
is still running. The job runs the stack's `backup.image` with

    deploykit backup -f MANIFEST --outputs FILE --to s3://BUCKET/PREFIX --keep N

where FILE is written, 0600, from the DEPLOYKIT_OUTPUTS variable: an outputs document holding
only the NATS URL and the buses' backup users (which can read streams and write none). The
bucket's key comes as the standard AWS_* variables. Every secret is a Railway variable set from
a Pulumi secret, never part of the start command.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from typing import TypeVar

from deploykit.manifest import naming
from deploykit.manifest.model import Manifest
from deploykit.small.outputs import credentials
from deploykit.stack.config import SmallBackup, SmallConfig
from deploykit.stack.outputs import parse_outputs

__all__ = ["JOB", "OUTPUTS_FILE", "backup_users", "job_env", "job_outputs", "start_command"]

V = TypeVar("V")  # a value: a string here, a Pulumi Output in the components

JOB = "deploykit-backup"  # the Railway service's name
OUTPUTS_FILE = "/tmp/deploykit-outputs.json"


def backup_users(manifest: Manifest, settings: SmallConfig) -> list[str]:
    """The backup users the job connects as, one per bus with `backup: true` streams (memory
    ones too: the kit reads them like any other); none when the stack names no bucket."""
    if not settings.backup.enabled:
        return []
    buses = {stream.bus for stream in manifest.streams.values() if stream.backup}
    return [naming.backup_user(bus) for bus in sorted(buses)]


def job_outputs(manifest: Manifest, settings: SmallConfig, creds: Mapping[str, str]) -> str:
    """The outputs document the job reads (JSON): the NATS URL and the backup users' creds."""
    document = {
        "target": "small",
        "system": manifest.system,
        "nats": {
            "urls": [settings.nats.url],
            "cluster_size": settings.nats.maxReplicas,
            "credentials": credentials(manifest, creds),
        },
    }
    checked = parse_outputs(document, "the backup job's outputs")
    return json.dumps(checked.model_dump(mode="json", exclude_defaults=True), sort_keys=True)


def start_command(backup: SmallBackup) -> str:
    """What Railway runs: a shell, so that the outputs variable becomes a 0600 file (Railway
    expands variables in a start command only through a shell)."""
    backup_args = [
        "deploykit", "backup", "-f", backup.manifest, "--outputs", OUTPUTS_FILE,
        "--to", backup.url, "--keep", str(backup.keep),
    ]  # fmt: skip
    script = (
        f'umask 077 && printf %s "$DEPLOYKIT_OUTPUTS" > {OUTPUTS_FILE} && '
        f"exec {shlex.join(backup_args)}"
    )
    return shlex.join(["/bin/sh", "-c", script])


def job_env(backup: SmallBackup, secret_access_key: V, outputs: V) -> dict[str, V | str]:
    """The job's Railway variables; the secret ones stay whatever (secret) value was passed."""
    env: dict[str, V | str] = {
        "DEPLOYKIT_OUTPUTS": outputs,
        "AWS_ACCESS_KEY_ID": backup.accessKeyId,
        "AWS_SECRET_ACCESS_KEY": secret_access_key,
        "AWS_ENDPOINT_URL_S3": backup.endpoint,
    }
    if backup.region:
        env["AWS_REGION"] = backup.region
    return env
