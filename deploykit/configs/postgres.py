"""PostgreSQL configuration as data, rendered from the templates the metal tier uses too.

Pure: it decides settings and access rules; `localpg.py` runs the server locally, the metal
tier installs the same files on VMs.
"""

from __future__ import annotations

from dataclasses import dataclass

from deploykit.configs.templates import render

__all__ = ["HbaRule", "PgSettings", "local_hba", "render_pg_hba", "render_postgresql_conf"]


@dataclass(frozen=True)
class HbaRule:
    type: str
    database: str
    user: str
    address: str
    method: str = "scram-sha-256"


@dataclass(frozen=True)
class PgSettings:
    port: int
    socket_dir: str
    listen_addresses: str = "127.0.0.1"
    max_connections: int = 100
    shared_buffers: str = "128MB"
    max_wal_senders: int = 10
    max_slot_wal_keep_size: str = "2GB"
    superuser: str = "postgres"
    ssl_cert_file: str = ""
    ssl_key_file: str = ""
    archive_command: str = ""
    hba: tuple[HbaRule, ...] = ()


def local_hba() -> tuple[HbaRule, ...]:
    """Password (SCRAM) access over loopback for every role, and replication for the superuser."""
    return (
        HbaRule("host", "all", "all", "127.0.0.1/32"),
        HbaRule("host", "replication", "all", "127.0.0.1/32"),
    )


def render_postgresql_conf(settings: PgSettings) -> str:
    return render("postgres/postgresql.conf.j2", pg=settings)


def render_pg_hba(settings: PgSettings) -> str:
    return render("postgres/pg_hba.conf.j2", pg=settings)
