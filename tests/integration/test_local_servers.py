"""The kit's own server runners against real servers: readiness, restart, crash recovery."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import nats
import psycopg
import pytest

from deploykit.errors import ProcessError
from deploykit.local.nats import LocalNats, plan_local_cluster
from deploykit.local.ports import free_ports
from deploykit.local.postgres import LocalPostgres
from deploykit.testing.polling import wait_until

pytestmark = pytest.mark.integration


def test_cluster_accepts_a_replicated_stream_as_soon_as_it_is_ready(
    nats_cluster: LocalNats,
) -> None:
    async def create() -> int:
        nc = await nats.connect(nats_cluster.urls)
        try:
            js = nc.jetstream(timeout=5)
            info = await js.add_stream(name="READY", subjects=["ready.>"], num_replicas=3)
            await js.delete_stream("READY")
            return info.config.num_replicas or 0
        finally:
            await nc.close()

    assert asyncio.run(create()) == 3


def test_a_restarted_cluster_is_led_when_wait_led_returns(tmp_path: Path) -> None:
    """After a restart `/healthz` passes before each replicated stream has elected its leader
    (4 to 9 s later): a read then goes unanswered. Once `wait_led` returns it is answered."""
    from deploykit.local.nats import led

    cluster = plan_local_cluster(tmp_path / "nats", 3)
    stream = {"name": "LED", "subjects": ["led.>"], "num_replicas": 3}

    async def request(subject: str, body: dict[str, object] | None = None) -> bool:
        nc = await nats.connect(cluster.urls)
        try:
            payload = json.dumps(body).encode() if body else b""
            await nc.request(f"$JS.API.{subject}", payload, timeout=0.5)
            return True
        except nats.errors.TimeoutError:
            return False
        finally:
            await nc.close()

    try:
        cluster.start()
        assert asyncio.run(request("STREAM.CREATE.LED", stream))
        cluster.wait_ready()
        cluster.stop()
        cluster.start()  # back up, /healthz passing
        cluster.wait_led()
        assert all(led(node) for node in cluster.nodes)
        assert asyncio.run(request("STREAM.INFO.LED"))
    finally:
        cluster.stop()


def test_postgres_keeps_committed_rows_after_kill_9(tmp_path: Path) -> None:
    server = LocalPostgres(tmp_path / "pg", free_ports(1)[0], "pw")
    server.start()
    try:
        url = server.ensure_database("app", "app", "app-pw")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("create table t (n int)")
            for n in range(50):
                conn.execute("insert into t values (%s)", (n,))
        pid = server.proc.pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: server.proc.pid() is None, 10, "PostgreSQL gone", poll=0.01)
        server.start()
        with psycopg.connect(url) as conn:
            assert conn.execute("select count(*) from t").fetchone() == (50,)
        assert server.ensure_database("app", "app", "app-pw") == url
    finally:
        server.stop()
    assert server.proc.pid() is None


def test_stale_pid_file_does_not_block_a_start(tmp_path: Path) -> None:
    cluster = plan_local_cluster(tmp_path, 1)
    node = cluster.nodes[0]
    cluster.proc(node).pid_file.parent.mkdir(parents=True, exist_ok=True)
    cluster.proc(node).pid_file.write_text("999999\n")
    cluster.start()
    try:
        assert cluster.proc(node).pid() not in (None, 999999)
    finally:
        cluster.stop()


def test_a_server_that_cannot_start_names_itself_and_its_log(tmp_path: Path) -> None:
    busy = free_ports(1)[0]
    first = plan_local_cluster(tmp_path / "a", 1, ports=[busy, *free_ports(2)])
    second = plan_local_cluster(tmp_path / "b", 1, ports=[busy, *free_ports(2)])
    first.start()
    try:
        with pytest.raises(ProcessError) as caught:
            second.start(timeout=10)
        message = str(caught.value)
        assert "deploykit-1 exited before it was healthy" in message
        assert "address already in use" in message.lower()
    finally:
        first.stop()
        second.stop()


def test_postgres_data_directories_copied_from_the_template_each_have_their_own_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first server runs initdb and keeps its data directory as the template; the second
    is a copy of it, with its own password: neither accepts the other's, and the template
    holds neither (a password with a quote and a newline, which the single-user backend takes)."""
    monkeypatch.setenv("DEPLOYKIT_CACHE", str(tmp_path / "cache"))
    first = LocalPostgres(tmp_path / "a", free_ports(1)[0], "first-pw")
    second = LocalPostgres(tmp_path / "b", free_ports(1)[0], "it's\nsecond-pw")
    first.start()
    try:
        templates = list((tmp_path / "cache" / "postgres").glob("initdb-*/PG_VERSION"))
        assert len(templates) == 1
        second.start()
        try:
            for server, other in ((first, second), (second, first)):
                with psycopg.connect(server.url()) as conn:
                    conn.execute("create table mine (n int)")
                with pytest.raises(psycopg.OperationalError, match="password authentication"):
                    psycopg.connect(server.url(password=other.password), connect_timeout=5)
        finally:
            second.stop()
    finally:
        first.stop()
    assert not any(
        b"first-pw" in p.read_bytes() or b"second-pw" in p.read_bytes()
        for p in templates[0].parent.rglob("*")
        if p.is_file()
    )
