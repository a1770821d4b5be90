"""Railway dynamic providers against the local fake of Railway's GraphQL API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pulumi.dynamic import Config, ConfigureRequest

from components.small.railway import ProjectProvider, ServiceProvider
from deploykit.saas import ApiError, AuthError
from deploykit.testing.fakes.railway import FakeRailway
from deploykit.testing.fakes.server import json_reply

PROJECT = {"name": "acme", "workspace_id": "ws-1", "environment": "production"}
VARIABLES = {
    "NATS_URL": "tls://connect.ngs.global",
    "NATS_CREDS": "--creds--",
    "DEPLOYKIT_SERVICE": "accounts",
}


@pytest.fixture
def fake() -> Iterator[FakeRailway]:
    with FakeRailway(extra_environments=2) as server:
        yield server


@pytest.fixture
def waits() -> list[float]:
    return []


def provider(cls: type, fake: FakeRailway, waits: list[float], token: str | None = None) -> Any:
    instance = cls(fake.url + "/graphql/v2", {"sleep": waits.append, "page_size": 1})
    key = {"deploykit:railwayToken": token or fake.token}
    instance.configure(ConfigureRequest(Config(key, "deploykit")))
    return instance


@pytest.fixture
def projects(fake: FakeRailway, waits: list[float]) -> ProjectProvider:
    return provider(ProjectProvider, fake, waits)


@pytest.fixture
def services(fake: FakeRailway, waits: list[float]) -> ServiceProvider:
    return provider(ServiceProvider, fake, waits)


@pytest.fixture
def project(projects: ProjectProvider) -> dict[str, Any]:
    created = projects.create(dict(PROJECT))
    return {"id": created.id, **created.outs}


def service_props(project: dict[str, Any], **changes: Any) -> dict[str, Any]:
    props = {
        "project_id": project["id"],
        "environment_id": project["environment_id"],
        "name": "accounts",
        "image": "ghcr.io/acme/accounts:1",
        "region": "us-west2",
        "replicas": 2,
        "variables": dict(VARIABLES),
    }
    return {**props, **changes}


def test_project_create_read_update_delete(projects: ProjectProvider, fake: FakeRailway) -> None:
    created = projects.create(dict(PROJECT))
    environment = fake.environments[created.outs["environment_id"]]
    assert (environment["name"], environment["projectId"]) == ("production", created.id)
    assert projects.read(created.id, created.outs).outs == created.outs  # found on the third page
    assert projects.diff(
        created.id, created.outs, {**PROJECT, "environment": "staging"}
    ).replaces == ["environment"]
    renamed = projects.diff(created.id, created.outs, {**PROJECT, "name": "acme2"})
    assert (renamed.changes, renamed.replaces) == (True, [])
    updated = projects.update(created.id, created.outs, {**PROJECT, "name": "acme2"})
    assert fake.projects[created.id]["name"] == "acme2"
    assert updated.outs["environment_id"] == created.outs["environment_id"]
    projects.delete(created.id, updated.outs)
    assert projects.read(created.id, updated.outs).id == ""


def test_service_create_deploys_image_replicas_and_variables(
    services: ServiceProvider, project: dict[str, Any], fake: FakeRailway
) -> None:
    created = services.create(service_props(project))
    key = (project["environment_id"], created.id)
    assert fake.instances[key]["multiRegionConfig"] == {"us-west2": {"numReplicas": 2}}
    assert fake.instances[key]["source"] == {"image": "ghcr.io/acme/accounts:1"}
    assert fake.variables[key] == VARIABLES
    assert created.outs["deployment_id"] in fake.deployments
    read = services.read(created.id, created.outs)
    assert read.outs == created.outs  # RAILWAY_* variables Railway adds are not drift
    assert (read.outs["region"], read.outs["replicas"]) == ("us-west2", 2)  # as deployed


def test_service_diff_replaces_on_project_or_environment_only(
    services: ServiceProvider, project: dict[str, Any]
) -> None:
    olds = {**service_props(project), "deployment_id": "d1"}
    assert services.diff("s", olds, service_props(project)).changes is False
    assert services.diff("s", olds, service_props(project, environment_id="e2")).replaces == [
        "environment_id"
    ]
    for change in (
        {"image": "img:2"},
        {"replicas": 3},
        {"region": "europe-west4-drams3a"},
        {"name": "accounts2"},
        {"variables": {}},
    ):
        diff = services.diff("s", olds, service_props(project, **change))
        assert (diff.changes, diff.replaces) == (True, []), change


def test_service_update_changes_in_place_and_deploys_once(
    services: ServiceProvider, project: dict[str, Any], fake: FakeRailway
) -> None:
    created = services.create(service_props(project))
    fake.requests.clear()
    news = service_props(project, image="ghcr.io/acme/accounts:2", replicas=1, variables={"A": "1"})
    updated = services.update(created.id, created.outs, news)
    key = (project["environment_id"], created.id)
    assert fake.instances[key]["source"] == {"image": "ghcr.io/acme/accounts:2"}
    assert fake.instances[key]["multiRegionConfig"] == {"us-west2": {"numReplicas": 1}}
    assert fake.variables[key] == {"A": "1"}  # replaced, not merged
    deploys = [r for r in fake.requests if "serviceInstanceDeployV2" in r.json()["query"]]
    assert len(deploys) == 1
    assert updated.outs["deployment_id"] != created.outs["deployment_id"]
    renamed = services.update(created.id, updated.outs, {**news, "name": "ledger"})
    assert fake.services[created.id]["name"] == "ledger"
    assert (
        renamed.outs["deployment_id"] == updated.outs["deployment_id"]
    )  # a rename needs no deploy


def test_a_region_change_moves_the_replicas(
    services: ServiceProvider, project: dict[str, Any], fake: FakeRailway
) -> None:
    created = services.create(service_props(project))
    moved = service_props(project, region="europe-west4-drams3a")
    updated = services.update(created.id, created.outs, moved)
    key = (project["environment_id"], created.id)
    assert fake.instances[key]["multiRegionConfig"] == {"europe-west4-drams3a": {"numReplicas": 2}}
    assert services.read(created.id, updated.outs).outs["region"] == "europe-west4-drams3a"


def test_service_delete_then_read_is_gone(
    services: ServiceProvider, project: dict[str, Any], fake: FakeRailway
) -> None:
    created = services.create(service_props(project))
    services.delete(created.id, created.outs)
    assert created.id not in fake.services
    assert services.read(created.id, created.outs).id == ""


def test_a_crashing_image_fails_the_create(
    services: ServiceProvider, project: dict[str, Any]
) -> None:
    with pytest.raises(ApiError, match="ended CRASHED"):
        services.create(service_props(project, image="ghcr.io/acme/crash:1"))


def test_a_bad_token_is_an_auth_error(fake: FakeRailway, waits: list[float]) -> None:
    projects = provider(ProjectProvider, fake, waits, token="revoked")
    with pytest.raises(AuthError, match="deploykit:railwayToken"):
        projects.create(dict(PROJECT))


def test_429_is_retried_and_5xx_only_for_queries(
    projects: ProjectProvider, fake: FakeRailway, waits: list[float]
) -> None:
    fake.fail_next(json_reply(429, {"message": "rate limited"}, **{"Retry-After": "6"}))
    created = projects.create(dict(PROJECT))
    assert waits == [6.0]
    fake.fail_next(json_reply(503, {"message": "unavailable"}))
    fake.fail_next(json_reply(502, {"message": "bad gateway"}))
    assert projects.read(created.id, created.outs).id == created.id
    fake.fail_next(json_reply(502, {"message": "bad gateway"}))
    with pytest.raises(ApiError, match="POST /graphql/v2 failed with 502"):
        projects.update(created.id, created.outs, {**PROJECT, "name": "renamed"})
    assert fake.projects[created.id]["name"] == "acme"


def test_replicas_the_engine_hands_over_as_floats_are_sent_as_ints(
    services: ServiceProvider, project: dict[str, Any], fake: FakeRailway
) -> None:
    """GraphQL's Int refuses 2.0, which is how the engine passes 2 (protobuf doubles)."""
    created = services.create(service_props(project, replicas=2.0))
    key = (project["environment_id"], created.id)
    assert fake.instances[key]["multiRegionConfig"] == {"us-west2": {"numReplicas": 2}}


def test_an_update_removes_regions_added_by_hand(
    services: ServiceProvider, project: dict[str, Any], fake: FakeRailway
) -> None:
    created = services.create(service_props(project))
    key = (project["environment_id"], created.id)
    fake.instances[key]["multiRegionConfig"]["asia-southeast1-eqsg3a"] = {"numReplicas": 1}
    fake.instances[key]["latestDeployment"]["meta"]["serviceManifest"]["deploy"] = {
        "multiRegionConfig": dict(fake.instances[key]["multiRegionConfig"])
    }
    drifted = services.read(created.id, created.outs).outs
    assert (drifted["region"], drifted["replicas"]) == (None, None)  # two regions: drift
    services.update(created.id, drifted, service_props(project))
    assert fake.instances[key]["multiRegionConfig"] == {"us-west2": {"numReplicas": 2}}


JOB = {"cron_schedule": "0 3 * * *", "start_command": "/bin/sh -c 'exec deploykit backup'"}


def test_a_cron_job_is_created_read_back_and_rescheduled(
    services: ServiceProvider, project: dict[str, Any], fake: FakeRailway
) -> None:
    created = services.create(service_props(project, name="deploykit-backup", replicas=1, **JOB))
    instance = fake.instances[(project["environment_id"], created.id)]
    assert (instance["cronSchedule"], instance["startCommand"]) == tuple(JOB.values())
    assert services.read(created.id, created.outs).outs == created.outs
    news = {**created.outs, "cron_schedule": "30 4 * * 1-5"}
    diff = services.diff(created.id, created.outs, news)
    assert (diff.changes, diff.replaces) == (True, [])
    updated = services.update(created.id, created.outs, news)
    assert instance["cronSchedule"] == "30 4 * * 1-5"
    assert updated.outs["deployment_id"] != created.outs["deployment_id"]


def test_a_plain_service_sends_no_cron_schedule(
    services: ServiceProvider, project: dict[str, Any], fake: FakeRailway
) -> None:
    created = services.create(service_props(project))
    instance = fake.instances[(project["environment_id"], created.id)]
    assert "cronSchedule" not in instance and "startCommand" not in instance
    assert "cron_schedule" not in services.read(created.id, created.outs).outs


@pytest.mark.parametrize(
    ("schedule", "words"),
    [
        ("*/2 * * * *", "at most every 5 minutes"),
        ("0 3 * *", "of 5 fields"),
        ("0 24 * * *", "hour 24: outside 0-23"),
    ],
)
def test_the_fake_refuses_cron_schedules_railway_refuses(
    services: ServiceProvider, project: dict[str, Any], schedule: str, words: str
) -> None:
    props = service_props(project, **{**JOB, "cron_schedule": schedule})
    with pytest.raises(ApiError, match=words):
        services.create(props)
