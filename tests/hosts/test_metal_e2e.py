"""The metal stack from empty hosts to a passing smoke test and back, for real: three Debian
hosts with systemd (no route out), the real Pulumi engine running the `metal` program, every
artifact uploaded from this machine, the reference apps as systemd units.

Phases (timed; bench/metal.py prints the same): first up, smoke (services and probes included,
database checks from this machine), the SQL copy (`backup.sql`: the archiver's unit holds every
event of the stream, `restore --from-sql` rebuilds it, verified), the scheduled backups run
twice by their own units (the
retention keeps one snapshot per stream), the timer's snapshot restored into a new stream and
verified, pgBackRest's backup restored into a scratch data directory that starts and answers,
a no-op up (expect no changes, no MainPID changed), a
stream's max_age change (one update), a NATS config change rolling one node at a time under a
publisher (0 acknowledged messages lost; the longest ack wait printed), kill -9 of a NATS node,
of the PostgreSQL primary and of an app, and a host reboot (each recovers, smoke passes), then
destroy (nothing the tier installed is left; the data folders are, without destroyData).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from deploykit.manifest.load import load_manifest
from deploykit.metal import backup
from deploykit.metal.postgres import PgPaths
from deploykit.stack.config import Backup
from deploykit.testing.engine import Engine
from deploykit.testing.hosts import Hosts, boot_hosts
from deploykit.testing.metal import E2E_RECIPE, MetalRun, Phases, artifacts_folder
from deploykit.testing.polling import wait_until

pytestmark = [pytest.mark.hosts, pytest.mark.engine]

# Grafana and k3s cannot be had on these machines: the stack switches them off. Nothing else
# may be skipped.
SKIPPED_BY_DESIGN = {"observability.grafana"}


@pytest.fixture(scope="module")
def hosts() -> Iterator[Hosts]:
    with boot_hosts(3, E2E_RECIPE) as booted:
        yield booted


def _passes(run: MetalRun) -> dict[str, str]:
    results = run.smoke()
    bad = {
        name: status
        for name, status in results.items()
        if status != "pass" and name not in SKIPPED_BY_DESIGN
    }
    assert not bad, f"smoke: {bad}\n{_messages(run.last_smoke, bad)}"
    return results


def _messages(report: dict[str, Any], names: dict[str, str]) -> str:
    return "\n".join(
        f"{r['name']}: {r['message']} {r['details']}"
        for r in report["checks"]
        if r["name"] in names
    )


def test_metal_stack_on_three_hosts(hosts: Hosts, engine: Engine, tmp_path: Path) -> None:
    phases = Phases()
    artifacts = artifacts_folder()
    run = MetalRun(hosts, engine, tmp_path, artifacts)
    run.edit_manifest(lambda m: m["backup"].update(sql=True))

    with phases("first up"):
        run.up()
    with phases("smoke"):
        # `up` returns once every unit started; a worker is in service discovery only after
        # its warm-up (the projector replays its stream first): smoke until it passes, bounded
        _wait_smoke(run)
        results = _passes(run)
    assert {"services.gateway", "services.accounts", "probes.create-account"} <= set(results)
    assert "database.replication" in results and "database.accounts" in results

    with phases("sql copy"):
        _sql_copy_holds_the_stream(run)
    with phases("backups"):
        _scheduled_backups_restore(run)

    pids = run.pids()
    assert len([p for p in pids if p.endswith("nats-server.service")]) == 3
    assert len([p for p in pids if "/deploykit-" in p and "postgresql" not in p]) == 8
    assert any(p.endswith("/deploykit-archiver-core-1.service") for p in pids)
    with phases("no-op up"):
        run.expect_no_changes()
    assert run.pids() == pids, "a second up restarted something"

    with phases("manifest change"):
        run.edit_manifest(lambda m: m["streams"]["ACCOUNTS"].update(max_age="30d"))
        changes = run.up()
    # the stream, and the backup host's copy of the manifest
    assert changes.get("update") == 2, changes
    assert run.pids() == pids

    with phases("rolling restart"), run.publisher() as publisher:
        run.apply_settings(nats={"syncInterval": "1m"})
        changes = run.up()
    lost = publisher.lost()
    print(  # the figure the issue asks for
        f"rolling restart: {len(publisher.acked)} acked, {len(lost)} lost, longest ack wait "
        f"{publisher.longest:.3f} s, {publisher.errors} retried publishes"
    )
    assert lost == [] and len(publisher.acked) > 10
    after = run.pids()
    for host in hosts:
        key = f"{host.name}/nats-server.service"
        assert after[key] != pids[key], f"{host.name}: nats-server did not restart"
    # Nothing else was restarted by the tier. An app may have restarted itself (a fanout
    # consumer lost with its server ends the instance on purpose; systemd starts it again):
    # every app instance must be running, with whatever pid.
    assert set(after) == set(pids)
    assert {k: v for k, v in after.items() if not _restarts_itself(k)} == {
        k: v for k, v in pids.items() if not _restarts_itself(k)
    }

    with phases("faults"):
        nats_pid = hosts.kill9(hosts[1], "nats-server.service")
        run.wait_active(1, "nats-server.service", nats_pid)
        postgres_pid = hosts.kill9(hosts[0], "deploykit-postgresql.service")
        run.wait_active(0, "deploykit-postgresql.service", postgres_pid)
        app_pid = hosts.kill9(hosts[0], "deploykit-gateway-1.service")
        run.wait_active(0, "deploykit-gateway-1.service", app_pid)
        hosts.reboot(hosts[2])
        _wait_smoke(run)

    with phases("destroy"):
        run.destroy()
    left = run.leftovers()
    assert left == {}, f"left on the hosts after destroy: {left}"
    kept = run.data_folders()
    assert "/var/lib/nats" in kept["node1"] and "/var/lib/postgresql/deploykit" in kept["node1"]
    assert "/var/backups/deploykit" in kept["node1"]
    print(phases.report())


def _sql_copy_holds_the_stream(run: MetalRun) -> None:
    """The archiver (a unit beside the apps) copies every event of ACCOUNTS into the archive
    database on the primary: as many rows as the stream has messages, read from this machine
    as the archiver's login (what the outputs carry); `restore --from-sql` rebuilds the stream
    into a new one and verifies it against the table."""
    url = json.loads(run.outputs_file().read_text())["database"]["archive_url"]
    messages = run.stream_messages("core", "ACCOUNTS")
    assert messages > 0, "smoke's probes created accounts"

    def rows() -> int:
        with psycopg.connect(url, connect_timeout=5) as conn:
            row = conn.execute(
                "select count(*) from deploykit_events where stream = 'ACCOUNTS'"
            ).fetchone()
        return int(row[0]) if row else 0

    wait_until(lambda: rows() == messages, 60, f"{messages} rows in the SQL copy", poll=0.5)
    done = run.deploykit(
        "restore", "--from-sql", "--stream", "ACCOUNTS", "--into", "ACCOUNTS_FROM_SQL"
    )
    assert done.returncode == 0 and "verified" in done.stdout, done.stdout + done.stderr
    print(f"sql copy: {messages} events of ACCOUNTS archived; {done.stdout.strip()}")
    run.delete_stream("core", "ACCOUNTS_FROM_SQL")


def _scheduled_backups_restore(run: MetalRun) -> None:
    """On node1 (the first apps host, and the PostgreSQL primary): the JetStream backup unit the
    timer starts, twice; its snapshot restored into a new stream and verified; pgBackRest's full
    backup (its timer's unit) restored into a scratch data directory that starts and answers."""
    host = run.hosts[0]
    state = run.hosts.ssh(
        host, f"systemctl is-enabled {backup.TIMER}; systemctl is-active {backup.TIMER}"
    )
    assert state.stdout.split() == ["enabled", "active"], state.stdout
    folder = host.root / backup.jetstream_folder(Backup()).lstrip("/")
    manifest = load_manifest(run.manifest_path)
    streams = sorted(s for b in backup.backup_buses(manifest).values() for s in b)
    run.start_unit(0, backup.SERVICE)
    first = sorted(p.name for p in folder.iterdir())
    run.start_unit(0, backup.SERVICE)
    kept = sorted(p.name for p in folder.iterdir())
    assert [name.rsplit("-", 1)[0] for name in kept] == streams, kept
    assert not set(kept) & set(first), f"keep: 1 left {kept} after {first}"

    snapshot = folder / kept[0]
    written = json.loads((snapshot / "manifest.json").read_text())
    assert written["messages"] > 0, written  # the smoke probes wrote events
    into = f"{written['stream']}_RESTORE_CHECK"
    try:
        done = run.deploykit("restore", str(snapshot), "--into", into, "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        report = json.loads(done.stdout)
        assert report["verified"] and report["messages"] == written["messages"], report
    finally:
        run.delete_stream(written["bus"], into)
    print(
        f"scheduled backup: {written['messages']} messages of {written['stream']} restored, verified"
    )

    run.start_unit(0, "deploykit-pgbackrest@full.service")
    databases = [manifest.database_name(key) for key in manifest.databases]
    out = run.run_script(
        0,
        backup.pgbackrest_restore_check_script(
            PgPaths(""), "/var/lib/postgresql/deploykit-restore-check", 5499, databases
        ),
    )
    assert f"restored databases: {len(databases)} of {len(databases)}" in out, out


def _restarts_itself(unit: str) -> bool:
    return "nats-server" in unit or ("/deploykit-" in unit and "postgresql" not in unit)


def _wait_smoke(run: MetalRun, attempts: int = 20) -> None:
    """After a reboot the services come back on their own; smoke passes within the attempts
    (each a full smoke run, so the wait is on the real signal)."""
    for attempt in range(attempts):
        results = run.smoke()
        bad = {n: s for n, s in results.items() if s != "pass" and n not in SKIPPED_BY_DESIGN}
        if not bad:
            return
        if attempt == attempts - 1:
            raise AssertionError(f"smoke after faults: {bad}\n{_messages(run.last_smoke, bad)}")


def test_destroy_removes_the_data_too_only_with_destroy_data(
    hosts: Hosts, engine: Engine, tmp_path: Path
) -> None:
    """On the hosts the test above left (data folders kept): a new stack with `destroyData:
    true` adopts them, and its destroy removes them as well."""
    run = MetalRun(hosts, engine, tmp_path, artifacts_folder())
    # the streams kept on the servers are as the test above left them
    run.edit_manifest(lambda m: m["streams"]["ACCOUNTS"].update(max_age="30d"))
    run.apply_settings(destroyData=True)
    run.up()
    assert all(run.data_folders().values())
    run.destroy()
    left = run.leftovers()
    assert left == {}, f"left on the hosts after destroy: {left}"
    assert run.data_folders() == {host.name: [] for host in hosts}
