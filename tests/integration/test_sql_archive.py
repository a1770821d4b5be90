"""The SQL copy on the local stack: the archiver keeps exactly the stream's events, survives
kill -9 without a gap or a duplicate, and `restore --from-sql` rebuilds the stream.

The reference system with `backup: {sql: true}`, brought up by `deploykit dev`'s code (one NATS
node with the compiled permissions, the local PostgreSQL, the apps and `archiver-core`).
Events are published as the accounts service (its own user), the copy is read back as the
archiver's login, and restores run as the kit's backup and provisioning users.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import nats
import psycopg
import pytest
import yaml

from deploykit.backup.archive import ContentSum, Record
from deploykit.backup.fromsql import sql_source
from deploykit.backup.reader import read_stream
from deploykit.backup.restore import restore
from deploykit.backup.sqlcopy import TABLE
from deploykit.errors import ConfigError
from deploykit.jetstream.api import cluster_size, connect
from deploykit.local.stack import LocalStack
from deploykit.manifest.load import load_manifest
from deploykit.manifest.model import Manifest
from deploykit.stack.outputs import StackOutputs, load_outputs
from deploykit.testing.polling import wait_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CHECKOUT_ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
STREAM = "ACCOUNTS"


@pytest.fixture(scope="module")
def manifest_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference deploykit.yaml with the SQL copy on, beside the apps it runs."""
    folder = tmp_path_factory.mktemp("sqlcopy")
    document = yaml.safe_load((ROOT / "deploykit.yaml").read_text())
    document["backup"] = {"sql": True}
    path = folder / "deploykit.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    (folder / "apps").symlink_to(ROOT / "apps")
    return path


@pytest.fixture(scope="module")
def stack(manifest_file: Path) -> Iterator[LocalStack]:
    local = LocalStack(manifest_file.parent / ".deploykit", manifest_file, report=lambda _: None)
    try:
        local.up(nodes=1)
        yield local
    finally:
        local.down()


@pytest.fixture(scope="module")
def outputs(stack: LocalStack) -> StackOutputs:
    return load_outputs(stack.dir.outputs_file)


@pytest.fixture(scope="module")
def manifest(manifest_file: Path) -> Manifest:
    return load_manifest(manifest_file)


async def _publish(outputs: StackOutputs, start: int, count: int) -> None:
    """Events on ACCOUNTS as the accounts service emits them, with headers (kept by the copy)."""
    nc = await nats.connect(outputs.nats.urls, **outputs.credential("accounts").connect_options())
    js = nc.jetstream()
    for first in range(start, start + count, 500):
        acks = [
            await js.publish_async(
                "accounts.events.created",
                json.dumps({"id": str(i), "email": f"u{i}@example.com"}).encode(),
                headers={"Nats-Msg-Id": f"sql-{i}", "Trace": str(i)},
            )
            for i in range(first, min(first + 500, start + count))
        ]
        await asyncio.gather(*acks)
    await nc.close()


async def _stream_figures(outputs: StackOutputs) -> tuple[int, int, str]:
    """(count, last sequence, content checksum) of the live stream, read as the backup user."""
    nc = await connect(",".join(outputs.nats.urls), outputs.credential("backup-core"))
    try:
        info = json.loads((await nc.request(f"$JS.API.STREAM.INFO.{STREAM}", b"", 5)).data)
        state = info["state"]
        content = ContentSum()

        def sink(record: Record) -> None:
            content.add(record.subject, record.data)

        await read_stream(nc, STREAM, state["first_seq"], state["last_seq"], sink)
        return state["messages"], state["last_seq"], content.hexdigest()
    finally:
        await nc.close()


def _copy_figures(outputs: StackOutputs) -> tuple[int, int, int, str]:
    """(rows, distinct sequences, last sequence, content checksum) of the SQL copy."""
    assert outputs.database and outputs.database.archive_url
    content = ContentSum()
    with psycopg.connect(outputs.database.archive_url) as conn:
        rows, distinct, last = conn.execute(
            f"SELECT count(*), count(DISTINCT seq), coalesce(max(seq), 0) FROM {TABLE} "
            "WHERE stream = %s",
            (STREAM,),
        ).fetchone() or (0, 0, 0)
        for subject, payload in conn.execute(
            f"SELECT subject, payload FROM {TABLE} WHERE stream = %s ORDER BY seq", (STREAM,)
        ):
            content.add(subject, bytes(payload))
    return rows, distinct, last, content.hexdigest()


def _archived(outputs: StackOutputs) -> int:
    return _copy_figures(outputs)[0]


def _caught_up(outputs: StackOutputs) -> None:
    count, _, _ = asyncio.run(_stream_figures(outputs))
    wait_until(lambda: _archived(outputs) >= count, 60, f"{count} rows in the copy")


def test_the_copy_holds_exactly_the_streams_events(outputs: StackOutputs) -> None:
    asyncio.run(_publish(outputs, 0, 3000))
    _caught_up(outputs)
    count, last, checksum = asyncio.run(_stream_figures(outputs))
    assert _copy_figures(outputs) == (count, count, last, checksum)
    with psycopg.connect(outputs.database.archive_url) as conn:  # type: ignore[union-attr]
        headers, time = conn.execute(
            f"SELECT headers, time FROM {TABLE} WHERE stream = %s AND seq = %s", (STREAM, last)
        ).fetchone() or (None, None)
    assert headers["Trace"] == "2999" and time is not None


@pytest.mark.parametrize("statement", [f"DELETE FROM {TABLE}", f"UPDATE {TABLE} SET seq = seq",
                                       f"TRUNCATE {TABLE}", f"DROP TABLE {TABLE}",
                                       f"ALTER TABLE {TABLE} ADD COLUMN x int"])  # fmt: skip
def test_the_copy_is_append_only_for_the_archiver(outputs: StackOutputs, statement: str) -> None:
    assert outputs.database and outputs.database.archive_url
    with (
        psycopg.connect(outputs.database.archive_url) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute(statement)


def _archiver_pid(stack: LocalStack) -> int:
    pid = stack._service_proc("archiver-core").pid()
    assert pid is not None, "the archiver is not running"
    return pid


def test_kill_9_of_the_archiver_mid_stream_leaves_no_gap_and_no_duplicate(
    stack: LocalStack, outputs: StackOutputs
) -> None:
    """kill -9 while events are still being published and copied; `dev up` starts it again;
    the unacknowledged messages come back after the consumer's ack wait and the committed ones
    are skipped by the key."""
    before = _archived(outputs)
    pid = _archiver_pid(stack)
    publisher = threading.Thread(target=asyncio.run, args=(_publish(outputs, 10_000, 40_000),))
    publisher.start()
    try:
        wait_until(lambda: _archived(outputs) > before + 1000, 60, "the archiver to copy")
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: stack._service_proc("archiver-core").pid() is None, 10, "the kill")
        stopped_at = _archived(outputs)
    finally:
        publisher.join()
    stack.up(nodes=1)
    assert _archiver_pid(stack) != pid
    _caught_up(outputs)
    count, last, checksum = asyncio.run(_stream_figures(outputs))
    assert stopped_at < count, "the kill came after the copy had caught up: nothing was proven"
    assert _copy_figures(outputs) == (count, count, last, checksum)


async def _restore_from_sql(
    outputs: StackOutputs, manifest: Manifest, into: str
) -> tuple[int, list[str], int]:
    assert outputs.database and outputs.database.archive_url
    data = await connect(",".join(outputs.nats.urls), outputs.credential("backup-core"))
    admin = await connect(",".join(outputs.nats.urls), outputs.credential("provisioning-core"))
    try:
        async with sql_source(outputs.database.archive_url, manifest, STREAM) as source:
            report = await restore(data, admin, source, into, max_replicas=cluster_size(admin))
        return report.messages, report.problems, report.last_seq
    finally:
        await data.close()
        await admin.close()


def test_restore_from_sql_rebuilds_the_stream(outputs: StackOutputs, manifest: Manifest) -> None:
    _caught_up(outputs)
    count, last, _ = asyncio.run(_stream_figures(outputs))
    messages, problems, restored_last = asyncio.run(
        _restore_from_sql(outputs, manifest, "ACCOUNTS_FROM_SQL")
    )
    assert problems == []
    assert (messages, restored_last) == (count, last)


def test_restore_from_sql_refuses_a_stream_the_copy_does_not_hold(
    outputs: StackOutputs, manifest: Manifest
) -> None:
    with pytest.raises(ConfigError, match="holds no event of stream PAGEVIEWS"):
        asyncio.run(_restore_from_sql_of(outputs, manifest, "PAGEVIEWS"))


async def _restore_from_sql_of(outputs: StackOutputs, manifest: Manifest, stream: str) -> None:
    assert outputs.database and outputs.database.archive_url
    async with sql_source(outputs.database.archive_url, manifest, stream):
        pass


def test_the_restore_command_from_sql(
    stack: LocalStack, manifest_file: Path, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from deploykit.cli import main; main()", "restore",
         "--from-sql", "--stream", STREAM, "--into", "ACCOUNTS_SQL_CLI", "-f", str(manifest_file),
         "--outputs", str(stack.dir.outputs_file), "--json"],
        cwd=tmp_path, env=CHECKOUT_ENV, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["verified"] and report["consumers"] == []
