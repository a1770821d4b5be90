"""The small tier's scheduled backup, as decided: Railway's cron rules, the stack config's
`backup` section, the job's command and outputs document."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest

from deploykit.errors import ConfigError
from deploykit.manifest.load import load_manifest
from deploykit.small.backup import OUTPUTS_FILE, backup_users, job_outputs, start_command
from deploykit.stack.config import SmallConfig, parse_stack_config
from deploykit.stack.cron import cron_problem
from deploykit.stack.outputs import StackOutputs

ROOT = Path(__file__).resolve().parents[2]
BUCKET = {"bucket": "b", "endpoint": "https://s3.example.test", "accessKeyId": "id", "image": "i"}


@pytest.mark.parametrize(
    "schedule",
    ["0 3 * * *", "*/5 * * * *", "30 9 * * 1-5", "0 0 1 * *", "0 */2 * * *", "0 8 * * 7"],
)
def test_schedules_railway_takes(schedule: str) -> None:
    assert cron_problem(schedule) is None


@pytest.mark.parametrize(
    ("schedule", "words"),
    [
        ("* * * * *", "1 minute(s) apart"),
        ("*/4 * * * *", "4 minute(s) apart"),
        ("0,3 * * * *", "3 minute(s) apart"),
        ("0 3 * *", "of 5 fields"),
        ("60 3 * * *", "minute 60: outside 0-59"),
        ("0 3 0 * *", "day of the month 0: outside 1-31"),
        ("0 3 * 13 *", "month 13: outside 1-12"),
        ("0 3 * * 8", "day of the week 8: outside 0-7"),
        ("*/0 3 * * *", "a step is a positive number"),
        ("0 3-1 * * *", "hour '3-1': a range runs upwards"),
        ("@daily", "of 5 fields"),
    ],
)
def test_schedules_railway_refuses(schedule: str, words: str) -> None:
    assert words in (cron_problem(schedule) or "")


def _config(backup: dict[str, Any]) -> SmallConfig:
    stack = parse_stack_config(
        {"deploykit:tier": "small", "deploykit:small": {"backup": backup}},
        "stacks/Pulumi.small.yaml",
    )
    assert isinstance(stack.settings, SmallConfig)
    return stack.settings


def test_the_backup_section_names_the_bad_field() -> None:
    with pytest.raises(ConfigError, match=r"Pulumi.small.yaml: deploykit:small.backup: schedule"):
        _config({**BUCKET, "schedule": "*/2 * * * *"})
    with pytest.raises(ConfigError, match=r"deploykit:small.backup: a backup .* needs image \("):
        _config({**BUCKET, "image": ""})
    with pytest.raises(ConfigError, match=r"needs endpoint, accessKeyId"):
        _config({"bucket": "b", "image": "i"})
    with pytest.raises(ConfigError, match=r"deploykit:small.backup.keep"):
        _config({**BUCKET, "keep": 0})
    assert not _config({}).backup.enabled


def test_the_job_runs_the_backup_into_the_bucket_with_retention() -> None:
    settings = _config({**BUCKET, "prefix": "/acme/prod/", "keep": 3, "manifest": "ops/dk.yaml"})
    argv = shlex.split(start_command(settings.backup))
    assert argv[:2] == ["/bin/sh", "-c"] and len(argv) == 3
    script = argv[2]
    assert script == (
        f'umask 077 && printf %s "$DEPLOYKIT_OUTPUTS" > {OUTPUTS_FILE} && exec deploykit backup '
        f"-f ops/dk.yaml --outputs {OUTPUTS_FILE} --to s3://b/acme/prod --keep 3"
    )


def test_the_job_connects_only_as_the_backup_users_of_buses_with_backups() -> None:
    manifest = load_manifest(ROOT / "deploykit.yaml")
    settings = _config(BUCKET)
    assert backup_users(manifest, settings) == ["backup-core"]
    assert backup_users(manifest, _config({})) == []
    document = job_outputs(manifest, settings, {"backup-core": "--creds--"})
    outputs = StackOutputs.model_validate_json(document)
    assert list(outputs.nats.credentials) == ["backup-core"]
    assert outputs.credential("backup-core").role == "backup"
