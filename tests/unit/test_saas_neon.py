"""The Neon client against the local fake of Neon API v2 (asynchronous operations included)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deploykit.saas import ApiError, AuthError, NotFound, QuotaError
from deploykit.saas.neon import NeonClient
from deploykit.testing.fakes.neon import FakeNeon, error
from deploykit.testing.fakes.server import json_reply


@pytest.fixture
def fake() -> Iterator[FakeNeon]:
    with FakeNeon() as server:
        yield server


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def client(fake: FakeNeon, waits: list[float]) -> Iterator[NeonClient]:
    with NeonClient(fake.token, fake.url + "/api/v2", sleep=waits.append) as api:
        yield api


def test_project_creation_waits_for_its_operations(
    client: NeonClient, fake: FakeNeon, waits: list[float]
) -> None:
    created = client.create_project("acme", "aws-us-east-2", 16, "org-acme-1", "main")
    assert (created.project.name, created.project.pg_version, created.branch.name) == (
        "acme",
        16,
        "main",
    )
    assert all(op["status"] == "finished" for op in fake.operations.values())
    polls = fake.calls("GET", "/operations/")
    assert len(polls) == 3  # running → finished; scheduling → running → finished
    assert waits == [0.5, 0.5, 0.5]
    (create,) = fake.calls("POST", "/projects")
    assert create.json() == {
        "project": {
            "name": "acme",
            "region_id": "aws-us-east-2",
            "pg_version": 16,
            "org_id": "org-acme-1",
            "branch": {"name": "main"},
        }
    }
    assert created.connection_uris[0].connection_parameters.role == "neondb_owner"


def test_org_id_is_sent_only_when_set(client: NeonClient, fake: FakeNeon) -> None:
    client.create_project("acme", "aws-us-east-2", 16, "org-cold-1", "main")
    assert fake.calls("POST", "/projects")[0].json()["project"]["org_id"] == "org-cold-1"


def test_a_personal_key_must_name_the_organization(fake: FakeNeon) -> None:
    with (
        NeonClient(fake.token, fake.url + "/api/v2", sleep=lambda _: None) as client,
        pytest.raises(ApiError, match="org_id is required"),
    ):
        client.create_project("acme", "aws-us-east-2", 16, "", "main")
    assert fake.projects == {}


def test_an_organization_key_implies_the_organization() -> None:
    with (
        FakeNeon(key="organization") as fake,
        NeonClient(fake.token, fake.url + "/api/v2", sleep=lambda _: None) as client,
    ):
        created = client.create_project("acme", "aws-us-east-2", 16, "", "main")
    assert "org_id" not in fake.calls("POST", "/projects")[0].json()["project"]
    assert created.project.org_id == "org-fake-1"


def test_deleting_what_is_already_gone_is_done(client: NeonClient) -> None:
    """Neon answers 204 with no body then; failed before: the client parsed the empty body."""
    created = client.create_project("acme", "aws-us-east-2", 16, "org-acme-1", "main")
    project, branch = created.project.id, created.branch.id
    client.create_role(project, branch, "app")
    client.create_database(project, branch, "app", "app")
    for _ in range(2):
        client.delete_database(project, branch, "app")
        client.delete_role(project, branch, "app")


def test_role_database_and_uri(client: NeonClient) -> None:
    created = client.create_project("acme", "aws-us-east-2", 16, "org-acme-1", "main")
    project, branch = created.project.id, created.branch.id
    role = client.create_role(project, branch, "accounts")
    assert role.password
    database = client.create_database(project, branch, "accounts", "accounts")
    assert database.owner_name == "accounts"
    uri = client.connection_uri(project, branch, "accounts", "accounts")
    assert uri.startswith(f"postgresql://accounts:{role.password}@")
    assert uri.endswith("/accounts")  # as Neon answers: no query string
    assert client.get_database(project, branch, "accounts").name == "accounts"
    assert client.get_role(project, branch, "accounts").password is None


def test_updates_rename_and_change_owner(client: NeonClient) -> None:
    created = client.create_project("acme", "aws-us-east-2", 16, "org-acme-1", "main")
    project, branch = created.project.id, created.branch.id
    assert client.rename_project(project, "acme-prod").name == "acme-prod"
    assert client.get_project(project).name == "acme-prod"
    assert client.rename_branch(project, branch, "production").name == "production"
    client.create_role(project, branch, "app")
    client.create_database(project, branch, "app", "neondb_owner")
    assert client.set_database_owner(project, branch, "app", "app").owner_name == "app"


def test_deletes_then_reads_are_not_found(client: NeonClient) -> None:
    created = client.create_project("acme", "aws-us-east-2", 16, "org-acme-1", "main")
    project, branch = created.project.id, created.branch.id
    client.create_role(project, branch, "app")
    client.create_database(project, branch, "app", "app")
    client.delete_database(project, branch, "app")
    client.delete_role(project, branch, "app")
    with pytest.raises(NotFound):
        client.get_database(project, branch, "app")
    with pytest.raises(NotFound):
        client.get_role(project, branch, "app")
    client.delete_project(project)
    with pytest.raises(NotFound, match=r"Neon: GET /projects/.*project not found"):
        client.get_project(project)


def test_locked_project_is_retried(client: NeonClient, fake: FakeNeon, waits: list[float]) -> None:
    created = client.create_project("acme", "aws-us-east-2", 16, "org-acme-1", "main")
    waits.clear()
    fake.fail_next(error(423, "project already has running operations"), method="POST")
    client.create_role(created.project.id, created.branch.id, "app")
    assert waits[0] == 0.5  # the backoff before the retried POST
    assert len(fake.calls("POST", "/roles")) == 2


def test_failed_operation_is_an_error(client: NeonClient, fake: FakeNeon) -> None:
    fake.fail_action = "start_compute"
    with pytest.raises(ApiError, match=r"operation start_compute .* ended failed: compute failed"):
        client.create_project("acme", "aws-us-east-2", 16, "org-acme-1", "main")


def test_quota_names_the_limit_and_what_to_do(fake: FakeNeon, client: NeonClient) -> None:
    fake.project_limit = 0
    with pytest.raises(QuotaError) as caught:
        client.create_project("acme", "aws-us-east-2", 16, "org-acme-1", "main")
    assert "PROJECTS_LIMIT_EXCEEDED: user projects limit of 0 exceeded" in str(caught.value)
    assert "upgrade the plan" in str(caught.value)


def test_a_bad_key_says_where_to_get_a_good_one(fake: FakeNeon) -> None:
    with NeonClient("nope", fake.url + "/api/v2") as api, pytest.raises(AuthError) as caught:
        api.get_project("fake-project-0001")
    assert "Neon refused the token (401" in str(caught.value)
    assert "deploykit:neonApiKey" in str(caught.value)


def test_429_honours_retry_after(client: NeonClient, fake: FakeNeon, waits: list[float]) -> None:
    fake.fail_next(json_reply(429, {"code": "", "message": "rate limit"}, **{"Retry-After": "3"}))
    created = client.create_project("acme", "aws-us-east-2", 16, "org-acme-1", "main")
    assert waits[0] == 3.0
    assert created.project.name == "acme"


def test_5xx_read_is_retried_write_is_not(
    client: NeonClient, fake: FakeNeon, waits: list[float]
) -> None:
    created = client.create_project("acme", "aws-us-east-2", 16, "org-acme-1", "main")
    waits.clear()
    fake.fail_next(error(500, "internal"), method="GET")
    assert client.get_project(created.project.id).name == "acme"
    assert waits == [0.5]
    fake.fail_next(error(502, "bad gateway"), method="PATCH")
    with pytest.raises(ApiError, match=r"PATCH /projects/.* failed with 502"):
        client.rename_project(created.project.id, "other")
    assert client.get_project(created.project.id).name == "acme"
