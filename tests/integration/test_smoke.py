"""`deploykit smoke` against the real local stack: all pass, then one thing broken at a time.

Each breaking test changes one thing (a stopped process, a stream changed or a consumer
deleted out of band, a bad password, a URL where nothing listens), sees the matching check
fail with a message that names the cause, and puts the stack back (`dev_stack.up()`).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nats
import pytest

from deploykit.local.ports import free_ports
from deploykit.local.postgres import LocalPostgres, find_pg_bindir
from deploykit.local.stack import LocalStack
from deploykit.manifest import naming
from deploykit.manifest.load import load_manifest
from deploykit.smoke import SmokeRun, Status, run_smoke
from deploykit.smoke.results import CheckResult
from deploykit.stack.outputs import StackOutputs, load_outputs
from deploykit.testing.clirun import run_cli
from deploykit.testing.polling import wait_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = load_manifest(ROOT / "deploykit.yaml")
EXPECTED_SKIPS = {"database.replication", "observability.prometheus", "observability.grafana"}


def outputs_of(stack: LocalStack) -> StackOutputs:
    return load_outputs(stack.dir.outputs_file)


def smoke(outputs: StackOutputs, **options: Any) -> SmokeRun:
    return run_smoke(MANIFEST, outputs, source="test", **options)


def failures(run: SmokeRun) -> dict[str, str]:
    return {r.name: r.message for r in run.results if r.status is Status.FAIL}


def result(run: SmokeRun, name: str) -> CheckResult:
    return next(r for r in run.results if r.name == name)


def healthy(stack: LocalStack, timeout: float = 20.0) -> None:
    """Wait until every check passes again: a restarted node takes a moment to catch up."""

    def passes() -> bool:
        run = smoke(outputs_of(stack), skip=["probes"])
        assert run.status is Status.PASS, failures(run)
        return True

    wait_until(passes, timeout, "every smoke check to pass", poll=0.3, ignoring=(AssertionError,))


@contextmanager
def broken(stack: LocalStack) -> Iterator[None]:
    """Whatever the test breaks is put back afterwards, and the stack is whole again."""
    try:
        yield
    finally:
        stack.up(nodes=3)
        healthy(stack)


def stop(stack: LocalStack, name: str) -> None:
    for process, kind, proc, _ in stack.processes():
        if process == name:
            if kind == "database":
                assert LocalPostgres(stack.dir.postgres_dir, 0, "").stop()
            else:
                assert proc.stop(), f"{name} was not running"
            return
    raise AssertionError(f"no process {name}")


async def as_user(outputs: StackOutputs, user: str, subject: str, body: Any = None) -> Any:
    """One request as one of the stack's users; the JSON answer."""
    cred = outputs.credential(user)
    nc = await nats.connect(outputs.nats.urls, **cred.connect_options())
    try:
        payload = json.dumps(body).encode() if body is not None else b""
        return json.loads((await nc.request(subject, payload, timeout=5)).data)
    finally:
        await nc.close()


def test_every_check_passes_on_the_local_stack(dev_stack: LocalStack) -> None:
    run = smoke(outputs_of(dev_stack))
    assert failures(run) == {}
    assert {r.name for r in run.results if r.status is Status.SKIP} == EXPECTED_SKIPS
    assert {r.group for r in run.results} == {
        "nats",
        "jetstream",
        "roundtrip",
        "services",
        "laws",
        "database",
        "observability",
        "probes",
    }
    assert result(run, "laws.frontend.gateway").message.startswith(
        "accounts.events.created refused to gateway by the server in "
    )
    assert result(run, "laws.frontend.gateway").message.endswith(
        ": permissions violation for publish to 'accounts.events.created'"
    )
    assert result(run, "nats.cluster").message.startswith("3 peers led by acme-")
    assert run.duration < run.latency_sum  # the checks ran concurrently


def test_without_the_system_user_the_cluster_is_read_from_the_monitor_urls(
    dev_stack: LocalStack,
) -> None:
    outputs = outputs_of(dev_stack)
    users = {u: c for u, c in outputs.nats.credentials.items() if u != naming.SYSTEM_USER}
    no_system = outputs.model_copy(
        update={"nats": outputs.nats.model_copy(update={"credentials": users})}
    )
    check = result(smoke(no_system, only=["nats.cluster"]), "nats.cluster")
    assert check.status is Status.PASS, check.message
    assert check.message.startswith("3 peers led by acme-")


def snapshot(outputs: StackOutputs) -> dict[str, Any]:
    """Per stream of every bus: messages per subject (KV keys, objects), and for production
    streams the message count and last sequence, as the smoke users see them."""

    async def read() -> dict[str, Any]:
        state: dict[str, Any] = {}
        for bus in MANIFEST.buses:
            user = naming.smoke_user(bus)
            names = (await as_user(outputs, user, "$JS.API.STREAM.NAMES"))["streams"]
            for name in names:
                info = await as_user(
                    outputs, user, f"$JS.API.STREAM.INFO.{name}", {"subjects_filter": ">"}
                )
                own = name in ("DEPLOYKIT_SMOKE", "KV_deploykit_smoke", "OBJ_deploykit_smoke")
                counts = info["state"].get("subjects", {})
                if own:
                    state[name] = counts
                else:
                    state[name] = (counts, info["state"]["messages"], info["state"]["last_seq"])
        return state

    return asyncio.run(read())


def welcome_caught_up(outputs: StackOutputs) -> None:
    """Wait until welcome has handled every event, so its follow-up events are stored."""

    async def drained() -> bool:
        subject = "$JS.API.CONSUMER.INFO.ACCOUNTS.welcome"
        info = await as_user(outputs, naming.smoke_user("core"), subject)
        return info["num_pending"] == 0 and info["num_ack_pending"] == 0

    wait_until(lambda: asyncio.run(drained()), 10, "welcome to handle every event", poll=0.05)


def test_a_run_leaves_production_unchanged(dev_stack: LocalStack) -> None:
    outputs = outputs_of(dev_stack)
    gateway = next(s.url for s in outputs.services if s.name == "gateway")
    import httpx

    httpx.post(f"{gateway}/accounts", json={"email": "before-smoke@example.com"}, timeout=10)
    welcome_caught_up(outputs)
    before = snapshot(outputs)
    assert before["ACCOUNTS"][1] > 0, "production data to protect"
    run = smoke(outputs, skip=["probes"])
    assert failures(run) == {}
    assert snapshot(outputs) == before

    # with the probes, the only change is the probe's own, through the service's API
    run = smoke(outputs, only=["probes"])
    assert failures(run) == {}
    welcome_caught_up(outputs)
    after = snapshot(outputs)
    changed = {name for name in before if before[name] != after[name]}
    assert changed <= {"ACCOUNTS"}
    grown = {
        subject: after["ACCOUNTS"][0][subject] - before["ACCOUNTS"][0].get(subject, 0)
        for subject in after["ACCOUNTS"][0]
        if after["ACCOUNTS"][0][subject] != before["ACCOUNTS"][0].get(subject, 0)
    }
    assert set(grown) <= {"accounts.events.created", "accounts.events.welcomed"}
    assert all(n == 1 for n in grown.values()), grown


def test_a_stopped_rpc_service(dev_stack: LocalStack) -> None:
    with broken(dev_stack):
        stop(dev_stack, "accounts")
        run = smoke(outputs_of(dev_stack))
    failed = failures(run)
    assert failed["services.accounts"] == (
        "rpc service accounts: 0 of 1 instance(s) in NATS Service discovery"
    )
    assert set(failed) == {"services.accounts"}
    probe = result(run, "probes.create-account")  # it would get "no responders": not run
    assert (probe.status, probe.cause) == (Status.SKIP, "services.accounts")
    assert probe.message == "not run: services.accounts failed"


def test_a_stream_changed_out_of_band(dev_stack: LocalStack) -> None:
    outputs = outputs_of(dev_stack)
    provisioning = naming.provisioning_user("core")
    with broken(dev_stack):
        config = asyncio.run(as_user(outputs, provisioning, "$JS.API.STREAM.INFO.ACCOUNTS"))[
            "config"
        ]
        config["max_age"] = 86400 * 1_000_000_000
        updated = asyncio.run(
            as_user(outputs, provisioning, "$JS.API.STREAM.UPDATE.ACCOUNTS", config)
        )
        assert "error" not in updated, updated
        run = smoke(outputs, skip=["probes"])
    assert failures(run) == {
        "jetstream.stream.ACCOUNTS": "stream ACCOUNTS differs from the declaration: "
        "max_age: declared 365d, actual 1d"
    }
    assert result(run, "jetstream.stream.ACCOUNTS").details == (
        "max_age: declared 365d, actual 1d",
    )


def test_a_consumer_deleted(dev_stack: LocalStack) -> None:
    outputs = outputs_of(dev_stack)
    with broken(dev_stack):
        deleted = asyncio.run(
            as_user(
                outputs,
                naming.provisioning_user("core"),
                "$JS.API.CONSUMER.DELETE.ACCOUNTS.welcome",
            )
        )
        assert deleted.get("success"), deleted
        run = smoke(outputs, skip=["probes"])
    failed = failures(run)
    assert failed["jetstream.consumer.ACCOUNTS/welcome"] == (
        "consumer ACCOUNTS/welcome is missing: declared on bus core, not on the server"
    )
    # the welcome worker may already have noticed that its consumer is gone, and stopped
    assert set(failed) <= {"jetstream.consumer.ACCOUNTS/welcome", "services.welcome"}, failed


def test_wrong_credentials(dev_stack: LocalStack, tmp_path: Path) -> None:
    data = json.loads(dev_stack.dir.outputs_file.read_text())
    data["nats"]["credentials"]["smoke-core"]["password"] = "not-the-password"
    bad = tmp_path / "outputs.json"
    bad.write_text(json.dumps(data))
    run = smoke(load_outputs(bad), timeout=5)
    failed = failures(run)
    assert failed["nats.connect.smoke-core"] == (
        f"cannot connect to {', '.join(data['nats']['urls'])} as smoke-core: authorization "
        "violation (the server refuses this user's credentials)"
    )
    # it fails once; what needs the core bus's smoke user does not run, naming it, nothing else
    assert set(failed) == {"nats.connect.smoke-core"}
    blocked = {r.name for r in run.results if r.cause == "nats.connect.smoke-core"}
    assert {"services.accounts", "nats.jetstream.core", "roundtrip.stream"} <= blocked
    assert result(run, "nats.connect.gateway").status is Status.PASS  # refused is not unreachable
    assert run.duration < 3
    assert "not-the-password" not in json.dumps([r.message for r in run.results])


def test_a_stopped_nats_node_fails_the_cluster_check(dev_stack: LocalStack) -> None:
    outputs = outputs_of(dev_stack)
    leader = asyncio.run(
        as_user(outputs, naming.SYSTEM_USER, "$SYS.REQ.SERVER.PING.JSZ", {"leader_only": True})
    )["data"]["meta_cluster"]["leader"]
    victim = next(f"nats-{i}" for i in (1, 2, 3) if f"acme-{i}" != leader)
    with broken(dev_stack):
        stop(dev_stack, victim)
        run = smoke(outputs, skip=["probes"])
    node = victim.replace("nats-", "acme-")
    assert failures(run)["nats.cluster"] == f"meta cluster led by {leader}: {node} offline"
    assert node in failures(run)["jetstream.stream.ACCOUNTS"]  # its R3 replica is gone too
    assert result(run, "nats.connect.smoke-core").status is Status.PASS  # clients fail over


def test_a_stopped_database(dev_stack: LocalStack) -> None:
    outputs = outputs_of(dev_stack)
    with broken(dev_stack):
        stop(dev_stack, "postgres")
        run = smoke(outputs)
    failed = failures(run)
    assert failed["database.accounts"].startswith("cannot connect to the accounts database: ")
    assert "refused" in failed["database.accounts"].lower()
    assert failed["probes.create-account"] == (
        "accounts.create (accounts.rpc.create): the service answered error 503: "
        "database unavailable"
    )
    assert set(failed) == {"database.accounts", "probes.create-account"}


def test_a_nats_url_where_nothing_listens_fails_fast(dev_stack: LocalStack) -> None:
    (port,) = free_ports(1)
    outputs = outputs_of(dev_stack)
    nowhere = outputs.model_copy(
        update={"nats": outputs.nats.model_copy(update={"urls": [f"nats://127.0.0.1:{port}"]})}
    )
    run = smoke(nowhere, timeout=5)
    assert run.duration < 2
    cause = f"cannot connect to nats://127.0.0.1:{port}: nothing answers"
    root = result(run, "nats.connect.smoke-core")
    assert root.status is Status.FAIL and root.unreachable
    assert root.message.startswith(cause) and "Connect call failed" in root.message
    assert failures(run) == {"nats.connect.smoke-core": root.message}  # once, not once per user
    connects = [r for r in run.results if r.name.startswith("nats.connect.") and r is not root]
    assert connects and all(r.cause == "nats.connect.smoke-core" for r in connects)
    assert result(run, "database.accounts").status is Status.PASS


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_cli("smoke", *args, cwd=cwd)


def test_the_command_in_every_format(dev_stack: LocalStack, tmp_path: Path) -> None:
    # as scripts/dev runs it: no arguments, in a project with a running local stack
    (tmp_path / ".deploykit").mkdir()
    (tmp_path / ".deploykit" / "outputs.json").write_bytes(dev_stack.dir.outputs_file.read_bytes())
    (tmp_path / "deploykit.yaml").write_bytes((ROOT / "deploykit.yaml").read_bytes())
    default = cli(cwd=tmp_path)
    assert default.returncode == 0, default.stdout
    assert "smoke pass: " in default.stdout and "from .deploykit/outputs.json" in default.stdout

    outputs = str(dev_stack.dir.outputs_file)
    junit = tmp_path / "smoke.xml"
    as_json = cli("--outputs", outputs, "--json", "--junit", str(junit), cwd=tmp_path)
    report = json.loads(as_json.stdout)
    assert as_json.returncode == 0, [c for c in report["checks"] if c["status"] == "fail"]
    assert report["status"] == "pass" and report["summary"]["fail"] == 0
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0"
    assert suite.get("tests") == str(len(report["checks"]))

    nagios = cli("--outputs", outputs, "--format", "nagios", "--skip", "probes", cwd=tmp_path)
    assert nagios.returncode == 0, nagios.stdout
    assert nagios.stdout.startswith("OK deploykit_smoke OK:")

    data = json.loads(dev_stack.dir.outputs_file.read_text())
    data["nats"]["credentials"]["gateway"]["password"] = "wrong"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    failing = cli(
        "--outputs", str(bad), "--format", "nagios", "--only", "nats.connect", cwd=tmp_path
    )
    assert failing.returncode == 2
    assert failing.stdout.startswith("CRITICAL deploykit_smoke Crit:nats.connect.gateway: ")
    prometheus = cli(
        "--outputs", str(bad), "--format", "prometheus", "--only", "nats.connect", cwd=tmp_path
    )
    assert prometheus.returncode == 0
    assert 'deploykit_smoke_status_code{status="CRITICAL"} 2' in prometheus.stdout
    table = cli("--outputs", str(bad), "--only", "nats.connect", cwd=tmp_path)
    assert table.returncode == 1
    assert "FAIL" in table.stdout and "wrong" not in table.stdout

    cut = cli("--outputs", outputs, "--format", "nagios", "--timeout", "0.05", cwd=tmp_path)
    assert cut.returncode == 2
    assert cut.stderr == ""  # no traceback, not even from a connection cut off mid-handshake
    assert "did not finish within the 0.05s timeout" in cut.stdout


@pytest.fixture()
def replica(postgres: LocalPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A streaming standby of the session's PostgreSQL (`pg_basebackup -R`), as on metal."""
    directory = tmp_path_factory.mktemp("replica")
    owner = postgres.data_dir.stat()
    done = subprocess.run(
        [
            str(find_pg_bindir() / "pg_basebackup"),
            *("-h", "127.0.0.1", "-p", str(postgres.port), "-U", "postgres"),
            *("-D", str(directory / "data"), "-R", "-X", "stream", "-c", "fast"),
        ],
        env={"PGPASSWORD": postgres.password, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for path in [directory / "data", *(directory / "data").rglob("*")]:
        os.chown(path, owner.st_uid, owner.st_gid)
    (directory / "data").chmod(0o700)
    standby = LocalPostgres(directory, free_ports(1)[0], postgres.password)
    standby.start()
    try:
        yield standby.url()
    finally:
        standby.stop()


def test_replication_streams_on_the_metal_shape(postgres: LocalPostgres, replica: str) -> None:
    metal = StackOutputs.model_validate(
        {
            "target": "metal",
            "system": "acme",
            "nats": {"urls": ["nats://127.0.0.1:9"]},
            "database": {"admin_url": postgres.url(), "replica_urls": [replica]},
        }
    )
    run = smoke(metal, only=["database.replication"])
    check = result(run, "database.replication")
    assert check.status is Status.PASS, check.message
    assert check.message.startswith("1 standby(s) streaming: ")
    assert "lag" in check.message and postgres.password not in check.message
    assert {m.name for m in check.metrics} == {"replay_lag_seconds", "lag_bytes"}

    primary_only = metal.model_copy(
        update={"database": metal.database.model_copy(update={"replica_urls": [postgres.url()]})}  # type: ignore[union-attr]  # metal outputs here always have a database
    )
    check = result(smoke(primary_only, only=["database.replication"]), "database.replication")
    assert check.status is Status.FAIL
    assert check.message == "replica 1 is not a standby (not in recovery)"
