"""`deploykit dev` end to end: the reference SaaS on a real 3-node cluster and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import nats
import psycopg
import pytest

from deploykit.local.processes import pid_alive
from deploykit.local.stack import LocalStack
from deploykit.manifest import naming
from deploykit.stack.discovery import discover
from deploykit.stack.outputs import StackOutputs, load_outputs
from deploykit.testing.polling import wait_until
from deploykit.testing.sockets import beyond_loopback

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DEPLOYKIT = str(Path(sys.executable).parent / "deploykit")


def outputs_of(stack: LocalStack) -> StackOutputs:
    return load_outputs(stack.dir.outputs_file)


def gateway(outputs: StackOutputs) -> str:
    return next(s.url for s in outputs.services if s.name == "gateway" and s.url)


async def subject_counts(outputs: StackOutputs) -> dict[str, int]:
    """Messages per subject in ACCOUNTS, read as the smoke user (stream info only)."""
    cred = outputs.credential(naming.smoke_user("core"))
    nc = await nats.connect(outputs.nats.urls, **cred.connect_options())
    try:
        reply = await nc.request(
            "$JS.API.STREAM.INFO.ACCOUNTS", json.dumps({"subjects_filter": ">"}).encode(), timeout=5
        )
        return json.loads(reply.data)["state"].get("subjects", {})
    finally:
        await nc.close()


async def projector_metadata(outputs: StackOutputs) -> list[dict[str, Any]]:
    cred = outputs.credential(naming.smoke_user("core"))
    nc = await nats.connect(outputs.nats.urls, **cred.connect_options())
    try:
        return [r.get("metadata", {}) for r in await discover(nc, "INFO", "projector", timeout=0.5)]
    finally:
        await nc.close()


def test_outputs_are_private_and_complete(dev_stack: LocalStack) -> None:
    outputs = outputs_of(dev_stack)
    assert dev_stack.dir.outputs_file.stat().st_mode & 0o777 == 0o600
    assert dev_stack.dir.state_file.stat().st_mode & 0o777 == 0o600
    assert dev_stack.dir.root.stat().st_mode & 0o077 in (0, 0o011)
    assert outputs.target == "local" and outputs.nats.cluster_size == 3
    assert {
        "gateway",
        "accounts",
        "welcome",
        "projector",
        "smoke-core",
        "provisioning-core",
    } <= set(outputs.nats.credentials)
    assert all(c.password for c in outputs.nats.credentials.values())
    assert outputs.database and set(outputs.database.urls) == {"accounts", "welcome"}
    assert "********" in json.dumps(outputs.redacted())
    assert outputs.database.admin_url and outputs.database.admin_url.split(":")[2].split("@")[
        0
    ] not in json.dumps(outputs.redacted())


def test_an_account_flows_through_the_whole_architecture(dev_stack: LocalStack) -> None:
    outputs = outputs_of(dev_stack)
    before = asyncio.run(subject_counts(outputs))
    response = httpx.post(
        f"{gateway(outputs)}/accounts", json={"email": "grace@example.com"}, timeout=10
    )
    assert response.status_code == 201, response.text
    account = response.json()

    assert outputs.database
    with psycopg.connect(outputs.database.urls["accounts"]) as conn:
        row = conn.execute("select email from accounts where id = %s", (account["id"],)).fetchone()
        assert row == ("grace@example.com",)
    with psycopg.connect(outputs.database.urls["welcome"]) as conn:  # welcome owns its data
        wait_until(
            lambda: conn.execute(
                "select 1 from welcomes where account_id = %s", (account["id"],)
            ).fetchone(),
            10,
            "welcome's row for the account",
            poll=0.1,
        )

    after = wait_until(
        lambda: (
            (c := asyncio.run(subject_counts(outputs))).get("accounts.events.welcomed", 0)
            > before.get("accounts.events.welcomed", 0)
            and c
        ),
        10,
        "one more accounts.events.welcomed",
        poll=0.1,
    )
    for subject in ("accounts.events.created", "accounts.events.welcomed"):
        assert after[subject] == before.get(subject, 0) + 1

    def projected() -> bool:
        metadata = asyncio.run(projector_metadata(outputs))
        assert str(account["id"]) in json.dumps(metadata), metadata
        return True

    wait_until(
        projected, 10, "the projector to count the account", poll=0.1, ignoring=(AssertionError,)
    )


def test_a_restarted_projector_warms_up_from_history(dev_stack: LocalStack) -> None:
    outputs = outputs_of(dev_stack)
    httpx.post(f"{gateway(outputs)}/accounts", json={"email": "warm@example.com"}, timeout=10)
    created = asyncio.run(subject_counts(outputs))["accounts.events.created"]
    proc = next(p for n, _, p, _ in dev_stack.processes() if n == "projector")
    old = proc.pid()
    assert old and proc.stop()
    dev_stack.up(nodes=3)
    assert proc.pid() not in (None, old)
    metadata = asyncio.run(projector_metadata(outputs))
    assert metadata and int(metadata[0]["accounts"]) >= created


def test_a_second_up_says_so_and_changes_nothing(dev_stack: LocalStack) -> None:
    lines: list[str] = []
    pids = {n: p.pid() for n, _, p, _ in dev_stack.processes()}
    LocalStack(dev_stack.dir.root, dev_stack.manifest_path, report=lines.append).up(nodes=3)
    assert {n: p.pid() for n, _, p, _ in dev_stack.processes()} == pids
    assert any("0 started, 0 reloaded, 3 kept" in line for line in lines), lines
    assert any("jetstream  no changes" in line for line in lines), lines


def test_up_with_another_node_count_is_refused(dev_stack: LocalStack) -> None:
    from deploykit.errors import ConfigError

    with pytest.raises(ConfigError, match="made with 3 NATS node"):
        LocalStack(dev_stack.dir.root, dev_stack.manifest_path, report=lambda _: None).up(nodes=1)


def test_kill_9_of_everything_then_up_recovers(dev_stack: LocalStack) -> None:
    pids = [p.pid() for _, _, p, _ in dev_stack.processes()]
    assert all(pids)
    for pid in pids:
        assert pid
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not any(pid_alive(p) for p in pids if p), 10, "every process gone", poll=0.1)
    dev_stack.up(nodes=3)
    assert all(p.pid() for _, _, p, _ in dev_stack.processes())
    outputs = outputs_of(dev_stack)
    response = httpx.post(
        f"{gateway(outputs)}/accounts", json={"email": "after-crash@example.com"}, timeout=10
    )
    assert response.status_code == 201, response.text


def test_down_leaves_no_process_behind_and_keeps_data(dev_stack: LocalStack) -> None:
    pids = [p.pid() for _, _, p, _ in dev_stack.processes()]
    stopped = dev_stack.down()
    assert len(stopped) == len(pids)
    assert not any(pid_alive(p) for p in pids if p)
    assert (dev_stack.dir.postgres_dir / "data" / "PG_VERSION").exists()
    dev_stack.up(nodes=3)
    outputs = outputs_of(dev_stack)
    assert outputs.database
    with psycopg.connect(outputs.database.urls["accounts"]) as conn:
        assert conn.execute(
            "select count(*) from accounts where email = 'grace@example.com'"
        ).fetchone() == (1,)


def test_up_says_which_services_do_not_run_and_prints_urls_only_for_what_runs(
    tmp_path: Path,
) -> None:
    """Services without `run.command` are named as not running; no URL for them (it would lead
    nowhere). One NATS node: what is under test is what up says, not the cluster."""
    manifest = tmp_path / "deploykit.yaml"
    manifest.write_text(
        "\n".join(
            line
            for line in (ROOT / "deploykit.yaml").read_text().splitlines()
            if not line.strip().startswith("command:")
        )
    )
    done = subprocess.run(
        [DEPLOYKIT, "dev", "up", "--nodes", "1", "-f", str(manifest), "--dir", str(tmp_path / "s")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    try:
        assert done.returncode == 0, done.stderr
        said = " ".join(done.stderr.split())
        assert (
            "• not run: gateway, accounts, welcome, projector (no run.command in deploykit.yaml: "
            "nothing to start on this machine)"
        ) in said
        assert "0 started, 0 kept" in said
        assert "http://" not in said, said
        outputs = load_outputs(tmp_path / "s" / "outputs.json")
        assert [s.url for s in outputs.services if s.role == "frontend"] == [None]
    finally:
        subprocess.run(
            [DEPLOYKIT, "dev", "down", "-f", str(manifest), "--dir", str(tmp_path / "s")],
            capture_output=True,
            timeout=120,
        )


PROCESSES = [
    "nats-1", "nats-2", "nats-3", "postgres", "accounts", "welcome", "projector", "gateway",
]  # fmt: skip


@pytest.mark.parametrize("name", PROCESSES)
def test_a_running_local_stack_listens_on_loopback_only(dev_stack: LocalStack, name: str) -> None:
    """Everything the local stack starts listens on loopback, nowhere else."""
    proc = next(p for n, _, p, _ in dev_stack.processes() if n == name)
    pid = proc.pid()
    assert pid, f"{name} does not run"
    sockets, beyond = beyond_loopback(pid)
    if name.startswith("nats") or name in ("postgres", "gateway"):
        assert sockets, f"{name}: no listening socket found: the test would prove nothing"
    assert beyond == [], f"{name} listens beyond loopback: {beyond}"
