"""Railway public GraphQL API client: a project and environment, services from images, variables.

Built against Railway's public API reference (railwayapp/docs `src/docs/reference/public-api.md`:
`POST https://backboard.railway.com/graphql/v2`, `Authorization: Bearer <account or workspace
token>`, 429 with `Retry-After` when throttled) and the schema the official CLI ships
(railwayapp/cli `src/gql/schema.json`, its `mutations/strings/*.graphql`), cross-checked with
terraform-community-providers/terraform-provider-railway `internal/provider/*.graphql`:
- `projectCreate(input: ProjectCreateInput{name, workspaceId, defaultEnvironmentName})`,
  `projectUpdate(id, input: {name})`, `projectDelete(id): Boolean`.
- `environments(projectId, first, after)` is a Relay connection (edges/pageInfo).
- `serviceCreate(input: ServiceCreateInput{projectId, environmentId, name, source: {image}})`,
  `serviceUpdate(id, input: {name})`, `serviceDelete(id): Boolean`.
- `serviceInstanceUpdate(serviceId, environmentId, input: {source: {image}, multiRegionConfig})`:
  replicas are set per region, `multiRegionConfig: {<region>: {numReplicas: n}}`, a region set
  to null is removed, as the official CLI scales (railwayapp/cli commit df3838bf, 2026-08-21,
  `src/commands/scale.rs` build_multi_region_patch) and the terraform provider writes them
  (terraform-community-providers/terraform-provider-railway commit b1cd755c,
  `internal/provider/resource_service.go` buildServiceInstanceInput). `numReplicas` alone is the
  legacy single-region field. Both read them back from the latest deployment:
  `serviceInstance { latestDeployment { meta } }`, `meta.serviceManifest.deploy.multiRegionConfig`
  (resource_service.go getRegionsFromLatestDeployment; CLI `src/controllers/regions.rs`).
- `projectCreate` takes an optional `workspaceId`; the CLI asks for one when the user has
  several workspaces (`src/commands/init.rs` prompt_workspace) and lists them from
  `me { workspaces { id name } }` (schema: User.workspaces).
- `variableCollectionUpsert(input: {projectId, environmentId, serviceId, variables, replace,
  skipDeploys})`; `variables(projectId, environmentId, serviceId)` is a JSON map.
- `ServiceInstanceUpdateInput.cronSchedule` (String) makes a service a cron job: five fields,
  UTC, at least 5 minutes between runs (railwayapp/docs `src/docs/reference/cron-jobs.md`);
  `startCommand` replaces the image's command; both read back on `serviceInstance`.
- `serviceInstanceDeployV2(serviceId, environmentId): String` returns a deployment id;
  `deployment(id){status}` ends in SUCCESS, or FAILED | CRASHED | REMOVED | SKIPPED.
- Domain errors come as HTTP 200 with `errors[]`: "Not Authorized", "Project not found", ...
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from deploykit.errors import ConfigError
from deploykit.saas.http import ApiError, AuthError, HttpClient, Service

__all__ = ["DEFAULT_URL", "RAILWAY", "Instance", "Project", "RailwayClient", "RailwayService"]

DEFAULT_URL = "https://backboard.railway.com/graphql/v2"
RAILWAY = Service(
    "Railway",
    "Create an account or workspace token at https://railway.com/account/tokens and set it with "
    "`pulumi config set --secret deploykit:railwayToken <token>`.",
)
FAILED_STATES = frozenset({"FAILED", "CRASHED", "REMOVED", "SKIPPED"})

PROJECT_CREATE = """
mutation ProjectCreate($input: ProjectCreateInput!) {
  projectCreate(input: $input) { id name environments { edges { node { id name } } } }
}"""
PROJECT = "query Project($id: String!) { project(id: $id) { id name } }"
PROJECT_UPDATE = """
mutation ProjectUpdate($id: String!, $input: ProjectUpdateInput!) {
  projectUpdate(id: $id, input: $input) { id name }
}"""
PROJECT_DELETE = "mutation ProjectDelete($id: String!) { projectDelete(id: $id) }"
ENVIRONMENTS = """
query Environments($projectId: String!, $first: Int, $after: String) {
  environments(projectId: $projectId, first: $first, after: $after) {
    edges { node { id name } } pageInfo { hasNextPage endCursor }
  }
}"""
SERVICE_CREATE = """
mutation ServiceCreate($input: ServiceCreateInput!) {
  serviceCreate(input: $input) { id name projectId }
}"""
SERVICE = "query Service($id: String!) { service(id: $id) { id name projectId } }"
SERVICE_UPDATE = """
mutation ServiceUpdate($id: String!, $input: ServiceUpdateInput!) {
  serviceUpdate(id: $id, input: $input) { id name projectId }
}"""
SERVICE_DELETE = "mutation ServiceDelete($id: String!) { serviceDelete(id: $id) }"
INSTANCE = """
query ServiceInstance($environmentId: String!, $serviceId: String!) {
  serviceInstance(environmentId: $environmentId, serviceId: $serviceId) {
    source { image } latestDeployment { meta }
  }
}"""
WORKSPACES = "query Workspaces { me { workspaces { id name } } }"
INSTANCE_UPDATE = """
mutation ServiceInstanceUpdate($serviceId: String!, $environmentId: String, $input: ServiceInstanceUpdateInput!) {
  serviceInstanceUpdate(serviceId: $serviceId, environmentId: $environmentId, input: $input)
}"""
VARIABLES_UPSERT = """
mutation VariableCollectionUpsert($input: VariableCollectionUpsertInput!) {
  variableCollectionUpsert(input: $input)
}"""
VARIABLES = """
query Variables($projectId: String!, $environmentId: String!, $serviceId: String) {
  variables(projectId: $projectId, environmentId: $environmentId, serviceId: $serviceId)
}"""
DEPLOY = """
mutation ServiceInstanceDeploy($environmentId: String!, $serviceId: String!) {
  serviceInstanceDeployV2(environmentId: $environmentId, serviceId: $serviceId)
}"""
DEPLOYMENT = "query Deployment($id: String!) { deployment(id: $id) { id status } }"


class _Response(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Project(_Response):
    id: str
    name: str


class RailwayService(_Response):
    id: str
    name: str
    project_id: str = Field(alias="projectId")


class Source(_Response):
    image: str | None = None


class LatestDeployment(_Response):
    meta: dict[str, Any] | None = None


class Instance(_Response):
    source: Source | None = None
    cron_schedule: str | None = Field(None, alias="cronSchedule")
    start_command: str | None = Field(None, alias="startCommand")
    latest_deployment: LatestDeployment | None = Field(None, alias="latestDeployment")

    def regions(self) -> dict[str, int]:
        """Region → replicas of the latest deployment; empty before the first one."""
        meta = (self.latest_deployment.meta if self.latest_deployment else None) or {}
        config = meta.get("serviceManifest", {}).get("deploy", {}).get("multiRegionConfig") or {}
        return {
            region: int(value["numReplicas"])
            for region, value in config.items()
            if isinstance(value, dict) and "numReplicas" in value
        }


class RailwayClient:
    """The GraphQL operations deploykit sends to Railway, one method each."""

    def __init__(
        self,
        token: str,
        base_url: str = DEFAULT_URL,
        *,
        sleep: Callable[[float], None] = time.sleep,
        poll_interval: float = 5.0,
        poll_limit: int = 180,
        page_size: int = 50,
    ) -> None:
        parts = urlsplit(base_url)
        self._path = parts.path
        self._http = HttpClient(
            RAILWAY,
            f"{parts.scheme}://{parts.netloc}",
            {"Authorization": f"Bearer {token}"},
            sleep=sleep,
        )
        self._sleep = sleep
        self._poll_interval = poll_interval
        self._poll_limit = poll_limit
        self._page_size = page_size

    def __enter__(self) -> RailwayClient:
        return self

    def __exit__(self, *_: object) -> None:
        self._http.close()

    def create_project(self, name: str, workspace_id: str, environment: str) -> tuple[Project, str]:
        """A project whose first environment is named `environment`; (project, environment id)."""
        project_input: dict[str, Any] = {"name": name, "defaultEnvironmentName": environment}
        if workspace_id:
            project_input["workspaceId"] = workspace_id
        try:
            data = self._mutate("projectCreate", PROJECT_CREATE, {"input": project_input})
        except AuthError:
            raise
        except ApiError as exc:
            if workspace_id:
                raise
            raise ConfigError(
                f"{exc}\ndeploykit:small.railway.workspaceId is empty: set it to the Railway "
                f"workspace the project belongs in{self._workspaces_hint()}"
            ) from None
        environments = {e["node"]["name"]: e["node"]["id"] for e in data["environments"]["edges"]}
        if environment not in environments:
            raise ApiError(
                f"Railway: project {name!r} was created without an environment {environment!r} "
                f"(has: {', '.join(sorted(environments)) or 'none'})"
            )
        return Project.model_validate(data), environments[environment]

    def _workspaces_hint(self) -> str:
        """The workspaces the token sees, when it may read them (workspace tokens may not)."""
        try:
            workspaces = self._query("me", WORKSPACES, {})["workspaces"]
        except ApiError:
            return ""
        listed = ", ".join(f"{w['id']} ({w['name']})" for w in workspaces)
        return f"; this token sees {listed}" if listed else ""

    def get_project(self, project_id: str) -> Project:
        return Project.model_validate(self._query("project", PROJECT, {"id": project_id}))

    def rename_project(self, project_id: str, name: str) -> Project:
        variables = {"id": project_id, "input": {"name": name}}
        return Project.model_validate(self._mutate("projectUpdate", PROJECT_UPDATE, variables))

    def delete_project(self, project_id: str) -> None:
        self._mutate("projectDelete", PROJECT_DELETE, {"id": project_id})

    def environment_id(self, project_id: str, name: str) -> str | None:
        """The id of the project's environment called `name`, reading every page."""
        after: str | None = None
        while True:
            variables = {"projectId": project_id, "first": self._page_size, "after": after}
            page = self._query("environments", ENVIRONMENTS, variables)
            for edge in page["edges"]:
                if edge["node"]["name"] == name:
                    return str(edge["node"]["id"])
            if not page["pageInfo"]["hasNextPage"]:
                return None
            after = page["pageInfo"]["endCursor"]

    def create_service(
        self, project_id: str, environment_id: str, name: str, image: str
    ) -> RailwayService:
        service_input = {
            "projectId": project_id,
            "environmentId": environment_id,
            "name": name,
            "source": {"image": image},
        }
        data = self._mutate("serviceCreate", SERVICE_CREATE, {"input": service_input})
        return RailwayService.model_validate(data)

    def get_service(self, service_id: str) -> RailwayService:
        return RailwayService.model_validate(self._query("service", SERVICE, {"id": service_id}))

    def rename_service(self, service_id: str, name: str) -> RailwayService:
        variables = {"id": service_id, "input": {"name": name}}
        return RailwayService.model_validate(
            self._mutate("serviceUpdate", SERVICE_UPDATE, variables)
        )

    def delete_service(self, service_id: str) -> None:
        self._mutate("serviceDelete", SERVICE_DELETE, {"id": service_id})

    def get_instance(self, environment_id: str, service_id: str) -> Instance:
        variables = {"environmentId": environment_id, "serviceId": service_id}
        return Instance.model_validate(self._query("serviceInstance", INSTANCE, variables))

    def update_instance(
        self,
        environment_id: str,
        service_id: str,
        image: str,
        regions: Mapping[str, int | None],
        *,
        cron_schedule: str | None = None,
        start_command: str | None = None,
    ) -> None:
        """Set the image and the replicas per region; a region mapped to None is removed. A
        cron schedule (five fields, UTC, runs at least 5 minutes apart) makes it a job that
        Railway starts at those times; a start command replaces the image's."""
        config = {r: None if n is None else {"numReplicas": n} for r, n in regions.items()}
        instance: dict[str, Any] = {"source": {"image": image}, "multiRegionConfig": config}
        if cron_schedule is not None:
            instance["cronSchedule"] = cron_schedule
        if start_command is not None:
            instance["startCommand"] = start_command
        variables = {
            "serviceId": service_id,
            "environmentId": environment_id,
            "input": instance,
        }
        self._mutate("serviceInstanceUpdate", INSTANCE_UPDATE, variables)

    def set_variables(
        self,
        project_id: str,
        environment_id: str,
        service_id: str,
        variables: Mapping[str, str],
    ) -> None:
        """Replace the service's variables without deploying; `deploy` applies them once."""
        upsert = {
            "projectId": project_id,
            "environmentId": environment_id,
            "serviceId": service_id,
            "variables": dict(variables),
            "replace": True,
            "skipDeploys": True,
        }
        self._mutate("variableCollectionUpsert", VARIABLES_UPSERT, {"input": upsert})

    def get_variables(
        self, project_id: str, environment_id: str, service_id: str
    ) -> dict[str, str]:
        variables = {
            "projectId": project_id,
            "environmentId": environment_id,
            "serviceId": service_id,
        }
        return dict(self._query("variables", VARIABLES, variables))

    def deploy(self, environment_id: str, service_id: str) -> str:
        """Deploy the service's current settings and wait until it runs; the deployment id."""
        variables = {"environmentId": environment_id, "serviceId": service_id}
        deployment_id = str(self._mutate("serviceInstanceDeployV2", DEPLOY, variables))
        for _ in range(self._poll_limit):
            status = self._query("deployment", DEPLOYMENT, {"id": deployment_id})["status"]
            if status == "SUCCESS":
                return deployment_id
            if status in FAILED_STATES:
                raise ApiError(
                    f"Railway: deployment {deployment_id} of service {service_id} ended {status}; "
                    "read its logs in the Railway dashboard, fix the image or its variables, "
                    "and run again"
                )
            self._sleep(self._poll_interval)
        raise ApiError(
            f"Railway: deployment {deployment_id} of service {service_id} is not running after "
            f"{self._poll_limit * self._poll_interval:.0f}s; check the Railway dashboard"
        )

    def _query(self, field: str, document: str, variables: dict[str, Any]) -> Any:
        return self._send(field, document, variables, idempotent=True)

    def _mutate(self, field: str, document: str, variables: dict[str, Any]) -> Any:
        return self._send(field, document, variables, idempotent=False)

    def _send(
        self, field: str, document: str, variables: dict[str, Any], *, idempotent: bool
    ) -> Any:
        body = {"query": document.strip(), "variables": variables}
        response = self._http.request("POST", self._path, json=body, idempotent=idempotent)
        payload = response.json()
        errors = payload.get("errors") or []
        if errors:
            message = "; ".join(str(error.get("message", error)) for error in errors)
            lowered = message.lower()
            status = 401 if "not authorized" in lowered else 404 if "not found" in lowered else 400
            raise self._http.error("GraphQL", field, status, message)
        return payload["data"][field]
