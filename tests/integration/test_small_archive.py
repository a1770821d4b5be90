"""The small tier's SQL copy on a real PostgreSQL, provisioned the way it is on Neon: as the
table's owner, a role that is no superuser but may create roles and databases and write every
table (what Neon's API roles get from `neon_superuser`, neon.com/docs/manage/roles), owning the
archive database as Neon's API makes it. The archiver's login that `ArchiveProvider` creates
may INSERT and SELECT and nothing else; a second run changes nothing; delete removes it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from components.small.neon import ArchiveProvider
from deploykit.local.ports import free_ports
from deploykit.local.postgres import LocalPostgres
from deploykit.manifest.naming import ARCHIVE_DATABASE, ARCHIVE_OWNER, ARCHIVE_ROLE

pytestmark = pytest.mark.integration

OWNER_PASSWORD = "owner-password"


@pytest.fixture
def owner_uri(tmp_path: Path) -> Iterator[str]:
    server = LocalPostgres(tmp_path / "pg", free_ports(1)[0], "superuser")
    server.start()
    try:
        with psycopg.connect(server.url(), autocommit=True) as conn:
            conn.execute(
                f"CREATE ROLE {ARCHIVE_OWNER} LOGIN CREATEROLE CREATEDB PASSWORD '{OWNER_PASSWORD}'"
            )
            conn.execute(f"GRANT pg_read_all_data, pg_write_all_data TO {ARCHIVE_OWNER}")
            conn.execute(f"CREATE DATABASE {ARCHIVE_DATABASE} OWNER {ARCHIVE_OWNER}")
        yield server.url(ARCHIVE_DATABASE, ARCHIVE_OWNER, OWNER_PASSWORD) + "?sslmode=disable"
    finally:
        server.stop()


def test_the_archiver_login_made_as_the_owner_can_only_append(owner_uri: str) -> None:
    provider = ArchiveProvider()
    created = provider.create({"owner_uri": owner_uri})
    url = created.outs["url"]
    assert url.startswith(f"postgresql://{ARCHIVE_ROLE}:") and url.endswith("?sslmode=disable")
    again = provider.update(ARCHIVE_DATABASE, created.outs, {"owner_uri": owner_uri})
    assert again.outs["url"] == url, "the password is kept: the archiver keeps working"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO deploykit_events (stream, seq, subject, payload, time) "
            "VALUES ('ACCOUNTS', 1, 'accounts.created', 'x', now())"
        )
        assert conn.execute("SELECT count(*) FROM deploykit_events").fetchone() == (1,)
        for statement in ("DELETE FROM deploykit_events", "TRUNCATE deploykit_events"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
        attributes = conn.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, "
            "pg_has_role(current_user, 'pg_write_all_data', 'MEMBER') "
            "FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        assert attributes == (False, False, False, False)
    provider.delete(ARCHIVE_DATABASE, created.outs)
    with pytest.raises(psycopg.OperationalError, match=ARCHIVE_ROLE):
        psycopg.connect(url).close()
