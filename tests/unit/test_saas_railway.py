"""The Railway client against the local fake of Railway's public GraphQL API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deploykit.errors import ConfigError
from deploykit.saas import ApiError, AuthError, NotFound
from deploykit.saas.railway import RailwayClient
from deploykit.testing.fakes.railway import FakeRailway
from deploykit.testing.fakes.server import json_reply


@pytest.fixture
def fake() -> Iterator[FakeRailway]:
    with FakeRailway(extra_environments=3) as server:
        yield server


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def client(fake: FakeRailway, waits: list[float]) -> Iterator[RailwayClient]:
    url = fake.url + "/graphql/v2"
    with RailwayClient(fake.token, url, sleep=waits.append, page_size=2) as api:
        yield api


def test_project_with_named_environment(client: RailwayClient, fake: FakeRailway) -> None:
    project, environment = client.create_project("acme", "ws-1", "production")
    assert fake.environments[environment]["name"] == "production"
    sent = fake.requests[0].json()
    assert sent["variables"] == {
        "input": {"name": "acme", "defaultEnvironmentName": "production", "workspaceId": "ws-1"}
    }
    assert sent["query"].startswith("mutation ProjectCreate(")
    assert fake.requests[0].headers["authorization"] == f"Bearer {fake.token}"
    assert client.get_project(project.id).name == "acme"


def test_environment_lookup_reads_every_page(client: RailwayClient, fake: FakeRailway) -> None:
    project, environment = client.create_project("acme", "", "production")
    fake.requests.clear()
    assert client.environment_id(project.id, "production") == environment
    pages = [r.json()["variables"]["after"] for r in fake.requests]
    assert pages == [None, "2"]
    assert client.environment_id(project.id, "staging") is None


def test_service_from_image_with_replicas_variables_and_a_deployment(
    client: RailwayClient, fake: FakeRailway, waits: list[float]
) -> None:
    project, environment = client.create_project("acme", "", "production")
    service = client.create_service(project.id, environment, "accounts", "ghcr.io/acme/accounts:1")
    client.update_instance(environment, service.id, "ghcr.io/acme/accounts:1", {"us-west2": 2})
    client.set_variables(project.id, environment, service.id, {"NATS_URL": "tls://x", "A": "1"})
    deployment = client.deploy(environment, service.id)
    assert fake.deployments[deployment]["steps"] == ["SUCCESS"]
    assert waits == [5.0, 5.0, 5.0]
    instance = client.get_instance(environment, service.id)
    assert (instance.regions(), instance.source and instance.source.image) == (
        {"us-west2": 2},
        "ghcr.io/acme/accounts:1",
    )
    variables = client.get_variables(project.id, environment, service.id)
    assert variables["NATS_URL"] == "tls://x"
    assert variables["RAILWAY_SERVICE_NAME"] == "accounts"
    upsert = next(r for r in fake.requests if "variableCollectionUpsert" in r.json()["query"])
    assert upsert.json()["variables"]["input"]["replace"] is True
    assert upsert.json()["variables"]["input"]["skipDeploys"] is True


def test_replicas_move_between_regions_the_old_one_removed(
    client: RailwayClient, fake: FakeRailway
) -> None:
    project, environment = client.create_project("acme", "", "production")
    service = client.create_service(project.id, environment, "accounts", "img:1")
    client.update_instance(
        environment, service.id, "img:1", {"europe-west4-drams3a": 3, "us-west2": None}
    )
    client.deploy(environment, service.id)
    assert client.get_instance(environment, service.id).regions() == {"europe-west4-drams3a": 3}


def test_several_workspaces_need_a_workspace_id_and_say_which(fake: FakeRailway) -> None:
    """Failed before: the empty workspaceId gave the API's refusal alone, naming no setting."""
    with FakeRailway(workspaces=(("ws-1", "acme"), ("ws-2", "side"))) as several:
        with RailwayClient(several.token, several.url + "/graphql/v2", sleep=lambda _: None) as api:
            with pytest.raises(ConfigError) as refused:
                api.create_project("acme", "", "production")
            message = str(refused.value)
            assert "workspaceId is required" in message  # what the API said
            assert "deploykit:small.railway.workspaceId" in message
            assert "ws-1 (acme), ws-2 (side)" in message
            project, _ = api.create_project("acme", "ws-2", "production")
        assert several.projects[project.id]["workspaceId"] == "ws-2"


def test_a_crashing_deployment_is_an_error(client: RailwayClient) -> None:
    project, environment = client.create_project("acme", "", "production")
    service = client.create_service(project.id, environment, "bad", "ghcr.io/acme/crash:1")
    with pytest.raises(ApiError, match="ended CRASHED; read its logs"):
        client.deploy(environment, service.id)


def test_rename_and_delete(client: RailwayClient) -> None:
    project, environment = client.create_project("acme", "", "production")
    service = client.create_service(project.id, environment, "accounts", "img:1")
    assert client.rename_service(service.id, "accounts-v2").name == "accounts-v2"
    assert client.rename_project(project.id, "acme2").name == "acme2"
    client.delete_service(service.id)
    with pytest.raises(NotFound, match="Service not found"):
        client.get_service(service.id)
    client.delete_project(project.id)
    with pytest.raises(NotFound, match="Project not found"):
        client.get_project(project.id)


def test_a_bad_token_is_an_auth_error(fake: FakeRailway) -> None:
    with RailwayClient("nope", fake.url + "/graphql/v2") as api, pytest.raises(AuthError) as caught:
        api.get_project("p")
    assert "Railway refused the token" in str(caught.value)
    assert "Not Authorized" in str(caught.value)
    assert "deploykit:railwayToken" in str(caught.value)


def test_unknown_input_fields_are_refused(client: RailwayClient, fake: FakeRailway) -> None:
    project, environment = client.create_project("acme", "", "production")
    service = client.create_service(project.id, environment, "s", "img:1")
    with pytest.raises(ApiError, match="Environment not found"):
        client.create_service(project.id, "elsewhere", "s", "img:1")
    assert service.project_id == project.id


def test_429_is_retried_after_retry_after(
    client: RailwayClient, fake: FakeRailway, waits: list[float]
) -> None:
    fake.fail_next(json_reply(429, {"message": "rate limited"}, **{"Retry-After": "2"}))
    client.create_project("acme", "", "production")
    assert waits == [2.0]
    assert len(fake.projects) == 1


def test_5xx_retries_queries_but_not_mutations(
    client: RailwayClient, fake: FakeRailway, waits: list[float]
) -> None:
    project, _ = client.create_project("acme", "", "production")
    fake.fail_next(json_reply(504, {"message": "gateway timeout"}))
    assert client.get_project(project.id).name == "acme"
    assert waits == [0.5]
    fake.fail_next(json_reply(502, {"message": "bad gateway"}))
    with pytest.raises(ApiError, match="POST /graphql/v2 failed with 502: bad gateway"):
        client.rename_project(project.id, "other")
    assert fake.projects[project.id]["name"] == "acme"
