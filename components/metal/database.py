"""The database on the `database` hosts: PostgreSQL (primary and optional streaming replica)
or YugabyteDB (RF3). Both end with the same outputs: an admin URL, one URL per database of the
manifest (its owner's role), replica URLs, and with `backup.sql` the SQL copy's URL as the
archiver's login."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi

from components.metal.generated import generated_secret
from components.metal.remote import Hosts, RemoteStep, digest
from components.metal.tls import Certificates
from deploykit.configs.postgres import render_pg_hba, render_postgresql_conf
from deploykit.manifest.model import Manifest
from deploykit.manifest.naming import ARCHIVE_DATABASE, ARCHIVE_ROLE
from deploykit.metal import backup, layout
from deploykit.metal import postgres as pg
from deploykit.metal import yugabyte as yb
from deploykit.metal.monitoring import postgres_exporter_script, remove_postgres_exporter_script
from deploykit.metal.shell import put_file, remove_paths, remove_units, script
from deploykit.metal.sources import Sources
from deploykit.stack.config import Host, MetalConfig

__all__ = ["Database", "DatabaseArgs"]


@dataclass(frozen=True)
class DatabaseArgs:
    manifest: Manifest
    settings: MetalConfig
    clients: Sequence[str]
    certificates: Certificates
    runner: Hosts
    backup_secret_access_key: pulumi.Output[str] | None = None
    sources: Sources = field(default_factory=Sources)


class Database(pulumi.ComponentResource):
    """`admin_url`, `urls` (database key → URL), `replica_urls`, `archive_url` (None without
    `backup.sql`), and `ready`: the step after which the databases and their owners exist."""

    admin_url: pulumi.Output[str]
    urls: dict[str, pulumi.Output[str]]
    replica_urls: list[pulumi.Output[str]]
    archive_url: pulumi.Output[str] | None
    ready: RemoteStep

    def __init__(
        self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("deploykit:metal:Database", name, {}, opts)
        self.args, self.name = args, name
        self.hosts = args.settings.hosts_with("database")
        self.admin_password = generated_secret(f"{name}-admin-password", self)
        self.owners = {
            key: generated_secret(f"{name}-{key}-password", self) for key in args.manifest.databases
        }
        self.archive_password = (
            generated_secret(f"{name}-archive-password", self)
            if args.manifest.sql_archived()
            else None
        )
        if args.settings.database.engine == "postgres":
            self.ready = self._postgres()
        else:
            self.ready = self._yugabyte()
        self.register_outputs({"engine": args.settings.database.engine})

    def _run(self, step: str, host: Host, body: str, **kwargs: Any) -> RemoteStep:
        return self.args.runner.run(f"{self.name}-{host.name}-{step}", host, body, self, **kwargs)

    def _grants(self) -> pulumi.Output[list[pg.DatabaseGrant]]:
        manifest = self.args.manifest
        keys = list(self.owners)
        return pulumi.Output.all(*self.owners.values()).apply(
            lambda passwords: [
                pg.DatabaseGrant(manifest.database_name(k), manifest.database_owner(k), p)
                for k, p in zip(keys, passwords, strict=True)
            ]
        )

    def _set_urls(
        self, primary: Host, port: int, admin: str, sslmode: str, replicas: Sequence[Host]
    ) -> None:
        manifest = self.args.manifest

        def url(
            user: str, password: pulumi.Output[str], host: Host, database: str
        ) -> pulumi.Output[str]:
            return pulumi.Output.secret(
                password.apply(
                    lambda p: pg.database_url(user, p, host.private, port, database, sslmode)
                )
            )

        self.admin_url = url(admin, self.admin_password, primary, "postgres")
        self.urls = {
            key: url(manifest.database_owner(key), pw, primary, manifest.database_name(key))
            for key, pw in self.owners.items()
        }
        self.replica_urls = [url(admin, self.admin_password, r, "postgres") for r in replicas]
        self.archive_url = (
            url(ARCHIVE_ROLE, self.archive_password, primary, ARCHIVE_DATABASE)
            if self.archive_password
            else None
        )

    def _archive_password(self) -> pulumi.Output[str]:
        """ "" without `backup.sql`: `provision_sql` then leaves the SQL copy out."""
        return self.archive_password or pulumi.Output.from_input("")

    # PostgreSQL -----------------------------------------------------------------------------

    def _postgres(self) -> RemoteStep:
        """Primary first (initdb, configuration, roles, databases, replication slot), then the
        replica cloned from it; exporters and backups once the databases exist."""
        primary, *replicas = self.hosts
        paths = pg.PgPaths(self.args.settings.database.release)
        destroy_data = self.args.settings.destroyData
        backups = self.args.settings.backup.enabled
        replication = generated_secret(f"{self.name}-replication-password", self)
        installed = {h.name: self._pg_install(h, paths, backups, destroy_data) for h in self.hosts}
        init = self._run(
            "initdb",
            primary,
            pg.init_primary_script(paths),
            stdin=self.admin_password,
            depends_on=installed[primary.name],
        )
        started = self._pg_configure(primary, paths, "primary", [init, *installed[primary.name]])
        sql = pulumi.Output.all(
            self._grants(), self.admin_password, replication, self._archive_password()
        ).apply(
            lambda v: pg.provision_sql(
                v[0],
                admin_user=pg.ADMIN_USER,
                admin_password=v[1],
                replication_password=v[2],
                slots=[pg.slot_name(r.name) for r in replicas],
                archive_password=v[3],
            )
        )
        provisioned = self._run(
            "provision", primary, pg.provision_script(paths), stdin=sql, depends_on=[started]
        )
        for replica in replicas:
            clone = self._run(
                "basebackup",
                replica,
                pg.basebackup_script(paths, primary.private, pg.slot_name(replica.name)),
                stdin=replication,
                depends_on=[provisioned, *installed[replica.name]],
            )
            replica_started = self._pg_configure(replica, paths, "replica", [clone])
            self._run(
                "exporter",
                replica,
                postgres_exporter_script(replica, paths.socket_dir),
                delete=remove_postgres_exporter_script(),
                depends_on=[replica_started],
            )
        self._run(
            "exporter",
            primary,
            postgres_exporter_script(primary, paths.socket_dir),
            delete=remove_postgres_exporter_script(),
            depends_on=[provisioned],
        )
        if backups:
            self._pg_backups(primary, paths, provisioned)
        self._set_urls(primary, layout.POSTGRES_PORT, pg.ADMIN_USER, "require", replicas)
        return provisioned

    def _pg_install(
        self, host: Host, paths: pg.PgPaths, backups: bool, destroy_data: bool
    ) -> list[RemoteStep]:
        sources = self.args.sources
        names = (
            "postgresql",
            "prometheus-postgres-exporter",
            *(("pgbackrest",) if backups else ()),
        )
        offline = script(*(sources.install(n) for n in names)) if sources.offline else ""
        install = self._run(
            "install",
            host,
            pg.install_script(paths, backups, install=offline),
            delete=pg.uninstall_script(paths, destroy_data),
            uploads=sources.uploads(*names),
        )
        cert = self.args.certificates.hosts[host.name]
        unit = self._run(
            "unit",
            host,
            script(
                put_file(f"/etc/systemd/system/{pg.UNIT}"),
                "systemctl daemon-reload",
            ),
            delete=pg.stop_script(),
            stdin=pg.postgres_unit(paths, "primary" if host == self.hosts[0] else "replica"),
            depends_on=[install],
        )
        tls = [
            self._run(
                f"tls-{name.replace('.', '-')}",
                host,
                pg.write_file_script(f"{paths.tls_dir}/{name}"),
                delete=remove_paths(f"{paths.tls_dir}/{name}"),
                stdin=content,
                depends_on=[install],
            )
            for name, content in (("server.crt", cert.certificate), ("server.key", cert.key))
        ]
        return [install, unit, *tls]

    def _pg_configure(
        self, host: Host, paths: pg.PgPaths, role: str, after: list[pulumi.Resource]
    ) -> RemoteStep:
        """postgresql.conf and pg_hba.conf in the data directory, then start or reload."""
        settings = pg.postgres_settings(
            host.private,
            clients=[*self.args.clients, *self.args.settings.database.clients],
            replication_peers=[h.private for h in self.hosts if h != host],
            tls_dir=paths.tls_dir,
            archive=self.args.settings.backup.enabled and role == "primary",
        )
        files = {
            "postgresql.conf": render_postgresql_conf(settings),
            "pg_hba.conf": render_pg_hba(settings),
        }
        written = [
            self._run(
                f"{name.replace('.', '-')}",
                host,
                pg.write_file_script(f"{paths.data_dir}/{name}"),
                stdin=text,
                depends_on=after,
            )
            for name, text in files.items()
        ]
        return self._run(
            "start",
            host,
            pg.start_script(paths),
            depends_on=[*after, *written],
            triggers=[digest(*files.values())],
        )

    def _pg_backups(self, host: Host, paths: pg.PgPaths, after: RemoteStep) -> None:
        """pgBackRest: WAL archive and base backups of the primary to the backup folder (and
        the S3 storage with a bucket)."""
        settings = self.args.settings
        key = self.args.backup_secret_access_key or pulumi.Output.from_input("")
        conf = pulumi.Output.secret(
            key.apply(
                lambda k: backup.pgbackrest_conf(
                    self.args.manifest.system,
                    settings.backup,
                    k or None,
                    paths.data_dir,
                    paths.socket_dir,
                )
            )
        )
        units = {
            "deploykit-pgbackrest@.service": backup.pgbackrest_service(settings.backup),
            **{
                f"deploykit-pgbackrest-{kind}.timer": backup.pgbackrest_timer(kind)
                for kind in ("full", "diff")
            },
        }
        files = [
            self._run(
                "pgbackrest-conf",
                host,
                put_file(backup.PGBACKREST_CONF, mode="0640", group="postgres"),
                stdin=conf,
                depends_on=[after],
            ),
            *(
                self._run(
                    name.replace("@", "").removeprefix("deploykit-").replace(".", "-"),
                    host,
                    put_file(f"/etc/systemd/system/{name}"),
                    stdin=text,
                    depends_on=[after],
                )
                for name, text in units.items()
            ),
        ]
        self._run(
            "pgbackrest",
            host,
            backup.pgbackrest_setup_script(settings.backup),
            delete=backup.remove_pgbackrest_script(settings.backup, settings.destroyData),
            depends_on=files,
        )

    # YugabyteDB -----------------------------------------------------------------------------

    def _yugabyte(self) -> RemoteStep:
        """Masters on the first three hosts, then a tserver on each, the placement, then the
        roles and databases through YSQL."""
        system, hosts = self.args.manifest.system, self.hosts
        release = self.args.settings.database.release
        installed = {h.name: self._run("install", h, yb.install_script(release)) for h in hosts}
        masters = [
            self._yb_process("master", h, yb.master_flags(system, h, hosts), [installed[h.name]])
            for h in hosts[: yb.REPLICATION_FACTOR]
        ]
        tservers = [
            self._yb_process(
                "tserver", h, yb.tserver_flags(system, h, hosts), [installed[h.name], *masters]
            )
            for h in hosts
        ]
        first = hosts[0]
        placement = self._run(
            "placement", first, yb.placement_script(system, hosts), depends_on=tservers
        )
        sql = pulumi.Output.all(
            self._grants(), self.admin_password, self._archive_password()
        ).apply(
            lambda v: (
                f"{v[1]}\n"
                + pg.provision_sql(
                    v[0], admin_user=yb.ADMIN_USER, admin_password=v[1], archive_password=v[2]
                )
            )
        )
        provisioned = self._run(
            "provision", first, yb.provision_script(first), stdin=sql, depends_on=[placement]
        )
        self._set_urls(first, layout.YSQL_PORT, yb.ADMIN_USER, "prefer", hosts[1:])
        return provisioned

    def _yb_process(
        self, process: str, host: Host, flags: str, after: list[pulumi.Resource]
    ) -> RemoteStep:
        files = [
            self._run(
                f"{process}-flags",
                host,
                put_file(f"/etc/yugabyte/{process}.flags", mode="0640", group="yugabyte"),
                delete=remove_paths(f"/etc/yugabyte/{process}.flags"),
                stdin=flags,
                depends_on=after,
            ),
            self._run(
                f"{process}-unit",
                host,
                put_file(f"/etc/systemd/system/yb-{process}.service"),
                delete=remove_units(f"yb-{process}.service"),
                stdin=yb.yugabyte_unit(process),
                depends_on=after,
            ),
        ]
        return self._run(
            f"{process}-start",
            host,
            yb.start_script(process, host),
            depends_on=[*after, *files],
            triggers=[digest(flags, yb.yugabyte_unit(process))],
        )
