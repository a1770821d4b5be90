"""A fake Railway public GraphQL API, following Railway's reference and the CLI's schema.

Reference: railwayapp/docs `src/docs/reference/public-api.md` (one endpoint
`POST /graphql/v2`, `Authorization: Bearer`, 429 with `Retry-After` when throttled) and the schema
the official CLI ships (railwayapp/cli `src/gql/schema.json`): the input types below list the
fields of ProjectCreateInput, ServiceCreateInput, ServiceInstanceUpdateInput and
VariableCollectionUpsertInput. What it holds clients to:
- one POST endpoint; the operation's root field picks the handler; variables are checked against
  the input type (unknown fields and missing required ones are errors);
- domain errors are HTTP 200 with `errors[]` ("Not Authorized", "Project not found");
- `environments` is a Relay connection paged with first/after;
- `serviceInstanceDeployV2` returns a bare deployment id; `deployment(id){status}` walks
  QUEUED → BUILDING → DEPLOYING → SUCCESS (CRASHED for an image named like `*crash*`);
- `variables` includes the RAILWAY_* variables Railway provides to every service;
- replicas live per region in `multiRegionConfig` ({region: {numReplicas} | null}, null removes
  the region), the way the official CLI (railwayapp/cli commit df3838bf, `src/commands/scale.rs`)
  and the terraform provider (terraform-provider-railway commit b1cd755c,
  `internal/provider/resource_service.go`) write them; a deployment records the instance's
  config in `meta.serviceManifest.deploy`, read back through `serviceInstance.latestDeployment`.
  The legacy `numReplicas` is accepted (the schema has it) but no deployment uses it, so a
  client that scales with it reads back one replica in the default region;
- `cronSchedule` is refused unless it is a five-field crontab whose runs are at least 5
  minutes apart, the rules of railwayapp/docs `src/docs/reference/cron-jobs.md` ("Crontab
  Expressions", "Frequency"); the words of Railway's refusal are not published (the fake's own);
- `projectCreate` without `workspaceId` when the token sees several workspaces is refused (the
  CLI makes the user pick one, `src/commands/init.rs`); Railway's exact words for it are not
  published, so the message here is the fake's own. `me { workspaces { id name } }` lists them.
"""

from __future__ import annotations

import re
from typing import Any

from deploykit.stack.cron import cron_problem
from deploykit.testing.fakes.schema import (
    Spec,
    anything,
    array,
    boolean,
    integer,
    mapping,
    obj,
    problems,
    string,
)
from deploykit.testing.fakes.server import FakeServer, Reply, Request, ids, json_reply

__all__ = ["FakeRailway"]

# The input types the client sends, field by field, from railwayapp/cli `src/gql/schema.json` at
# commit df3838bf: GraphQL inputs are nullable unless marked `!`.
_S, _B, _I = string(nullable=True), boolean(nullable=True), integer(nullable=True)
SOURCE = obj({"image": _S, "repo": _S}, nullable=True)  # ServiceSourceInput
REGISTRY = obj(
    {"username": string(), "password": string()}, required=("username", "password"), nullable=True
)
VARIABLES = mapping(string())  # scalar EnvironmentVariables: "a map of environment variables"
PROJECT_CREATE_INPUT = obj({
    "defaultEnvironmentName": _S, "description": _S, "isMonorepo": _B, "isPublic": _B,
    "name": _S, "prDeploys": _B, "repo": anything(), "runtime": _S, "workspaceId": _S,
})  # fmt: skip
PROJECT_UPDATE_INPUT = obj({
    "baseEnvironmentId": _S, "botPrEnvironments": _B, "description": _S,
    "focusedPrEnvironments": _B, "isPublic": _B, "name": _S, "prDeploys": _B,
})  # fmt: skip
SERVICE_CREATE_INPUT = obj({
    "branch": _S, "environmentId": _S, "icon": _S, "name": _S, "projectId": string(),
    "registryCredentials": REGISTRY, "source": SOURCE, "templateId": _S,
    "templateServiceId": _S, "variables": {**VARIABLES, "null": True},
}, required=("projectId",))  # fmt: skip
SERVICE_UPDATE_INPUT = obj({"icon": _S, "name": _S})
INSTANCE_UPDATE_INPUT = obj({
    "buildCommand": _S, "builder": string(nullable=True, enum=("HEROKU", "NIXPACKS", "PAKETO", "RAILPACK")),
    "cronSchedule": _S, "dockerfilePath": _S, "drainingSeconds": _I, "healthcheckPath": _S,
    "healthcheckTimeout": _I, "ipv6EgressEnabled": _B, "multiRegionConfig": anything(),
    "nixpacksPlan": anything(), "numReplicas": _I, "overlapSeconds": _I,
    "preDeployCommand": array(string(), nullable=True), "railwayConfigFile": _S, "region": _S,
    "registryCredentials": REGISTRY,
    "restartPolicyMaxRetries": _I,
    "restartPolicyType": string(nullable=True, enum=("ALWAYS", "NEVER", "ON_FAILURE")),
    "rootDirectory": _S, "sleepApplication": _B, "source": SOURCE, "startCommand": _S,
    "watchPatterns": array(string(), nullable=True),
})  # fmt: skip
VARIABLES_INPUT = obj({
    "environmentId": string(), "projectId": string(), "replace": _B, "serviceId": _S,
    "skipDeploys": _B, "variables": VARIABLES,
}, required=("environmentId", "projectId", "variables"))  # fmt: skip
DEPLOY_STEPS = ["QUEUED", "BUILDING", "DEPLOYING", "SUCCESS"]
DEFAULT_REGION = (
    "us-west2"  # a region id as the CLI's tests spell them (src/controllers/regions.rs)
)


class GraphQLError(Exception):
    pass


def need(variables: dict[str, Any], *names: str) -> list[Any]:
    missing = [n for n in names if variables.get(n) in (None, "")]
    if missing:
        raise GraphQLError(f"Variable ${missing[0]} of required type String! was not provided.")
    return [variables[n] for n in names]


def check_input(value: Any, spec: Spec, type_name: str) -> dict[str, Any]:
    """The input object, or the error GraphQL validation gives (the first problem)."""
    if not isinstance(value, dict):
        raise GraphQLError(f"Expected type {type_name}!")
    for problem in problems(value, spec):
        field, _, what = problem.partition(": ")
        if what == "unknown field":
            raise GraphQLError(f'Field "{field}" is not defined by type "{type_name}".')
        if what == "required":
            raise GraphQLError(f'Field "{type_name}.{field}" of required type was not provided.')
        raise GraphQLError(f'Variable "$input" got invalid value at "{field}": {what}.')
    return value


class FakeRailway(FakeServer):
    def __init__(
        self,
        token: str = "railway-test-token",
        extra_environments: int = 0,
        workspaces: tuple[tuple[str, str], ...] = (("ws-1", "acme"),),
        deploy_steps: tuple[str, ...] = tuple(DEPLOY_STEPS),
    ) -> None:
        """`deploy_steps`: the statuses a deployment walks, one per poll (shorter for tests
        that are not about waiting)."""
        super().__init__()
        self.token = token
        self.deploy_steps = deploy_steps
        self.workspaces = dict(workspaces)
        self.extra_environments = extra_environments
        self.projects: dict[str, dict[str, Any]] = {}
        self.environments: dict[str, dict[str, Any]] = {}
        self.services: dict[str, dict[str, Any]] = {}
        self.instances: dict[tuple[str, str], dict[str, Any]] = {}
        self.variables: dict[tuple[str, str], dict[str, str]] = {}
        self.deployments: dict[str, dict[str, Any]] = {}
        self._ids = ids("00000000-0000-4000-8000-")

    def handle(self, request: Request) -> Reply:
        if request.method != "POST" or request.path != "/graphql/v2":
            return json_reply(404, {"message": "Not Found"})
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return json_reply(200, {"data": None, "errors": [{"message": "Not Authorized"}]})
        body = request.json()
        match = re.search(r"\{\s*(\w+)", body.get("query", ""))
        if not match:
            return json_reply(400, {"errors": [{"message": "Syntax Error: no operation"}]})
        field = match.group(1)
        handler = getattr(self, f"_{field}", None)
        if handler is None:
            message = f'Cannot query field "{field}" on type "Query".'
            return json_reply(400, {"errors": [{"message": message}]})
        try:
            data = handler(body.get("variables") or {})
        except GraphQLError as exc:
            return json_reply(200, {"data": None, "errors": [{"message": str(exc)}]})
        return json_reply(200, {"data": {field: data}})

    def _new_environment(self, project_id: str, name: str) -> dict[str, Any]:
        environment = {"id": next(self._ids), "name": name, "projectId": project_id}
        self.environments[environment["id"]] = environment
        return environment

    def _projectCreate(self, variables: dict[str, Any]) -> dict[str, Any]:
        spec = check_input(variables.get("input"), PROJECT_CREATE_INPUT, "ProjectCreateInput")
        workspace = spec.get("workspaceId")
        if workspace is None and len(self.workspaces) > 1:
            raise GraphQLError("workspaceId is required: this token belongs to several workspaces")
        if workspace is not None and workspace not in self.workspaces:
            raise GraphQLError("Workspace not found")
        workspace = workspace or next(iter(self.workspaces))
        project = {
            "id": next(self._ids),
            "name": spec.get("name", "unnamed"),
            "workspaceId": workspace,
        }
        self.projects[project["id"]] = project
        for number in range(self.extra_environments):
            self._new_environment(project["id"], f"pr-{number}")
        self._new_environment(project["id"], spec.get("defaultEnvironmentName", "production"))
        edges = [{"node": {"id": e["id"], "name": e["name"]}} for e in self._envs(project["id"])]
        return {**project, "environments": {"edges": edges}}

    def _me(self, _variables: dict[str, Any]) -> dict[str, Any]:
        return {"workspaces": [{"id": i, "name": n} for i, n in self.workspaces.items()]}

    def _envs(self, project_id: str) -> list[dict[str, Any]]:
        return [e for e in self.environments.values() if e["projectId"] == project_id]

    def _project_of(self, project_id: str) -> dict[str, Any]:
        if project_id not in self.projects:
            raise GraphQLError("Project not found")
        return self.projects[project_id]

    def _project(self, variables: dict[str, Any]) -> dict[str, Any]:
        return self._project_of(*need(variables, "id"))

    def _projectUpdate(self, variables: dict[str, Any]) -> dict[str, Any]:
        project = self._project_of(*need(variables, "id"))
        spec = check_input(variables.get("input"), PROJECT_UPDATE_INPUT, "ProjectUpdateInput")
        project.update({k: v for k, v in spec.items() if k == "name"})
        return project

    def _projectDelete(self, variables: dict[str, Any]) -> bool:
        project_id = self._project_of(*need(variables, "id"))["id"]
        del self.projects[project_id]
        self.services = {k: s for k, s in self.services.items() if s["projectId"] != project_id}
        self.environments = {
            k: e for k, e in self.environments.items() if e["projectId"] != project_id
        }
        return True

    def _environments(self, variables: dict[str, Any]) -> dict[str, Any]:
        (project_id,) = need(variables, "projectId")
        self._project_of(project_id)
        envs = self._envs(project_id)
        start = int(variables["after"]) if variables.get("after") else 0
        first = variables.get("first") or len(envs)
        page = envs[start : start + first]
        return {
            "edges": [{"node": {"id": e["id"], "name": e["name"]}} for e in page],
            "pageInfo": {"hasNextPage": start + first < len(envs), "endCursor": str(start + first)},
        }

    def _serviceCreate(self, variables: dict[str, Any]) -> dict[str, Any]:
        spec = check_input(variables.get("input"), SERVICE_CREATE_INPUT, "ServiceCreateInput")
        self._project_of(spec["projectId"])
        environment = self.environments.get(spec.get("environmentId", ""))
        if environment is None or environment["projectId"] != spec["projectId"]:
            raise GraphQLError("Environment not found")
        source = dict(spec.get("source") or {})
        service = {
            "id": next(self._ids),
            "name": spec.get("name", "service"),
            "projectId": spec["projectId"],
        }
        self.services[service["id"]] = service
        self.instances[(environment["id"], service["id"])] = {
            "source": source,
            "multiRegionConfig": {DEFAULT_REGION: {"numReplicas": 1}},
            "latestDeployment": None,
        }
        self.variables[(environment["id"], service["id"])] = dict(spec.get("variables") or {})
        return service

    def _service_of(self, service_id: str) -> dict[str, Any]:
        if service_id not in self.services:
            raise GraphQLError("Service not found")
        return self.services[service_id]

    def _service(self, variables: dict[str, Any]) -> dict[str, Any]:
        return self._service_of(*need(variables, "id"))

    def _serviceUpdate(self, variables: dict[str, Any]) -> dict[str, Any]:
        service = self._service_of(*need(variables, "id"))
        spec = check_input(variables.get("input"), SERVICE_UPDATE_INPUT, "ServiceUpdateInput")
        service.update({k: v for k, v in spec.items() if k == "name"})
        return service

    def _serviceDelete(self, variables: dict[str, Any]) -> bool:
        service_id = self._service_of(*need(variables, "id"))["id"]
        del self.services[service_id]
        self.instances = {k: v for k, v in self.instances.items() if k[1] != service_id}
        return True

    def _instance_of(self, environment_id: str, service_id: str) -> dict[str, Any]:
        self._service_of(service_id)
        if (environment_id, service_id) not in self.instances:
            raise GraphQLError("ServiceInstance not found")
        return self.instances[(environment_id, service_id)]

    def _serviceInstance(self, variables: dict[str, Any]) -> dict[str, Any]:
        return self._instance_of(*need(variables, "environmentId", "serviceId"))

    def _serviceInstanceUpdate(self, variables: dict[str, Any]) -> bool:
        instance = self._instance_of(*need(variables, "environmentId", "serviceId"))
        spec = dict(
            check_input(variables.get("input"), INSTANCE_UPDATE_INPUT, "ServiceInstanceUpdateInput")
        )
        schedule = spec.get("cronSchedule")
        if schedule is not None and (problem := cron_problem(schedule)):
            raise GraphQLError(f"Invalid cron schedule {problem}")
        regions = spec.pop("multiRegionConfig", None)
        if regions is not None:
            if not isinstance(regions, dict):
                raise GraphQLError("multiRegionConfig must be a JSON object")
            config = dict(instance["multiRegionConfig"])
            for region, value in regions.items():
                if value is None:
                    config.pop(region, None)
                elif (
                    not isinstance(value, dict)
                    or set(value) != {"numReplicas"}
                    or not (isinstance(value["numReplicas"], int) and value["numReplicas"] >= 1)
                ):
                    raise GraphQLError(
                        f"multiRegionConfig.{region}: expected {{numReplicas: Int >= 1}}"
                    )
                else:
                    config[region] = value
            instance["multiRegionConfig"] = config
        instance.update(spec)
        return True

    def _variableCollectionUpsert(self, variables: dict[str, Any]) -> bool:
        spec = check_input(variables.get("input"), VARIABLES_INPUT, "VariableCollectionUpsertInput")
        key = (spec["environmentId"], spec.get("serviceId", ""))
        self._instance_of(*key)
        current = {} if spec.get("replace") else self.variables.get(key, {})
        self.variables[key] = {**current, **spec["variables"]}
        return True

    def _variables(self, variables: dict[str, Any]) -> dict[str, str]:
        project_id, environment_id = need(variables, "projectId", "environmentId")
        service_id = variables.get("serviceId")
        if service_id is None:  # optional in the schema: the environment's shared variables
            return dict(self.variables.get((environment_id, ""), {}))
        service = self._service_of(service_id)
        provided = {
            "RAILWAY_PROJECT_ID": project_id,
            "RAILWAY_ENVIRONMENT_ID": environment_id,
            "RAILWAY_SERVICE_NAME": service["name"],
        }
        return {**self.variables.get((environment_id, service_id), {}), **provided}

    def _serviceInstanceDeployV2(self, variables: dict[str, Any]) -> str:
        environment_id, service_id = need(variables, "environmentId", "serviceId")
        instance = self._instance_of(environment_id, service_id)
        image = (instance.get("source") or {}).get("image") or ""
        steps = list(self.deploy_steps)
        if "crash" in image:
            steps[-1] = "CRASHED"
        deployment_id = next(self._ids)
        deploy = {"multiRegionConfig": dict(instance["multiRegionConfig"])}
        self.deployments[deployment_id] = {
            "id": deployment_id,
            "steps": steps,
            "serviceId": service_id,
        }
        instance["latestDeployment"] = {
            "id": deployment_id,
            "meta": {"image": image, "serviceManifest": {"deploy": deploy}},
        }
        return deployment_id

    def _deployment(self, variables: dict[str, Any]) -> dict[str, Any]:
        (deployment_id,) = need(variables, "id")
        deployment = self.deployments.get(deployment_id)
        if deployment is None:
            raise GraphQLError("Deployment not found")
        steps = deployment["steps"]
        status = steps.pop(0) if len(steps) > 1 else steps[0]
        return {"id": deployment_id, "status": status}
