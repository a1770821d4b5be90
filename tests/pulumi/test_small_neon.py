"""Neon dynamic providers against the local fake of Neon API v2."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pulumi.dynamic import Config, ConfigureRequest

from components.small.neon import DatabaseProvider, ProjectProvider, RoleProvider
from deploykit.errors import ConfigError
from deploykit.saas import ApiError, AuthError, QuotaError
from deploykit.testing.fakes.neon import FakeNeon, error
from deploykit.testing.fakes.server import json_reply

PROJECT = {
    "name": "acme",
    "region_id": "aws-us-east-2",
    "pg_version": 16,
    "org_id": "org-acme-1",
    "branch": "main",
}


@pytest.fixture
def fake() -> Iterator[FakeNeon]:
    with FakeNeon() as server:
        yield server


@pytest.fixture
def waits() -> list[float]:
    return []


def provider(cls: type, fake: FakeNeon, waits: list[float], token: str | None = None) -> Any:
    instance = cls(fake.url + "/api/v2", {"sleep": waits.append})
    key = {"deploykit:neonApiKey": token or fake.token}
    instance.configure(ConfigureRequest(Config(key, "deploykit")))
    return instance


@pytest.fixture
def projects(fake: FakeNeon, waits: list[float]) -> ProjectProvider:
    return provider(ProjectProvider, fake, waits)


@pytest.fixture
def project(projects: ProjectProvider) -> dict[str, Any]:
    created = projects.create(dict(PROJECT))
    return {"id": created.id, **created.outs}


def test_project_create_read_update_delete(projects: ProjectProvider, fake: FakeNeon) -> None:
    created = projects.create(dict(PROJECT))
    outs = created.outs
    assert outs["branch_id"] in fake.projects[created.id]["branches"]
    assert outs["admin_uri"].startswith("postgresql://neondb_owner:")
    assert (outs["admin_database"], outs["admin_role"]) == ("neondb", "neondb_owner")
    assert projects.read(created.id, outs).outs == outs
    changed = {**PROJECT, "name": "acme-prod", "branch": "production"}
    updated = projects.update(created.id, outs, changed)
    assert fake.projects[created.id]["project"]["name"] == "acme-prod"
    assert fake.projects[created.id]["branches"][outs["branch_id"]]["name"] == "production"
    assert updated.outs["admin_uri"] == outs["admin_uri"]
    projects.delete(created.id, updated.outs)
    assert fake.projects == {}
    assert projects.read(created.id, updated.outs).id == ""


def test_project_diff_replaces_on_region_version_and_org(projects: ProjectProvider) -> None:
    olds = {**PROJECT, "branch_id": "br-1", "admin_uri": "postgresql://x"}
    assert projects.diff("p", olds, dict(PROJECT)).changes is False
    assert projects.diff("p", olds, {**PROJECT, "pg_version": 17}).replaces == ["pg_version"]
    assert projects.diff("p", olds, {**PROJECT, "region_id": "aws-eu-central-1"}).replaces == [
        "region_id"
    ]
    renamed = projects.diff("p", olds, {**PROJECT, "name": "other"})
    assert (renamed.changes, renamed.replaces) == (True, [])


def test_role_and_database_with_the_owners_uri(
    project: dict[str, Any], fake: FakeNeon, waits: list[float]
) -> None:
    roles = provider(RoleProvider, fake, waits)
    databases = provider(DatabaseProvider, fake, waits)
    where = {"project_id": project["id"], "branch_id": project["branch_id"]}
    role = roles.create({**where, "name": "accounts"})
    assert role.id == f"{project['id']}/{project['branch_id']}/accounts"
    assert role.outs["password"]
    assert roles.read(role.id, role.outs).outs == role.outs
    database = databases.create({**where, "name": "accounts", "owner": "accounts"})
    assert database.outs["uri"].startswith(f"postgresql://accounts:{role.outs['password']}@")
    assert databases.read(database.id, database.outs).outs == database.outs
    assert databases.diff(
        database.id, database.outs, {**where, "name": "other", "owner": "accounts"}
    ).replaces == ["name"]
    other = roles.create({**where, "name": "admin"})
    moved = databases.diff(
        database.id, database.outs, {**where, "name": "accounts", "owner": "admin"}
    )
    assert (moved.changes, moved.replaces) == (True, [])
    updated = databases.update(
        database.id, database.outs, {**where, "name": "accounts", "owner": "admin"}
    )
    assert updated.outs["uri"].startswith(f"postgresql://admin:{other.outs['password']}@")
    assert roles.diff(role.id, role.outs, {**where, "name": "renamed"}).replaces == ["name"]
    databases.delete(database.id, updated.outs)
    roles.delete(role.id, role.outs)
    assert databases.read(database.id, updated.outs).id == ""
    assert roles.read(role.id, role.outs).id == ""


def test_concurrent_creates_on_one_project_wait_out_423(
    project: dict[str, Any], fake: FakeNeon, waits: list[float]
) -> None:
    roles = provider(RoleProvider, fake, waits)
    fake.fail_next(error(423, "project already has running operations"), method="POST", times=2)
    roles.create({"project_id": project["id"], "branch_id": project["branch_id"], "name": "app"})
    assert len(fake.calls("POST", "/roles")) == 3


def test_a_failed_operation_fails_the_create(projects: ProjectProvider, fake: FakeNeon) -> None:
    fake.fail_action = "start_compute"
    with pytest.raises(ApiError, match=r"operation start_compute on project .* ended failed"):
        projects.create(dict(PROJECT))


def test_the_plans_project_limit_is_a_quota_error(
    projects: ProjectProvider, fake: FakeNeon
) -> None:
    fake.project_limit = 1
    projects.create(dict(PROJECT))
    with pytest.raises(QuotaError, match="PROJECTS_LIMIT_EXCEEDED"):
        projects.create(dict(PROJECT))


def test_a_bad_key_is_an_auth_error(fake: FakeNeon, waits: list[float]) -> None:
    projects = provider(ProjectProvider, fake, waits, token="revoked")
    with pytest.raises(AuthError, match="Neon refused the token"):
        projects.create(dict(PROJECT))


def test_no_key_says_how_to_set_it(fake: FakeNeon) -> None:
    projects = ProjectProvider(fake.url + "/api/v2")
    projects.configure(ConfigureRequest(Config({}, "deploykit")))
    with pytest.raises(ConfigError, match="deploykit:neonApiKey"):
        projects.create(dict(PROJECT))


def test_429_then_5xx_on_reads_are_retried(
    projects: ProjectProvider, project: dict[str, Any], fake: FakeNeon, waits: list[float]
) -> None:
    waits.clear()
    fake.fail_next(json_reply(429, {"code": "", "message": "rate limited"}, **{"Retry-After": "2"}))
    fake.fail_next(error(503, "unavailable"))
    outs = {k: v for k, v in project.items() if k != "id"}
    assert projects.read(project["id"], outs).outs["name"] == "acme"
    assert waits == [2.0, 1.0]


def test_a_5xx_on_a_write_is_reported_not_retried(
    projects: ProjectProvider, project: dict[str, Any], fake: FakeNeon
) -> None:
    fake.fail_next(error(500, "internal error"), method="PATCH")
    outs = {k: v for k, v in project.items() if k != "id"}
    with pytest.raises(ApiError, match=r"PATCH /projects/.* failed with 500: internal error"):
        projects.update(project["id"], outs, {**PROJECT, "name": "renamed"})
    assert len(fake.calls("PATCH")) == 1
