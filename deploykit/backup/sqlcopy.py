"""The SQL copy of the event store (`backup.sql`): its table, roles, statements, and what the
archiver process is told (its wiring). Pure.

One table in its own database holds every archived event, keyed by (stream, sequence):

    deploykit_events(stream, seq, subject, headers, payload, time, archived_at)

It is append-only by privilege, not by convention: the table belongs to `ARCHIVE_OWNER`, a role
that cannot log in, and the archiver's login `ARCHIVE_ROLE` holds INSERT and SELECT on it and
nothing else (no UPDATE, DELETE or TRUNCATE; it cannot grant itself more). The archiver inserts
with `ON CONFLICT (stream, seq) DO NOTHING`, so a message delivered twice (after a crash between
commit and ack) is stored once. The statements are run by whoever administers the server: the
local stack's superuser, a metal host's `postgres`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from deploykit.backup.archive import Record
from deploykit.manifest.naming import (
    ARCHIVE_DATABASE,
    ARCHIVE_OWNER,
    ARCHIVE_ROLE,
)

__all__ = [
    "ARCHIVER_COMMAND",
    "INSERT",
    "RANGE",
    "ROWS",
    "TABLE",
    "batch_of",
    "create_database",
    "database_statements",
    "record_of",
    "role_statements",
]

TABLE = "deploykit_events"
ARCHIVER_COMMAND = "python -m deploykit.backup.archiver"  # how every target starts it

_DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    stream      text        NOT NULL,
    seq         bigint      NOT NULL CHECK (seq > 0),
    subject     text        NOT NULL,
    headers     jsonb,
    payload     bytea       NOT NULL,
    time        timestamptz NOT NULL,
    archived_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream, seq)
)
"""

INSERT = (  # a whole batch in one statement: one round trip, one plan
    f"INSERT INTO {TABLE} (stream, seq, subject, headers, payload, time) "
    "SELECT %s, * FROM unnest(%b::bigint[], %b::text[], %b::jsonb[], %b::bytea[], "
    "%b::timestamptz[]) ON CONFLICT (stream, seq) DO NOTHING"
)
RANGE = (
    f"SELECT count(*), coalesce(min(seq), 0), coalesce(max(seq), 0), "
    f"coalesce(sum(length(payload)), 0) FROM {TABLE} WHERE stream = %s"
)
ROWS = (
    f"SELECT seq, time, subject, headers, payload FROM {TABLE} "
    "WHERE stream = %s AND seq <= %s ORDER BY seq"
)


def role_statements(password: str) -> list[sql.SQL | sql.Composed]:
    """Run in any database as an administrator: both roles, the login's password set (again).
    A superuser is not needed (Neon has none): only a superuser can take SUPERUSER away, so
    that is asked only of a login that has it, which only a superuser can have given it."""
    return [
        sql.SQL(
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {owner_text}) "
            "THEN CREATE ROLE {owner} NOLOGIN; END IF; "
            "IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {role_text}) "
            "THEN CREATE ROLE {role} LOGIN; END IF; END $$"
        ).format(
            owner=sql.Identifier(ARCHIVE_OWNER),
            owner_text=sql.Literal(ARCHIVE_OWNER),
            role=sql.Identifier(ARCHIVE_ROLE),
            role_text=sql.Literal(ARCHIVE_ROLE),
        ),
        sql.SQL("ALTER ROLE {} WITH LOGIN NOCREATEDB NOCREATEROLE PASSWORD {}").format(
            sql.Identifier(ARCHIVE_ROLE), sql.Literal(password)
        ),
        sql.SQL(
            "DO $$ BEGIN IF (SELECT rolsuper FROM pg_roles WHERE rolname = {role_text}) "
            "THEN ALTER ROLE {role} NOSUPERUSER; END IF; END $$"
        ).format(role=sql.Identifier(ARCHIVE_ROLE), role_text=sql.Literal(ARCHIVE_ROLE)),
    ]


def create_database() -> sql.Composed:
    """Outside a transaction, when `ARCHIVE_DATABASE` does not exist yet."""
    return sql.SQL("CREATE DATABASE {} OWNER {}").format(
        sql.Identifier(ARCHIVE_DATABASE), sql.Identifier(ARCHIVE_OWNER)
    )


def database_statements() -> list[sql.SQL | sql.Composed]:
    """Run in `ARCHIVE_DATABASE` as an administrator, in one transaction; idempotent."""
    owner, role = sql.Identifier(ARCHIVE_OWNER), sql.Identifier(ARCHIVE_ROLE)
    table, database = sql.Identifier(TABLE), sql.Identifier(ARCHIVE_DATABASE)
    return [
        sql.SQL(_DDL),
        sql.SQL("ALTER TABLE {} OWNER TO {}").format(table, owner),
        sql.SQL("REVOKE ALL ON {} FROM PUBLIC, {}").format(table, role),
        sql.SQL("GRANT SELECT, INSERT ON {} TO {}").format(table, role),
        sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(database),
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(database, role),
        sql.SQL("REVOKE CREATE ON SCHEMA public FROM PUBLIC"),
    ]


def batch_of(stream: str, records: list[Record]) -> tuple[Any, ...]:
    """The INSERT parameters of a batch: one array per column (time to the microsecond)."""
    return (
        stream,
        [r.seq for r in records],
        [r.subject for r in records],
        [Jsonb(r.headers) if r.headers else None for r in records],
        [r.data for r in records],
        [datetime.fromtimestamp(r.time_ns / 1e9, UTC) for r in records],
    )


def record_of(row: tuple[Any, ...]) -> Record:
    """A `ROWS` row as the record a snapshot would hold."""
    seq, moment, subject, headers, payload = row
    nanos = int(moment.timestamp() * 1_000_000) * 1000
    return Record(seq, nanos, subject, headers or None, bytes(payload))
