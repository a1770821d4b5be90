"""The metal tier's PostgreSQL configuration, for real: a primary and a streaming replica
rendered for two database hosts (mapped to loopback ports; without TLS, which the pgserver
build lacks), provisioned with the tier's SQL through psql, the replica cloned with the tier's
pg_basebackup command line; a row written on the primary is read on the replica."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from deploykit.configs.postgres import PgSettings
from deploykit.local.ports import free_ports
from deploykit.local.postgres import LocalPostgres, _server_user, find_pg_bindir
from deploykit.local.processes import identity_options
from deploykit.manifest.naming import ARCHIVE_DATABASE, ARCHIVE_ROLE
from deploykit.metal.postgres import (
    DatabaseGrant,
    basebackup_argv,
    database_url,
    postgres_settings,
    provision_sql,
)
from deploykit.testing.polling import retry

pytestmark = pytest.mark.integration

ADMIN = "admin-secret"


@dataclass
class MetalPostgres(LocalPostgres):
    """The kit's local runner, started with the metal tier's settings instead of its own."""

    peers: list[str] = field(default_factory=lambda: ["127.0.0.1"])

    def settings(self) -> PgSettings:
        return postgres_settings(
            "127.0.0.1",
            clients=["127.0.0.1"],
            replication_peers=self.peers,
            port=self.port,
            socket_dir=str(self.directory),
        )


def test_primary_and_replica_replicate_a_row(tmp_path: Path) -> None:
    uid = _server_user()
    primary_port, replica_port = free_ports(2)
    primary = MetalPostgres(tmp_path / "primary", primary_port, ADMIN)
    replica = MetalPostgres(tmp_path / "replica", replica_port, ADMIN)
    app = DatabaseGrant("accounts", "accounts", "owner's 'secret'")
    sql = provision_sql(
        [app],
        admin_user="postgres",
        admin_password=ADMIN,
        replication_password="repl-secret",
        slots=["node2"],
        archive_password="archiver's secret",
    )
    bindir = find_pg_bindir()
    primary.start()
    try:
        for _ in range(
            2
        ):  # provisioning is idempotent: a second run changes nothing, fails on nothing
            psql = subprocess.run(
                [
                    str(bindir / "psql"),
                    "-X",
                    "-q",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(primary_port),
                    "-U",
                    "postgres",
                    "-d",
                    "postgres",
                    "-f",
                    "-",
                ],
                input=sql,
                capture_output=True,
                text=True,
                env={**os.environ, "PGPASSWORD": ADMIN},
                check=False,
            )
            assert psql.returncode == 0, psql.stderr
        replica.directory.mkdir()
        passfile = replica.directory / ".pgpass"
        passfile.write_text(f"127.0.0.1:{primary_port}:*:replicator:repl-secret\n")
        passfile.chmod(0o600)
        if uid:
            os.chown(replica.directory, *uid)
            os.chown(passfile, *uid)
        argv = basebackup_argv(
            str(bindir), "127.0.0.1", primary_port, str(replica.data_dir), "node2"
        )
        clone = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            env={**os.environ, "PGPASSFILE": str(passfile)},
            check=False,
            **identity_options(uid),
        )
        assert clone.returncode == 0, clone.stderr
        assert (replica.data_dir / "standby.signal").exists()
        replica.start()
        try:
            url = database_url(
                app.owner, app.password, "127.0.0.1", primary_port, app.name, sslmode="disable"
            )
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("create table accounts (id int primary key, email text)")
                conn.execute("insert into accounts values (1, 'a@example.com')")
            replica_url = url.replace(f":{primary_port}/", f":{replica_port}/")
            assert _eventually_read(replica_url) == ("a@example.com",)
            with psycopg.connect(primary.url()) as conn:
                row = conn.execute("select slot_name, active from pg_replication_slots").fetchone()
            assert row == ("node2", True)
            _archive_is_append_only(primary_port)
        finally:
            replica.stop()
    finally:
        primary.stop()


def _archive_is_append_only(port: int) -> None:
    """The SQL copy as the archiver's login: INSERT and SELECT, never DELETE."""
    url = database_url(
        ARCHIVE_ROLE, "archiver's secret", "127.0.0.1", port, ARCHIVE_DATABASE, "disable"
    )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "insert into deploykit_events (stream, seq, subject, payload, time) "
            "values ('ORDERS', 1, 'orders.created', 'x', now())"
        )
        assert conn.execute("select count(*) from deploykit_events").fetchone() == (1,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("delete from deploykit_events")


def _eventually_read(url: str, timeout: float = 15) -> tuple[str, ...] | None:
    def read() -> tuple[str, ...] | None:
        with psycopg.connect(url) as conn:
            assert conn.execute("select pg_is_in_recovery()").fetchone() == (True,)
            return conn.execute("select email from accounts where id = 1").fetchone()

    what = "the accounts table on the replica"
    return retry(read, timeout, what, ignoring=(psycopg.errors.UndefinedTable,), poll=0.1)
