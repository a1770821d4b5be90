"""PostgreSQL on the hosts: a primary and an optional streaming replica, configured from the
kit's own templates (`deploykit.configs.postgres`), as the local stack is.

The replica is one `pg_basebackup -R` away from the primary, through a physical replication
slot created on the primary beforehand (so a rebuilt replica reuses it). Roles, databases and
passwords are applied by one idempotent SQL script, fed on stdin.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from deploykit.backup.sqlcopy import create_database, database_statements, role_statements
from deploykit.configs.postgres import HbaRule, PgSettings
from deploykit.configs.templates import render
from deploykit.manifest.naming import ARCHIVE_DATABASE
from deploykit.metal import layout
from deploykit.metal.shell import (
    ensure_packages,
    put_file,
    q,
    recording_packages,
    remove_packages,
    remove_paths,
    remove_units,
    script,
    wait_until,
)

__all__ = [
    "ADMIN_USER",
    "EXPORTER_ROLE",
    "REPLICATION_USER",
    "DatabaseGrant",
    "PgPaths",
    "archive_sql",
    "basebackup_argv",
    "basebackup_script",
    "database_url",
    "init_primary_script",
    "install_script",
    "postgres_settings",
    "postgres_unit",
    "provision_script",
    "provision_sql",
    "slot_name",
    "start_script",
    "stop_script",
    "uninstall_script",
    "write_file_script",
]

ADMIN_USER = "postgres"
REPLICATION_USER = "replicator"
EXPORTER_ROLE = "prometheus"
STANZA = "deploykit"


UNIT = "deploykit-postgresql.service"


@dataclass(frozen=True)
class PgPaths:
    """`version` "": the distribution's PostgreSQL, whichever major version that is. Either way
    the install script links `home` to the installed version's directory, so the unit and the
    scripts never name a version the host may not have."""

    version: str
    home: str = "/usr/local/lib/deploykit/postgresql"

    @property
    def bindir(self) -> str:
        return f"{self.home}/bin"

    @property
    def data_dir(self) -> str:
        return "/var/lib/postgresql/deploykit"

    @property
    def tls_dir(self) -> str:
        return "/etc/deploykit/postgresql"

    socket_dir: str = "/var/run/postgresql"
    passfile: str = "/var/lib/postgresql/.pgpass"


@dataclass(frozen=True)
class DatabaseGrant:
    """A database of the manifest, its owner role and the owner's password."""

    name: str
    owner: str
    password: str


def slot_name(host: str) -> str:
    """Slot names allow lowercase letters, digits and underscores only."""
    return host.replace("-", "_")


def _cidr(address: str) -> str:
    """An address becomes a one-host network; a network (10.0.0.0/24) stays as it is."""
    return str(ipaddress.ip_network(address, strict=False))


def postgres_settings(
    address: str,
    *,
    clients: Sequence[str],
    replication_peers: Sequence[str],
    port: int = layout.POSTGRES_PORT,
    socket_dir: str = PgPaths.socket_dir,
    tls_dir: str = "",
    archive: bool = False,
) -> PgSettings:
    """postgresql.conf/pg_hba.conf values for one database host (primary and replica alike:
    either may be promoted). Only the listed clients and peers get in, with SCRAM, over TLS
    when `tls_dir` holds server.crt/server.key; everything else is rejected."""
    kind = "hostssl" if tls_dir else "host"
    rules = [HbaRule("local", "postgres", EXPORTER_ROLE, "", "peer")]
    rules += [HbaRule(kind, "all", "all", _cidr(c)) for c in dict.fromkeys(clients)]
    rules += [
        HbaRule(kind, "replication", REPLICATION_USER, _cidr(p))
        for p in dict.fromkeys(replication_peers)
    ]
    return PgSettings(
        port=port,
        socket_dir=socket_dir,
        listen_addresses=address,
        ssl_cert_file=f"{tls_dir}/server.crt" if tls_dir else "",
        ssl_key_file=f"{tls_dir}/server.key" if tls_dir else "",
        archive_command=f"pgbackrest --stanza={STANZA} archive-push %p" if archive else "",
        hba=tuple(rules),
    )


def postgres_unit(paths: PgPaths, role: str) -> str:
    return render(
        "systemd/postgresql.service.j2",
        version=paths.version,
        role=role,
        bindir=paths.bindir,
        data_dir=paths.data_dir,
    )


PACKAGES_RECORD = "postgresql"
# The PostgreSQL project's apt repository (PGDG), set up by Debian's own postgresql-common.
PGDG = script(
    ensure_packages(["ca-certificates", "curl", "postgresql-common"], record=PACKAGES_RECORD),
    "/usr/share/postgresql-common/pgdg/apt.postgresql.org.sh -y",
).rstrip("\n")


def install_script(paths: PgPaths, backup: bool, repository: str = PGDG, install: str = "") -> str:
    """The distribution's PostgreSQL (package `postgresql`), or the asked major version;
    `repository` (a script) adds the apt source that has it (PGDG) when the distribution lacks
    it; `install` (a script) installs the stack's artifacts instead of apt's repositories.
    No default cluster: ours is below."""
    server = f"postgresql-{paths.version}" if paths.version else "postgresql"
    packages = [server, "prometheus-postgres-exporter", *(["pgbackrest"] if backup else [])]
    version = paths.version or "$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
    add_source = (
        f"apt-cache show {server} >/dev/null 2>&1 || {{ {repository.strip()}; }}"
        if paths.version and repository
        else ""
    )
    return script(
        "install -d /etc/postgresql-common/createcluster.d",
        "echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/deploykit.conf",
        add_source if not install else "",
        recording_packages(PACKAGES_RECORD, install)
        if install
        else ensure_packages(packages, record=PACKAGES_RECORD),
        f"install -d {paths.home.rsplit('/', 1)[0]}",
        f'ln -sfn "/usr/lib/postgresql/{version}" {paths.home}',
        f"install -d -o postgres -g postgres -m 0700 {paths.data_dir}",
        f"install -d -o root -g postgres -m 0750 {paths.tls_dir}",
    )


def uninstall_script(paths: PgPaths, destroy_data: bool) -> str:
    """Remove what `install_script` added: the packages it installed, the link, the TLS folder;
    the data directory and the replication password only with `destroy_data`."""
    return script(
        remove_packages(PACKAGES_RECORD),
        remove_paths(
            paths.home,
            paths.tls_dir,
            "/etc/postgresql-common/createcluster.d/deploykit.conf",
            *((paths.data_dir, paths.passfile) if destroy_data else ()),
        ),
    )


def stop_script() -> str:
    """Stop the server for good (fast shutdown) and remove its unit."""
    return remove_units(UNIT)


def init_primary_script(paths: PgPaths) -> str:
    """initdb once, the superuser's password read from stdin (never on a command line)."""
    return script(
        f"if [ ! -f {paths.data_dir}/PG_VERSION ]; then",
        'pwfile="$(mktemp)"',
        "trap 'rm -f \"$pwfile\"' EXIT",
        'cat > "$pwfile"',
        'chown postgres "$pwfile"',
        f"runuser -u postgres -- {paths.bindir}/initdb -D {paths.data_dir} -U {ADMIN_USER} "
        '--auth-host=scram-sha-256 --auth-local=peer --pwfile="$pwfile" '
        "--encoding=UTF8 --data-checksums",
        "fi",
    )


def basebackup_argv(bindir: str, primary: str, port: int, data_dir: str, slot: str) -> list[str]:
    """Clone the primary into an empty data directory and make it its standby (-R writes
    standby.signal, primary_conninfo and primary_slot_name)."""
    return [
        f"{bindir}/pg_basebackup",
        "-h",
        primary,
        "-p",
        str(port),
        "-U",
        REPLICATION_USER,
        "-D",
        data_dir,
        "-X",
        "stream",
        "-R",
        "-S",
        slot,
        "-c",
        "fast",
        "--no-password",
    ]


def basebackup_script(paths: PgPaths, primary: str, slot: str) -> str:
    """Make this host the primary's replica, once; the replication password comes on stdin and
    stays in the postgres user's ~/.pgpass, which the standby reads when it reconnects."""
    argv = basebackup_argv(paths.bindir, primary, layout.POSTGRES_PORT, paths.data_dir, slot)
    return script(
        "{ printf '%s' "
        + q(f"{primary}:{layout.POSTGRES_PORT}:*:{REPLICATION_USER}:")
        + f"; cat; echo; }} > {paths.passfile}.new",
        f"install -o postgres -g postgres -m 0600 {paths.passfile}.new {paths.passfile}",
        f"rm -f {paths.passfile}.new",
        f"if [ ! -f {paths.data_dir}/PG_VERSION ]; then",
        f"runuser -u postgres -- {' '.join(q(a) for a in argv)}",
        "fi",
    )


def write_file_script(path: str) -> str:
    """A file the server reads (config or TLS): owned by postgres, readable by no one else."""
    return put_file(path, mode="0600", owner="postgres", group="postgres")


def start_script(paths: PgPaths) -> str:
    """Start the server; a running one reloads its configuration, and restarts only when a
    changed setting needs it (`pending_restart`)."""
    psql = f"runuser -u postgres -- {paths.bindir}/psql -h {paths.socket_dir} -p {layout.POSTGRES_PORT} -Atqc"
    pending = f"{psql} 'select count(*) from pg_settings where pending_restart'"
    return script(
        "systemctl daemon-reload",
        "systemctl enable --quiet deploykit-postgresql",
        "if systemctl is-active --quiet deploykit-postgresql; then",
        f"loaded=\"$({psql} 'select pg_conf_load_time()')\"",
        "systemctl reload deploykit-postgresql",
        wait_until(
            f'[ "$({psql} \'select pg_conf_load_time()\')" != "$loaded" ]',
            30,
            "PostgreSQL did not reload its configuration",
        ),
        f'if [ "$({pending})" != 0 ]; then systemctl restart deploykit-postgresql; fi',
        "else",
        "systemctl start deploykit-postgresql",
        "fi",
        wait_until(
            f"{paths.bindir}/pg_isready -q -h {paths.socket_dir} -p {layout.POSTGRES_PORT}",
            120,
            "PostgreSQL is not accepting connections",
        ),
    )


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ensure_role(role: str) -> str:
    return (
        f"SELECT 'CREATE ROLE {_ident(role)}' WHERE NOT EXISTS "
        f"(SELECT FROM pg_roles WHERE rolname = {_literal(role)})\\gexec"
    )


def provision_sql(
    databases: Sequence[DatabaseGrant],
    *,
    admin_user: str,
    admin_password: str,
    replication_password: str = "",
    slots: Sequence[str] = (),
    archive_password: str = "",
) -> str:
    """Roles, passwords, databases, replication role and slots, the exporter's role, and with
    `archive_password` the SQL copy (`archive_sql`, last: it connects to its own database):
    idempotent psql input (`\\gexec` creates what is missing; CREATE DATABASE cannot run in a
    DO block)."""
    lines = [
        "\\set ON_ERROR_STOP on",
        f"ALTER ROLE {_ident(admin_user)} WITH PASSWORD {_literal(admin_password)};",
    ]
    if replication_password:
        lines += [
            _ensure_role(REPLICATION_USER),
            f"ALTER ROLE {_ident(REPLICATION_USER)} WITH LOGIN REPLICATION "
            f"PASSWORD {_literal(replication_password)};",
        ]
    lines += [
        f"SELECT pg_create_physical_replication_slot({_literal(slot)}) WHERE NOT EXISTS "
        f"(SELECT FROM pg_replication_slots WHERE slot_name = {_literal(slot)});"
        for slot in slots
    ]
    for db in databases:
        lines += [
            _ensure_role(db.owner),
            f"ALTER ROLE {_ident(db.owner)} WITH LOGIN PASSWORD {_literal(db.password)};",
            f"SELECT 'CREATE DATABASE {_ident(db.name)} OWNER {_ident(db.owner)}' WHERE NOT EXISTS "
            f"(SELECT FROM pg_database WHERE datname = {_literal(db.name)})\\gexec",
        ]
    lines += [
        _ensure_role(EXPORTER_ROLE),
        f"ALTER ROLE {_ident(EXPORTER_ROLE)} WITH LOGIN;",
        f"GRANT pg_monitor TO {_ident(EXPORTER_ROLE)};",
    ]
    if archive_password:
        lines.append(archive_sql(archive_password))
    return "\n".join(lines) + "\n"


def archive_sql(password: str) -> str:
    """The SQL copy's roles, database and append-only table (`deploykit.backup.sqlcopy`'s
    statements, as the local stack runs them), as psql input: the table's statements run in
    `ARCHIVE_DATABASE` after `\\connect`, in one transaction."""
    database = create_database().as_string(None)
    return "\n".join(
        [
            *(f"{statement.as_string(None)};" for statement in role_statements(password)),
            f"SELECT {_literal(database)} WHERE NOT EXISTS "
            f"(SELECT FROM pg_database WHERE datname = {_literal(ARCHIVE_DATABASE)})\\gexec",
            f"\\connect {ARCHIVE_DATABASE}",
            "BEGIN;",
            *(f"{statement.as_string(None).strip()};" for statement in database_statements()),
            "COMMIT;",
        ]
    )


def provision_script(paths: PgPaths) -> str:
    """Run the SQL on stdin as the superuser, over the local socket (peer authentication)."""
    return (
        f"runuser -u postgres -- {paths.bindir}/psql -X -q -h {paths.socket_dir} "
        f"-p {layout.POSTGRES_PORT} -d postgres -f -"
    )


def database_url(
    user: str, password: str, host: str, port: int, database: str, sslmode: str = "require"
) -> str:
    return (
        f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}/"
        f"{quote(database, safe='')}?sslmode={sslmode}"
    )
