"""The Vercel client against the local fake of Vercel's REST API."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from deploykit.saas import ApiError, AuthError, NotFound
from deploykit.saas.vercel import VercelClient, sha1
from deploykit.testing.fakes.vercel import FakeVercel

FILES = {"api/index.py": b"app = None\n", "vercel.json": b"{}\n", "requirements.txt": b""}


@pytest.fixture
def fake() -> Iterator[FakeVercel]:
    with FakeVercel(team="acme-team") as server:
        yield server


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def client(fake: FakeVercel, waits: list[float]) -> Iterator[VercelClient]:
    with VercelClient(fake.token, fake.url, team="acme-team", sleep=waits.append) as api:
        yield api


def test_a_deployment_uploads_every_file_then_waits_until_ready(
    client: VercelClient, fake: FakeVercel, waits: list[float]
) -> None:
    project = client.create_project("acme-gateway", None)
    deployment = client.deploy(project, FILES, framework=None)
    assert deployment.ready_state == "READY"
    assert deployment.public_url == "https://acme-gateway.vercel.app"
    uploads = fake.calls("POST", "/v2/files")
    assert {r.headers["x-vercel-digest"] for r in uploads} == {sha1(b) for b in FILES.values()}
    assert all(r.query == {"slug": "acme-team"} for r in fake.requests)
    sent = fake.calls("POST", "/v13/deployments")[0].json()
    assert sent["project"] == project.id and sent["target"] == "production"
    assert {f["file"]: f["size"] for f in sent["files"]} == {p: len(b) for p, b in FILES.items()}
    assert fake.deployments[deployment.id]["files"] == FILES
    assert waits == [5.0]  # created QUEUED, polled BUILDING, then READY


def test_the_fake_refuses_a_deployment_of_files_never_uploaded(fake: FakeVercel) -> None:
    """What Vercel answers (vercel/vercel packages/client/src/upload.ts): the client must upload
    first, or it gets this."""
    with httpx.Client(base_url=fake.url) as http:
        response = http.post(
            "/v13/deployments",
            params={"slug": "acme-team"},
            headers={"Authorization": f"Bearer {fake.token}"},
            json={"name": "x", "files": [{"file": "a", "sha": sha1(b"a"), "size": 1}]},
        )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "missing_files"
    assert response.json()["error"]["missing"] == [sha1(b"a")]


def test_a_failed_build_is_an_error_that_says_where_to_look(
    client: VercelClient, fake: FakeVercel
) -> None:
    fake.fail_builds = True
    project = client.create_project("acme-gateway", None)
    with pytest.raises(ApiError, match=r"ended ERROR \(Build failed\); read its build logs"):
        client.deploy(project, FILES, framework=None)


def test_a_deployment_that_never_gets_ready_times_out(fake: FakeVercel) -> None:
    with VercelClient(
        fake.token, fake.url, team="acme-team", sleep=lambda _: None, poll_limit=1
    ) as api:
        project = api.create_project("acme-gateway", None)
        with pytest.raises(ApiError, match="is not READY after 5s"):
            api.deploy(project, FILES, framework=None)


def test_variables_are_sensitive_for_production_and_preview_and_replaced(
    client: VercelClient, fake: FakeVercel
) -> None:
    project = client.create_project("acme-gateway", None)
    client.set_variables(project.id, {"NATS_CREDS": "one"})
    client.set_variables(project.id, {"NATS_CREDS": "two"})  # upsert: no ENV_CONFLICT
    [variable] = fake.projects[project.id]["env"]
    assert variable["value"] == "two" and variable["type"] == "sensitive"
    assert variable["target"] == ["production", "preview"]


def test_project_names_and_conflicts_are_refused_as_vercel_does(client: VercelClient) -> None:
    with pytest.raises(ApiError, match="must be lowercase"):
        client.create_project("Acme-Gateway", None)
    client.create_project("acme-gateway", None)
    with pytest.raises(ApiError, match="409: conflict: A project with the name acme-gateway"):
        client.create_project("acme-gateway", None)


def test_a_deleted_project_is_an_empty_204_then_not_found(client: VercelClient) -> None:
    project = client.create_project("acme-gateway", None)
    client.delete_project(project.id)
    with pytest.raises(NotFound):
        client.get_project(project.id)


def test_a_refused_token_says_how_to_set_one(fake: FakeVercel) -> None:
    with (
        VercelClient("wrong", fake.url, team="acme-team") as api,
        pytest.raises(AuthError) as caught,
    ):
        api.get_project("acme-gateway")
    assert "deploykit:vercelToken" in str(caught.value)
    assert "wrong" not in str(caught.value)


def test_a_personal_scope_is_refused_for_a_team_token(fake: FakeVercel) -> None:
    with VercelClient(fake.token, fake.url) as api, pytest.raises(AuthError):
        api.create_project("acme-gateway", None)
