"""Backups on the local stack: back up, restore into a new stream, verify; drills; interrupts.

Everything runs as the kit's own users on a real local stack (one NATS node with the compiled
permissions): the backup user reads, the provisioning user creates and deletes restored streams.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import nats
import pytest

from deploykit.backup.archive import MANIFEST, ContentSum, Record, SnapshotManifest, write_record
from deploykit.backup.restore import RestoreReport, restore_snapshot
from deploykit.backup.snapshot import snapshot_stream
from deploykit.errors import PlanRefused
from deploykit.jetstream.api import connect
from deploykit.local.stack import LocalStack
from deploykit.stack.outputs import StackOutputs, load_outputs

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MANIFEST_FILE = ROOT / "deploykit.yaml"
EVENTS = 3000
CHECKOUT_ENV = {**os.environ, "PYTHONPATH": str(ROOT)}  # the CLI of this checkout, from any cwd


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    local = LocalStack(
        tmp_path_factory.mktemp("backup") / ".deploykit", MANIFEST_FILE, report=lambda _: None
    )
    try:
        local.up(nodes=1)
        yield local
    finally:
        local.down()


@pytest.fixture(scope="module")
def outputs(stack: LocalStack) -> StackOutputs:
    found = load_outputs(stack.dir.outputs_file)
    asyncio.run(_publish(found, EVENTS))
    return found


async def _publish(outputs: StackOutputs, count: int) -> None:
    """Events on ACCOUNTS as the accounts service would emit them (its own user)."""
    nc = await nats.connect(outputs.nats.urls, **outputs.credential("accounts").connect_options())
    js = nc.jetstream()
    for start in range(0, count, 500):
        acks = [
            await js.publish_async(
                "accounts.events.created",
                json.dumps({"id": str(i), "email": f"u{i}@example.com"}).encode(),
                headers={"Nats-Msg-Id": f"created-{i}"},
            )
            for i in range(start, min(start + 500, count))
        ]
        await asyncio.gather(*acks)
    await nc.close()


async def _as(outputs: StackOutputs, user: str) -> nats.NATS:
    return await connect(",".join(outputs.nats.urls), outputs.credential(user))


async def _backup(outputs: StackOutputs, to: Path) -> tuple[Path, SnapshotManifest]:
    nc = await _as(outputs, "backup-core")
    try:
        return await snapshot_stream(nc, "acme", "core", "ACCOUNTS", to)
    finally:
        await nc.close()


async def _restore(
    outputs: StackOutputs, folder: Path, into: str, allow_destroy: bool = False
) -> RestoreReport:
    data, admin = await _as(outputs, "backup-core"), await _as(outputs, "provisioning-core")
    try:
        return await restore_snapshot(data, admin, folder, into, allow_destroy=allow_destroy)
    finally:
        await data.close()
        await admin.close()


def test_backup_then_restore_into_a_new_stream_matches(
    outputs: StackOutputs, tmp_path: Path
) -> None:
    folder, snap = asyncio.run(_backup(outputs, tmp_path))
    assert snap.messages >= EVENTS and snap.first_seq == 1 and snap.gaps == 0
    assert (folder / MANIFEST).stat().st_mode & 0o777 == 0o600
    assert "welcome" in snap.consumers
    report = asyncio.run(_restore(outputs, folder, "ACCOUNTS_RESTORED"))
    assert report.problems == []
    assert (report.messages, report.first_seq, report.last_seq) == (
        snap.messages,
        snap.first_seq,
        snap.last_seq,
    )
    assert report.consumers == ["welcome"]


def test_restore_refuses_an_existing_stream_unless_allowed(
    outputs: StackOutputs, tmp_path: Path
) -> None:
    folder, _ = asyncio.run(_backup(outputs, tmp_path))
    with pytest.raises(PlanRefused, match="restore never writes over a stream"):
        asyncio.run(_restore(outputs, folder, "ACCOUNTS"))
    again = asyncio.run(_restore(outputs, folder, "ACCOUNTS_TWICE"))
    with pytest.raises(PlanRefused):
        asyncio.run(_restore(outputs, folder, "ACCOUNTS_TWICE"))
    replaced = asyncio.run(_restore(outputs, folder, "ACCOUNTS_TWICE", allow_destroy=True))
    assert again.verified and replaced.verified


def test_the_backup_user_cannot_write_or_delete(outputs: StackOutputs) -> None:
    async def attempt() -> tuple[str, str]:
        nc = await _as(outputs, "backup-core")
        try:
            delete = await nc.request("$JS.API.STREAM.DELETE.ACCOUNTS", b"", timeout=2)
            return "answered", delete.data.decode()
        except nats.errors.Error as exc:
            return "refused", type(exc).__name__
        finally:
            await nc.close()

    outcome, _ = asyncio.run(attempt())
    assert outcome == "refused"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from deploykit.cli import main; main()", *args],
        cwd=cwd,
        env=CHECKOUT_ENV,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _start_cli(*args: str, cwd: Path) -> subprocess.Popen[bytes]:
    """The CLI in a process of its own, to be killed midway."""
    return subprocess.Popen(
        [sys.executable, "-c", "from deploykit.cli import main; main()", *args],
        cwd=cwd,
        env=CHECKOUT_ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_the_drill_command_passes_and_leaves_no_scratch(
    stack: LocalStack, outputs: StackOutputs, tmp_path: Path
) -> None:
    out = str(stack.dir.outputs_file)
    done = _cli(
        "backup", "drill", "-f", str(MANIFEST_FILE), "--outputs", out, "--json", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    [report] = json.loads(done.stdout)
    assert report["passed"] and report["messages"] >= EVENTS

    async def names() -> list[str]:
        nc = await _as(outputs, "provisioning-core")
        try:
            reply = await nc.request("$JS.API.STREAM.NAMES", b"{}", timeout=2)
            return list(json.loads(reply.data)["streams"])
        finally:
            await nc.close()

    assert not [n for n in asyncio.run(names()) if n.startswith("DRILL_")]


def test_keep_leaves_the_newest_snapshots_and_nothing_else(
    stack: LocalStack, outputs: StackOutputs, tmp_path: Path
) -> None:
    """`python -m deploykit backup --keep 2` (as the metal timer runs it), three times: the two
    newest snapshots stay; a partial folder and another stream's snapshot are not touched."""
    to = tmp_path / "snapshots"
    (to / "ACCOUNTS_OLD-20260101T000000000000Z").mkdir(parents=True)
    (to / "ACCOUNTS-20260101T000000000000Z.partial").mkdir()
    made = []
    argv = [sys.executable, "-m", "deploykit", "backup", "-f", str(MANIFEST_FILE)]
    argv += ["--outputs", str(stack.dir.outputs_file), "--to", str(to), "--keep", "2", "--json"]
    for _ in range(3):
        done = subprocess.run(
            argv,
            cwd=tmp_path,
            env=CHECKOUT_ENV,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        [result] = json.loads(done.stdout)
        made.append(Path(result["folder"]).name)
    assert result["removed"] == [str(to / made[0])]
    assert sorted(p.name for p in to.iterdir()) == sorted(
        [*made[1:], "ACCOUNTS_OLD-20260101T000000000000Z"]
    )  # the .partial of an earlier run is removed by the next backup of its stream


def test_a_killed_backup_leaves_no_snapshot_and_a_rerun_completes(
    stack: LocalStack, outputs: StackOutputs, tmp_path: Path
) -> None:
    """kill -9 as soon as the backup has started writing: what is left is only a `.partial`
    folder without a manifest, never a snapshot; the next run removes it and completes."""
    out = str(stack.dir.outputs_file)
    args = ("backup", "-f", str(MANIFEST_FILE), "--outputs", out, "--to", str(tmp_path))
    proc = _start_cli(*args, cwd=tmp_path)
    wait_until(
        lambda: any((p / "messages.dkb").exists() for p in tmp_path.glob("ACCOUNTS-*.partial")),
        30,
        "the backup to start writing messages",
    )
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    left = list(tmp_path.iterdir())
    assert left and all(p.name.endswith(".partial") for p in left)
    assert not any((p / MANIFEST).exists() for p in left)
    done = _cli(*args, "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    [snapshot] = list(tmp_path.iterdir())
    assert not snapshot.name.endswith(".partial") and (snapshot / MANIFEST).exists()


def _synthetic(real: Path, count: int, size: int, to: Path) -> Path:
    """A snapshot of `real`'s stream with `count` made-up messages of `size` bytes: big enough
    that a restore of it takes long enough to be interrupted midway."""
    to.mkdir()
    for name in ("stream.json", "consumers.json"):
        shutil.copy(real / name, to / name)
    content, digest = ContentSum(), hashlib.sha256()

    class Hashing:
        def __init__(self, handle: BinaryIO) -> None:
            self.handle = handle

        def write(self, data: bytes) -> int:
            digest.update(data)
            return self.handle.write(data)

    with open(to / "messages.dkb", "wb") as handle:
        out = Hashing(handle)
        for seq in range(1, count + 1):
            data = seq.to_bytes(8, "big") * (size // 8)
            write_record(out, Record(seq, seq, "accounts.events.created", None, data))
            content.add("accounts.events.created", data)
    original = SnapshotManifest.model_validate_json((real / MANIFEST).read_text())
    manifest = original.model_copy(
        update={
            "first_seq": 1,
            "last_seq": count,
            "messages": count,
            "bytes": count * size,
            "gaps": 0,
            "file_sha256": digest.hexdigest(),
            "content_sha256": content.hexdigest(),
        }
    )
    (to / MANIFEST).write_text(manifest.model_dump_json())
    return to


async def _stream_info(outputs: StackOutputs, name: str) -> dict[str, Any] | None:
    nc = await _as(outputs, "provisioning-core")
    try:
        reply = json.loads((await nc.request(f"$JS.API.STREAM.INFO.{name}", b"", 5)).data)
        return None if "error" in reply else dict(reply)
    finally:
        await nc.close()


def test_a_killed_restore_leaves_no_stream_under_a_live_name_and_a_rerun_completes(
    stack: LocalStack, outputs: StackOutputs, tmp_path: Path
) -> None:
    """kill -9 once the restore has published part of the messages: the live stream is
    untouched, the unfinished one sits only under the new name, marked incomplete and capturing
    no live subject; the next run starts it over and verifies it."""
    real, _ = asyncio.run(_backup(outputs, tmp_path / "real"))
    messages = 100_000
    folder = _synthetic(real, messages, 256, tmp_path / "big")
    live = asyncio.run(_stream_info(outputs, "ACCOUNTS"))
    assert live is not None
    out = str(stack.dir.outputs_file)
    args = ("restore", str(folder), "--into", "ACCOUNTS_KILLED", "-f", str(MANIFEST_FILE))
    args += ("--outputs", out)
    proc = _start_cli(*args, cwd=tmp_path)

    def midway() -> bool:
        info = asyncio.run(_stream_info(outputs, "ACCOUNTS_KILLED"))
        return bool(info and info["state"]["messages"] > 0)

    wait_until(midway, 60, "the restore to publish its first messages")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    left = asyncio.run(_stream_info(outputs, "ACCOUNTS_KILLED"))
    assert left is not None
    assert 0 < left["state"]["messages"] < messages, "the kill came too late to prove anything"
    assert left["config"]["metadata"]["deploykit.restore.status"] == "incomplete"
    assert left["config"]["subjects"] == ["deploykit.restore.ACCOUNTS_KILLED.>"]
    after = asyncio.run(_stream_info(outputs, "ACCOUNTS"))
    assert after is not None
    assert after["state"]["last_seq"] == live["state"]["last_seq"]
    assert after["config"]["subjects"] == live["config"]["subjects"]
    done = _cli(*args, "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["verified"] and report["messages"] == messages
    final = asyncio.run(_stream_info(outputs, "ACCOUNTS_KILLED"))
    assert final and final["config"]["metadata"]["deploykit.restore.status"] == "complete"


def wait_until(ready: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g}s for {what}")
        time.sleep(0.002)


def test_smoke_runs_the_drills_only_on_demand(outputs: StackOutputs) -> None:
    from deploykit.manifest.load import load_manifest
    from deploykit.smoke import Status, run_smoke

    manifest = load_manifest(MANIFEST_FILE)
    backed_up = {f"backups.{n}" for n, s in manifest.streams.items() if s.backup}
    assert backed_up, "the reference manifest backs up streams: the test would prove nothing"
    default = run_smoke(manifest, outputs, source="test", timeout=20, skip=["probes"])
    assert not backed_up & {r.name for r in default.results}
    run = run_smoke(manifest, outputs, source="test", timeout=60, only=["backups"])
    results = {r.name: r for r in run.results}
    assert set(results) == backed_up
    for result in results.values():
        assert result.status is Status.PASS, result.message
    assert "ACCOUNTS" in results["backups.ACCOUNTS"].message
