"""Backups into an S3-compatible bucket: a real S3 server on loopback (moto's server, which
follows AWS's published S3 API) and a real local stack.

The rules checked: a snapshot streams into the bucket and restores from it (and drills from
it); the manifest is put
last, so a backup killed mid-upload leaves a partial that nothing takes for a snapshot; `--keep N`
leaves exactly N; a partial is removed only once it is stale, with its unfinished upload.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
import pytest

from deploykit.backup.archive import MANIFEST, STREAM
from deploykit.backup.store import STALE, S3Settings, S3Store
from deploykit.local.ports import free_ports
from deploykit.local.stack import LocalStack
from deploykit.stack.outputs import StackOutputs, load_outputs
from deploykit.testing.polling import wait_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MANIFEST_FILE = ROOT / "deploykit.yaml"
BIG = 64  # messages of 512 KiB on ACCOUNTS: 32 MiB, four multipart parts
BUCKET = "backups"
CLI = (sys.executable, "-c", "from deploykit.cli import main; main()")


@pytest.fixture(scope="module")
def s3() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_ports(1)[0]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def env(s3: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "AWS_ACCESS_KEY_ID": "test-key",
        "AWS_SECRET_ACCESS_KEY": "test-secret",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": s3,
    }


@pytest.fixture()
def store(s3: str, env: dict[str, str], request: pytest.FixtureRequest) -> S3Store:
    """A fresh prefix per test in the one bucket."""
    settings = S3Settings(s3, "us-east-1", env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])
    found = S3Store(f"s3://{BUCKET}/{request.node.name}", settings)
    buckets = [b["Name"] for b in found.client.list_buckets()["Buckets"]]
    if BUCKET not in buckets:
        found.client.create_bucket(Bucket=BUCKET)
    return found


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackOutputs]:
    local = LocalStack(
        tmp_path_factory.mktemp("backup-s3") / ".deploykit", MANIFEST_FILE, report=lambda _: None
    )
    try:
        local.up(nodes=1)
        found = load_outputs(local.dir.outputs_file)
        asyncio.run(_publish(found))
        yield found
    finally:
        local.down()


async def _publish(outputs: StackOutputs) -> None:
    nc = await nats.connect(outputs.nats.urls, **outputs.credential("accounts").connect_options())
    js = nc.jetstream()
    for i in range(BIG):
        await js.publish("accounts.events.created", os.urandom(512 << 10), headers={"n": str(i)})
    await nc.close()


def _cli(env: dict[str, str], outputs: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args, "-f", str(MANIFEST_FILE), "--outputs", str(outputs)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _outputs_file(outputs: StackOutputs, tmp_path: Path) -> Path:
    path = tmp_path / "outputs.json"
    path.write_text(outputs.model_dump_json())
    return path


def _uploads(store: S3Store) -> list[dict[str, Any]]:
    found = store.client.list_multipart_uploads(Bucket=BUCKET, Prefix=store.root)
    return list(found.get("Uploads", []))


def test_backup_to_s3_then_restore_from_s3(
    outputs: StackOutputs, store: S3Store, env: dict[str, str], tmp_path: Path
) -> None:
    file = _outputs_file(outputs, tmp_path)
    done = _cli(env, file, "backup", "--to", store.location, "--json")
    assert done.returncode == 0, done.stderr
    [result] = json.loads(done.stdout)
    assert result["messages"] >= BIG and result["folder"].startswith(f"{store.location}/ACCOUNTS-")
    [name] = store.complete("ACCOUNTS")
    assert result["folder"] == f"{store.location}/{name}"
    assert _uploads(store) == []
    restored = _cli(env, file, "restore", result["folder"], "--into", "ACCOUNTS_FROM_S3", "--json")
    assert restored.returncode == 0, restored.stderr + restored.stdout
    report = json.loads(restored.stdout)
    assert report["verified"] and report["messages"] == result["messages"]
    drilled = _cli(env, file, "backup", "drill", "--from", store.location, "--json")
    assert drilled.returncode == 0, drilled.stderr + drilled.stdout
    [drill] = json.loads(drilled.stdout)
    assert drill["passed"] and drill["snapshot"] == result["folder"]
    assert drill["messages"] == result["messages"] and drill["bytes"] == result["bytes"]
    empty = _cli(env, file, "backup", "drill", "--from", f"{store.location}-none")
    assert empty.returncode == 2 and "no complete snapshot of stream ACCOUNTS" in empty.stderr


def test_a_backup_killed_mid_upload_is_never_complete_and_goes_when_stale(
    outputs: StackOutputs, store: S3Store, env: dict[str, str], tmp_path: Path
) -> None:
    file = _outputs_file(outputs, tmp_path)
    args = ["backup", "--to", store.location, "-f", str(MANIFEST_FILE), "--outputs", str(file)]
    proc = subprocess.Popen(
        [*CLI, *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(
            lambda: _uploads(store), 60, "the messages' multipart upload to start", poll=0.005
        )
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    complete, partial = store.names()
    assert complete == set() and len(partial) == 1
    [name] = partial
    assert store.client.get_object(Bucket=BUCKET, Key=store.key(name, STREAM))  # begun...
    keys = [o["Key"] for o in store.client.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert store.key(name, MANIFEST) not in keys  # ...never finished
    refused = _cli(env, file, "restore", f"{store.location}/{name}", "--into", "NEVER")
    assert refused.returncode == 2 and "no complete snapshot" in refused.stderr

    rerun = _cli(env, file, "backup", "--to", store.location)
    assert rerun.returncode == 0, rerun.stderr
    assert len(store.complete("ACCOUNTS")) == 1
    assert store.names()[1] == {name}  # a fresh partial may be a running backup: it stays
    assert store.remove_leftovers("ACCOUNTS") == []
    later = datetime.now(UTC) + STALE + STALE
    assert store.remove_leftovers("ACCOUNTS", later) == [name]
    assert store.names()[1] == set() and _uploads(store) == []
    assert len(store.complete("ACCOUNTS")) == 1


def test_keep_leaves_exactly_n_complete_snapshots(
    outputs: StackOutputs, store: S3Store, env: dict[str, str], tmp_path: Path
) -> None:
    file = _outputs_file(outputs, tmp_path)
    written = []
    for _ in range(4):
        done = _cli(
            env, file, "backup", "--to", store.location, "--stream", "PAGEVIEWS", "--keep", "2",
            "--json",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        written.append(json.loads(done.stdout)[0]["folder"].rsplit("/", 1)[-1])
    assert store.complete("PAGEVIEWS") == written[2:]
    local = _cli(env, file, "backup", "--to", str(tmp_path / "b"), "--stream", "PAGEVIEWS")
    again = _cli(env, file, "backup", "--to", str(tmp_path / "b"), "--stream", "PAGEVIEWS", "--keep", "1")  # fmt: skip
    assert local.returncode == again.returncode == 0, local.stderr + again.stderr
    assert "deleted 1 older" in again.stdout
    assert len(list((tmp_path / "b").iterdir())) == 1
