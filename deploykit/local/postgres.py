"""A real PostgreSQL on loopback, configured from the kit's templates, for `dev` and the tests.

Binaries come from the `pgserver` package (PostgreSQL 16) or the system's installation.
PostgreSQL refuses to run as root; when we are root the server runs as an unprivileged system
user (`deploykit`), which then needs to traverse the directories above its data directory.

A new data directory is a copy of a template that initdb made once per PostgreSQL build and
initdb options (kept in the kit's cache, `postgres/initdb-<key>`, with no password): copying
its 40 MB takes a twentieth of the time and CPU of initdb, which is the longest step of a cold
`dev up` on a busy machine. Each copy then gets its own superuser password, set by a
single-user backend that reads it from stdin (no server listening, nothing in argv). Copies
share the template's database system identifier, which nothing on a local stack compares.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from deploykit.configs.postgres import PgSettings, local_hba, render_pg_hba, render_postgresql_conf
from deploykit.errors import ProcessError
from deploykit.local.processes import Proc, identity_options
from deploykit.manifest.naming import ARCHIVE_DATABASE, ARCHIVE_ROLE
from deploykit.toolchain.cache import cache_root

__all__ = ["LocalPostgres", "find_pg_bindir"]

SYSTEM_USER = "deploykit"
SUPERUSER = "postgres"
INITDB_OPTIONS = (
    f"--username={SUPERUSER}",
    "--auth-host=scram-sha-256",
    "--auth-local=peer",
    "--encoding=UTF8",
    "--no-instructions",
    "--no-sync",  # a local stack's data: the OS writes it back soon enough
)


def find_pg_bindir() -> Path:
    """PostgreSQL's bin directory: the pgserver package's, else pg_config's, else Debian's."""
    spec = importlib.util.find_spec("pgserver")
    if spec and spec.submodule_search_locations:
        candidate = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
        if (candidate / "postgres").exists():
            return candidate
    if pg_config := shutil.which("pg_config"):
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        candidate = Path(out.stdout.strip())
        if (candidate / "postgres").exists():
            return candidate
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), reverse=True)
    if versions:
        return versions[0].parent
    raise ProcessError(
        "PostgreSQL not found: install the pgserver package (a dependency of deploykit) "
        "or PostgreSQL itself (e.g. apt-get install postgresql)"
    )


def _server_user() -> tuple[int, int] | None:
    """(uid, gid) to run PostgreSQL as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SYSTEM_USER,
            ],
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(SYSTEM_USER)
    return entry.pw_uid, entry.pw_gid


def _template_dir(bindir: Path) -> Path:
    """The template for this PostgreSQL build (its path and binary's mtime) and initdb options."""
    build = f"{bindir.resolve()}|{(bindir / 'postgres').stat().st_mtime_ns}|{INITDB_OPTIONS}"
    return cache_root() / "postgres" / f"initdb-{hashlib.sha256(build.encode()).hexdigest()[:16]}"


def _copy(source: Path, target: Path) -> None:
    """`cp -a`: owners, modes and times kept (the server's user owns the template's files)."""
    result = subprocess.run(
        ["cp", "-a", str(source), str(target)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise ProcessError(f"could not copy {source} to {target}: {result.stderr.strip()}")


def _keep_as_template(data: Path, template: Path) -> None:
    """A copy of a data directory initdb just made, renamed into place whole; when another
    process got there first, its template stays."""
    template.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".partial-", dir=template.parent))
    try:
        _copy(data, staging / "data")
        (staging / "data").rename(template)
    except OSError:
        if not (template / "PG_VERSION").exists():
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _let_traverse(path: Path) -> None:
    """Give others execute (traverse, not list) on every directory above `path`."""
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


@dataclass
class LocalPostgres:
    directory: Path
    port: int
    password: str
    template: bool = True  # copy the cached template rather than run initdb (module docstring)

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def proc(self) -> Proc:
        return self.proc_in(self.directory)

    @staticmethod
    def proc_in(directory: Path) -> Proc:
        return Proc("postgres", directory / "postgres.pid", directory / "postgres.log")

    @staticmethod
    def stop_in(directory: Path) -> bool:
        """Fast shutdown (SIGINT): clients are disconnected, committed data is safe."""
        return LocalPostgres.proc_in(directory).stop(timeout=30, sig=signal.SIGINT)

    def url(
        self, database: str = "postgres", user: str = SUPERUSER, password: str | None = None
    ) -> str:
        secret = self.password if password is None else password
        return f"postgresql://{user}:{secret}@127.0.0.1:{self.port}/{database}"

    def settings(self) -> PgSettings:
        return PgSettings(port=self.port, socket_dir=str(self.directory.resolve()), hba=local_hba())

    def start(self, timeout: float = 30.0) -> None:
        bindir = find_pg_bindir()
        uid = _server_user()
        self.directory.mkdir(parents=True, exist_ok=True)
        if uid is not None:
            _let_traverse(self.directory)
            os.chown(self.directory, *uid)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(bindir, uid)
        settings = self.settings()
        (self.data_dir / "postgresql.conf").write_text(render_postgresql_conf(settings))
        (self.data_dir / "pg_hba.conf").write_text(render_pg_hba(settings))
        if self.proc.pid() is None:
            self.proc.start([str(bindir / "postgres"), "-D", str(self.data_dir)], user=uid)
        self.proc.wait_until(self._accepts, timeout, "accepting connections", poll=0.02)

    def _initdb(self, bindir: Path, uid: tuple[int, int] | None) -> None:
        """A fresh data directory: the template's copy (initdb made it the first time) with
        this server's own password, or initdb itself when `template` is off."""
        if not self.template:
            self._run_initdb(bindir, uid, self.data_dir, password=True)
            return
        template = _template_dir(bindir)
        if not (template / "PG_VERSION").exists():
            self._run_initdb(bindir, uid, self.data_dir, password=False)
            _keep_as_template(self.data_dir, template)
        else:
            staging = self.directory / ".data.partial"
            shutil.rmtree(staging, ignore_errors=True)
            _copy(template, staging)
            staging.rename(self.data_dir)
        self._set_password(bindir, uid)

    def _run_initdb(
        self, bindir: Path, uid: tuple[int, int] | None, data: Path, *, password: bool
    ) -> None:
        pwfile = self.directory / ".initdb-password"
        options = [*INITDB_OPTIONS]
        if password:
            fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(self.password)
            if uid is not None:
                os.chown(pwfile, *uid)
            options.append(f"--pwfile={pwfile}")
        try:
            result = subprocess.run(
                [str(bindir / "initdb"), "-D", str(data), *options],
                capture_output=True,
                text=True,
                check=False,
                **identity_options(uid),
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise ProcessError(f"initdb failed in {data}:\n{result.stdout}{result.stderr}")

    def _set_password(self, bindir: Path, uid: tuple[int, int] | None) -> None:
        """The superuser's password, by a single-user backend reading the statement on stdin."""
        literal = "'" + self.password.replace("'", "''") + "'"
        result = subprocess.run(
            [str(bindir / "postgres"), "--single", "-j", "-D", str(self.data_dir), SUPERUSER],
            input=f"ALTER ROLE {SUPERUSER} PASSWORD {literal};\n\n",  # -j: ends at ";" + blank line
            capture_output=True,
            text=True,
            check=False,
            **identity_options(uid),
        )
        failed = result.returncode != 0 or "ERROR:" in result.stderr
        if failed:
            raise ProcessError(
                f"could not set the superuser's password in {self.data_dir}:\n"
                + result.stderr.replace(literal, "'***'")
            )

    def _accepts(self) -> bool:
        import psycopg  # here, not above: `dev up` starts the servers before it imports psycopg

        with psycopg.connect(self.url(), connect_timeout=1) as conn:
            conn.execute("select 1")
        return True

    def stop(self) -> bool:
        return self.stop_in(self.directory)

    def ensure_database(self, name: str, owner: str, password: str) -> str:
        """Create (or keep) the owner role with this password and its database; return its URL."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url(), autocommit=True) as conn:
            exists = conn.execute("select 1 from pg_roles where rolname = %s", (owner,)).fetchone()
            verb = "alter" if exists else "create"
            conn.execute(
                sql.SQL(f"{verb} role {{}} with login password {{}}").format(
                    sql.Identifier(owner), sql.Literal(password)
                )
            )
            if not conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone():
                conn.execute(
                    sql.SQL("create database {} owner {}").format(
                        sql.Identifier(name), sql.Identifier(owner)
                    )
                )
        return self.url(name, owner, password)

    def ensure_archive(self, password: str) -> str:
        """The SQL copy's roles, database and append-only table (`backup.sqlcopy`); its URL as
        the archiver's login."""
        import psycopg

        from deploykit.backup.sqlcopy import create_database, database_statements, role_statements

        with psycopg.connect(self.url(), autocommit=True) as conn:
            for statement in role_statements(password):
                conn.execute(statement)
            found = conn.execute(
                "select 1 from pg_database where datname = %s", (ARCHIVE_DATABASE,)
            ).fetchone()
            if not found:
                conn.execute(create_database())
        with psycopg.connect(self.url(ARCHIVE_DATABASE)) as conn, conn.transaction():
            for statement in database_statements():
                conn.execute(statement)
        return self.url(ARCHIVE_DATABASE, ARCHIVE_ROLE, password)

    def version(self) -> str:
        import psycopg

        with psycopg.connect(self.url()) as conn:
            row = conn.execute("show server_version").fetchone()
        return str(row[0]) if row else ""
