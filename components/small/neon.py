"""PostgreSQL on Neon: a project, its default branch, an owner role and a database per declared
one; with `backup.sql` the SQL copy's database, its table and the archiver's login (`ArchiveTable`,
made with SQL as the table's owner: Neon's API has no SQL endpoint).

What they are is decided in `deploykit.small.database`.
"""

from __future__ import annotations

import contextlib
import secrets
from typing import Any

import psycopg
import pulumi
from psycopg import sql
from pulumi.dynamic import CreateResult, ReadResult, ResourceProvider, UpdateResult

from components.small.dynamic import ApiProvider, integral, secret_outputs
from deploykit.backup.sqlcopy import TABLE, database_statements, role_statements
from deploykit.manifest.model import Manifest
from deploykit.manifest.naming import ARCHIVE_DATABASE, ARCHIVE_OWNER, ARCHIVE_ROLE
from deploykit.saas.http import NotFound
from deploykit.saas.neon import NEON, NeonClient
from deploykit.small.database import archive_url, owners, project_org, require_tls
from deploykit.stack.config import NeonSettings

__all__ = [
    "ArchiveProvider",
    "ArchiveTable",
    "Database",
    "DatabaseProvider",
    "NeonDatabase",
    "NeonProject",
    "NeonRole",
    "ProjectProvider",
    "RoleProvider",
]


class _NeonProvider(ApiProvider):
    service = NEON
    token_key = "neonApiKey"

    def _client(self) -> NeonClient:
        return NeonClient(self.require_token(), self.api_url, **self.client_options)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        with self._client() as api, contextlib.suppress(NotFound):
            self._delete(api, id_, props)

    def _delete(self, api: NeonClient, id_: str, props: dict[str, Any]) -> None:
        raise NotImplementedError


class ProjectProvider(_NeonProvider):
    """A Neon project; its region, PostgreSQL version and organization cannot change in place."""

    replace_on = ("region_id", "pg_version", "org_id")
    update_on = ("name", "branch")

    def create(self, props: dict[str, Any]) -> CreateResult:
        props = integral(props)
        with self._client() as api:
            created = api.create_project(
                props["name"],
                props["region_id"],
                props["pg_version"],
                props["org_id"],
                props["branch"],
            )
        admin = created.connection_uris[0]
        outs = {
            **props,
            "branch_id": created.branch.id,
            "host": created.endpoints[0].host if created.endpoints else None,
            "admin_database": admin.connection_parameters.database,
            "admin_role": admin.connection_parameters.role,
            "admin_uri": require_tls(admin.connection_uri),
        }
        return CreateResult(created.project.id, outs)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with self._client() as api:
            try:
                project = api.get_project(id_)
                branch = api.get_branch(id_, props["branch_id"])
                uri = api.connection_uri(
                    id_, branch.id, props["admin_database"], props["admin_role"]
                )
            except NotFound:
                return ReadResult("", {})
        outs = {
            **props,
            "name": project.name,
            "region_id": project.region_id,
            "pg_version": project.pg_version,
            "org_id": project.org_id if props.get("org_id") else "",
            "branch": branch.name,
            "admin_uri": require_tls(uri),
        }
        return ReadResult(id_, outs)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        news = integral(news)
        with self._client() as api:
            if olds.get("name") != news["name"]:
                api.rename_project(id_, news["name"])
            if olds.get("branch") != news["branch"]:
                api.rename_branch(id_, olds["branch_id"], news["branch"])
        return UpdateResult({**olds, **news})

    def _delete(self, api: NeonClient, id_: str, _props: dict[str, Any]) -> None:
        api.delete_project(id_)


class RoleProvider(_NeonProvider):
    """A login role on the branch; its password is returned once, at creation, and kept secret."""

    replace_on = ("project_id", "branch_id", "name")
    update_on = ()

    def create(self, props: dict[str, Any]) -> CreateResult:
        props = integral(props)
        with self._client() as api:
            role = api.create_role(props["project_id"], props["branch_id"], props["name"])
        id_ = f"{props['project_id']}/{props['branch_id']}/{role.name}"
        return CreateResult(id_, {**props, "password": role.password})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        project_id, branch_id, name = id_.split("/", 2)
        with self._client() as api:
            try:
                api.get_role(project_id, branch_id, name)
            except NotFound:
                return ReadResult("", {})
        outs = {"project_id": project_id, "branch_id": branch_id, "name": name}
        return ReadResult(id_, {**outs, "password": props.get("password")})

    def _delete(self, api: NeonClient, id_: str, _props: dict[str, Any]) -> None:
        api.delete_role(*id_.split("/", 2))


class DatabaseProvider(_NeonProvider):
    """A database owned by a role, with the owner's connection URI (a secret)."""

    replace_on = ("project_id", "branch_id", "name")
    update_on = ("owner",)

    def create(self, props: dict[str, Any]) -> CreateResult:
        props = integral(props)
        project_id, branch_id, name, owner = (
            props[k] for k in ("project_id", "branch_id", "name", "owner")
        )
        with self._client() as api:
            api.create_database(project_id, branch_id, name, owner)
            uri = require_tls(api.connection_uri(project_id, branch_id, name, owner))
        return CreateResult(f"{project_id}/{branch_id}/{name}", {**props, "uri": uri})

    def read(self, id_: str, _props: dict[str, Any]) -> ReadResult:
        project_id, branch_id, name = id_.split("/", 2)
        with self._client() as api:
            try:
                database = api.get_database(project_id, branch_id, name)
                uri = require_tls(
                    api.connection_uri(project_id, branch_id, name, database.owner_name)
                )
            except NotFound:
                return ReadResult("", {})
        outs = {"project_id": project_id, "branch_id": branch_id, "name": name}
        return ReadResult(id_, {**outs, "owner": database.owner_name, "uri": uri})

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        news = integral(news)
        project_id, branch_id, name = id_.split("/", 2)
        with self._client() as api:
            api.set_database_owner(project_id, branch_id, name, news["owner"])
            uri = require_tls(api.connection_uri(project_id, branch_id, name, news["owner"]))
        return UpdateResult({**olds, **news, "uri": uri})

    def _delete(self, api: NeonClient, id_: str, _props: dict[str, Any]) -> None:
        api.delete_database(*id_.split("/", 2))


class ArchiveProvider(ResourceProvider):
    """The SQL copy's table and the archiver's login, made as the table's owner (`owner_uri`):
    sqlcopy's statements, the same as on the other targets. The login's password is made here
    once and kept; a new owner URI runs the statements again (they are idempotent)."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        password = secrets.token_urlsafe(32)
        _provision(props["owner_uri"], password)
        url = archive_url(props["owner_uri"], password)
        return CreateResult(ARCHIVE_DATABASE, {**props, "password": password, "url": url})

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        _provision(news["owner_uri"], olds["password"])
        url = archive_url(news["owner_uri"], olds["password"])
        return UpdateResult({**news, "password": olds["password"], "url": url})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        """The archiver's login goes, its grants first (the owner may not `DROP OWNED BY` a
        role it is no member of); the table goes with its database."""
        role, database = sql.Identifier(ARCHIVE_ROLE), sql.Identifier(ARCHIVE_DATABASE)
        with psycopg.connect(props["owner_uri"], autocommit=True) as conn:
            conn.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(sql.Identifier(TABLE), role))
            conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM {}").format(database, role))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(role))


def _provision(owner_uri: str, password: str) -> None:
    with psycopg.connect(owner_uri, autocommit=True) as conn:
        for statement in role_statements(password):
            conn.execute(statement)
        with conn.transaction():
            for statement in database_statements():
                conn.execute(statement)


class ArchiveTable(pulumi.dynamic.Resource, module="small", name="ArchiveTable"):
    """`url`: the SQL copy as the archiver's login (a secret)."""

    url: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        database: NeonDatabase,
        opts: pulumi.ResourceOptions,
    ) -> None:
        props = {"owner_uri": pulumi.Output.secret(database.uri), "password": None, "url": None}
        secret = pulumi.ResourceOptions(
            additional_secret_outputs=["owner_uri", "password", "url"], depends_on=[database]
        )
        merged = pulumi.ResourceOptions.merge(opts, secret)
        super().__init__(ArchiveProvider(), resource_name, props, merged)


class NeonProject(pulumi.dynamic.Resource, module="small", name="NeonProject"):
    """A Neon project with its default branch; `admin_uri` is its default owner's URI."""

    branch_id: pulumi.Output[str]
    admin_uri: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        provider: ProjectProvider,
        settings: NeonSettings,
        project_name: str,
        opts: pulumi.ResourceOptions,
    ) -> None:
        props = {
            "name": project_name,
            "region_id": settings.regionId,
            "pg_version": settings.pgVersion,
            "org_id": project_org(settings),
            "branch": settings.branch,
            "branch_id": None,
            "host": None,
            "admin_database": None,
            "admin_role": None,
            "admin_uri": None,
        }
        super().__init__(provider, resource_name, props, secret_outputs(opts, "admin_uri"))


class NeonRole(pulumi.dynamic.Resource, module="small", name="NeonRole"):
    """A role on the project's branch; `password` is a secret."""

    name: pulumi.Output[str]
    password: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        provider: RoleProvider,
        project: NeonProject,
        role_name: str,
        opts: pulumi.ResourceOptions,
    ) -> None:
        props = {
            "project_id": project.id,
            "branch_id": project.branch_id,
            "name": role_name,
            "password": None,
        }
        super().__init__(provider, resource_name, props, secret_outputs(opts, "password"))


class NeonDatabase(pulumi.dynamic.Resource, module="small", name="NeonDatabase"):
    """A database and its owner's connection URI (`uri`, a secret)."""

    uri: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        provider: DatabaseProvider,
        project: NeonProject,
        database_name: str,
        owner: NeonRole,
        opts: pulumi.ResourceOptions,
    ) -> None:
        props = {
            "project_id": project.id,
            "branch_id": project.branch_id,
            "name": database_name,
            "owner": owner.name,
            "uri": None,
        }
        super().__init__(provider, resource_name, props, secret_outputs(opts, "uri"))


class Database(pulumi.ComponentResource):
    """deploykit:small:Database, every database of the manifest on one Neon project."""

    def __init__(
        self,
        name: str,
        manifest: Manifest,
        settings: NeonSettings,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("deploykit:small:Database", name, {}, opts)
        self._name = name
        self._manifest = manifest
        self._settings = settings
        self.say_postgres_is_used()
        self.project = self.create_project()
        self.roles = self.create_roles()
        self.databases = self.create_databases()
        self.archive = self.create_archive()
        self.admin_url = pulumi.Output.secret(self.project.admin_uri)
        self.urls = {key: pulumi.Output.secret(db.uri) for key, db in self.databases.items()}
        self.archive_url = pulumi.Output.secret(self.archive.url) if self.archive else None
        self.register_outputs({"admin_url": self.admin_url, "urls": self.urls})

    def say_postgres_is_used(self) -> None:
        for key, database in self._manifest.databases.items():
            if database.engine == "yugabyte":
                pulumi.log.warn(
                    f"databases.{key} says engine: yugabyte, but the small tier runs PostgreSQL "
                    f"{self._settings.pgVersion} on Neon (YugabyteDB speaks the same protocol); "
                    "deploy to the metal stack for YugabyteDB",
                    resource=self,
                )

    def create_project(self) -> NeonProject:
        provider = ProjectProvider(self._settings.apiUrl)
        opts = pulumi.ResourceOptions(parent=self)
        return NeonProject(
            f"{self._name}-project", provider, self._settings, self._manifest.system, opts
        )

    def create_roles(self) -> dict[str, NeonRole]:
        provider = RoleProvider(self._settings.apiUrl)
        return {
            owner: NeonRole(
                f"{self._name}-role-{owner}",
                provider,
                self.project,
                owner,
                pulumi.ResourceOptions(parent=self),
            )
            for owner in owners(self._manifest)
        }

    def create_databases(self) -> dict[str, NeonDatabase]:
        provider = DatabaseProvider(self._settings.apiUrl)
        databases: dict[str, NeonDatabase] = {}
        for key in self._manifest.databases:
            owner = self.roles[self._manifest.database_owner(key)]
            databases[key] = NeonDatabase(
                f"{self._name}-db-{key}",
                provider,
                self.project,
                self._manifest.database_name(key),
                owner,
                pulumi.ResourceOptions(parent=self, depends_on=[owner]),
            )
        return databases

    def create_archive(self) -> ArchiveTable | None:
        """With `backup.sql`: the SQL copy's database, owned by its owner role, then its table
        and the archiver's login (`deploykit.small.database` says why the owner logs in)."""
        if not self._manifest.sql_archived():
            return None
        owner = self.roles[ARCHIVE_OWNER]
        database = NeonDatabase(
            f"{self._name}-db-archive",
            DatabaseProvider(self._settings.apiUrl),
            self.project,
            ARCHIVE_DATABASE,
            owner,
            pulumi.ResourceOptions(parent=self, depends_on=[owner]),
        )
        return ArchiveTable(f"{self._name}-archive", database, pulumi.ResourceOptions(parent=self))
