"""A fake Neon API v2, following the Neon OpenAPI v2 document and the API reference pages.

Reference: https://neon.tech/api_spec/release/v2.json as copied in kislerdm/neon-sdk-go
`openAPIDefinition.json` at commit 0afc13e2 (2025-10-26), neon.com/docs/reference/api/*,
recorded bodies in neondatabase/neon-api-python `tests/cassettes/test_integration/*.yaml`.
What it holds clients to:
- Bearer auth; errors are GeneralError {code, message}; every answer has X-Neon-Ret-Request-Id.
- Creates answer 201 with `operations` that start scheduling/running and finish only when
  polled through `GET /projects/{id}/operations/{op}`; until then any other change to the
  project answers 423 Locked (docs `reference/api/key-concepts.md`).
- `POST /projects` checks ProjectCreateRequest (the schema below: `org_id` pattern
  `^[a-z0-9-]{1,60}$`, `pg_version` 14..18, `name` 1..256) and refuses a project over the
  plan's limit with 422 PROJECTS_LIMIT_EXCEEDED (neonctl issue #255).
- A personal API key must name `org_id`; an organization key implies it ("You may need to
  specify an org_id parameter depending on your API key type", createProject; the create-project
  docs page). The refusal's wording is the one quoted in the kit's reading of the spec,
  "ERROR: org_id is required"; its status and code are not documented (400 here).
- `DELETE .../roles/{r}` and `.../databases/{d}` answer 200 with the object and operations, or
  204 with an empty body when it does not exist or was already deleted (spec responses).
- `GET /projects/{id}/connection_uri` requires `database_name` and `role_name`. URIs carry no
  query string, as in the recorded create-project response (test_create_project.yaml).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from deploykit.testing.fakes.schema import boolean, integer, number, obj, problems, string
from deploykit.testing.fakes.server import FakeServer, Reply, Request, ids, json_reply

__all__ = ["FakeNeon"]

PREFIX = "/api/v2"
_ENDPOINT_SETTINGS = obj({
    "autoscaling_limit_min_cu": number(), "autoscaling_limit_max_cu": number(),
    "suspend_timeout_seconds": integer(minimum=-1, maximum=604800),
})  # fmt: skip
PROJECT_CREATE = obj({"project": obj({
    "name": string(min_length=1, max_length=256),
    "region_id": string(),
    "pg_version": integer(minimum=14, maximum=18),
    "org_id": string(pattern=r"[a-z0-9-]{1,60}"),
    "branch": obj({"name": string(), "role_name": string(), "database_name": string()}),
    "default_endpoint_settings": _ENDPOINT_SETTINGS,
    "store_passwords": boolean(),
    "history_retention_seconds": integer(minimum=0, maximum=2592000),
    "settings": obj({}),
    "provisioner": string(),
})}, required=("project",))  # fmt: skip
ROLE_CREATE = obj(
    {"role": obj({"name": string(min_length=1), "no_login": boolean()}, required=("name",))},
    required=("role",),
)  # RoleCreateRequest
DATABASE_CREATE = obj(
    {"database": obj({"name": string(min_length=1), "owner_name": string(min_length=1)},
                     required=("name", "owner_name"))},
    required=("database",),
)  # DatabaseCreateRequest  # fmt: skip
DATABASE_UPDATE = obj(
    {"database": obj({"name": string(min_length=1), "owner_name": string(min_length=1)})},
    required=("database",),
)  # DatabaseUpdateRequest
PROJECT_UPDATE = obj(
    {"project": obj({"name": string(min_length=1, max_length=256), "settings": obj({}),
                     "default_endpoint_settings": _ENDPOINT_SETTINGS})},
    required=("project",),
)  # ProjectUpdateRequest (the fields the fake knows)  # fmt: skip
BRANCH_UPDATE = obj(
    {"branch": obj({"name": string(min_length=1), "protected": boolean(), "expires_at": string()})},
    required=("branch",),
)  # BranchUpdateRequest
ORG_KEY_ORG = "org-fake-1"  # the organization an organization key belongs to
REGIONS = {"aws-us-east-2", "aws-us-east-1", "aws-us-west-2", "aws-eu-central-1", "azure-eastus2"}
UNFINISHED = {"scheduling", "running"}


def error(status: int, message: str, code: str = "") -> Reply:
    return json_reply(status, {"code": code, "message": message})


class FakeNeon(FakeServer):
    def __init__(
        self, token: str = "neon-test-key", project_limit: int = 10, *, key: str = "personal"
    ) -> None:
        super().__init__()
        self.token = token
        self.key = key  # "personal" or "organization"
        self.project_limit = project_limit
        self.projects: dict[str, dict[str, Any]] = {}
        self.operations: dict[str, dict[str, Any]] = {}
        self.fail_action: str | None = None
        self._project_ids = ids("fake-project-")
        self._branch_ids = ids("br-fake-")
        self._endpoint_ids = ids("ep-fake-")
        self._op_ids = ids("op-")
        self._db_ids = itertools.count(1)
        self._request_ids = itertools.count(1)

    def handle(self, request: Request) -> Reply:
        reply = self._handle(request)
        reply.headers["X-Neon-Ret-Request-Id"] = f"req-{next(self._request_ids)}"
        return reply

    def _handle(self, request: Request) -> Reply:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return error(401, "authentication required")
        if not request.path.startswith(PREFIX):
            return error(404, "not found")
        path = request.path[len(PREFIX) :]
        for pattern, handler in self._routes():
            match = re.fullmatch(pattern, f"{request.method} {path}")
            if not match:
                continue
            project_id = match.group(1) if match.groups() else None
            if project_id is not None and project_id not in self.projects:
                return error(404, "project not found")
            mutating = request.method != "GET"
            if mutating and project_id is not None and self._busy(project_id):
                return error(
                    423,
                    "project already has running operations, scheduling of new ones is prohibited",
                )
            return handler(request, *match.groups())
        return error(404, "not found")

    def _routes(self) -> list[tuple[str, Callable[..., Reply]]]:
        branch = r"/projects/([^/]+)/branches/([^/]+)"
        return [
            (r"POST /projects", self._create_project),
            (r"GET /projects/([^/]+)", self._get_project),
            (r"PATCH /projects/([^/]+)", self._update_project),
            (r"DELETE /projects/([^/]+)", self._delete_project),
            (r"GET /projects/([^/]+)/operations/([^/]+)", self._get_operation),
            (r"GET /projects/([^/]+)/connection_uri", self._connection_uri),
            (rf"GET {branch}", self._get_branch),
            (rf"PATCH {branch}", self._update_branch),
            (rf"POST {branch}/roles", self._create_role),
            (rf"GET {branch}/roles/([^/]+)", self._get_role),
            (rf"DELETE {branch}/roles/([^/]+)", self._delete_role),
            (rf"POST {branch}/databases", self._create_database),
            (rf"GET {branch}/databases/([^/]+)", self._get_database),
            (rf"PATCH {branch}/databases/([^/]+)", self._update_database),
            (rf"DELETE {branch}/databases/([^/]+)", self._delete_database),
        ]

    def _busy(self, project_id: str) -> bool:
        return any(
            op["project_id"] == project_id and op["status"] in UNFINISHED
            for op in self.operations.values()
        )

    def _operation(
        self, project_id: str, branch_id: str, action: str, status: str
    ) -> dict[str, Any]:
        op_id = next(self._op_ids)
        self.operations[op_id] = {
            "id": op_id,
            "project_id": project_id,
            "branch_id": branch_id,
            "action": action,
            "status": status,
            "failures_count": 0,
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
            "total_duration_ms": 0,
        }
        return self.operations[op_id]

    def _create_project(self, request: Request) -> Reply:
        body = request.json()
        if found := problems(body, PROJECT_CREATE):
            return error(400, "; ".join(found))
        spec = body["project"]
        if self.key == "personal" and not spec.get("org_id"):
            return error(400, "ERROR: org_id is required")
        org_id = spec.get("org_id") or ORG_KEY_ORG
        if spec.get("region_id", "aws-us-east-2") not in REGIONS:
            return error(400, f"region {spec['region_id']} is not available")
        if len(self.projects) >= self.project_limit:
            return error(
                422,
                f"user projects limit of {self.project_limit} exceeded, got {len(self.projects)}",
                "PROJECTS_LIMIT_EXCEEDED",
            )
        project_id = next(self._project_ids)
        branch_spec = spec.get("branch") or {}
        branch_id = next(self._branch_ids)
        endpoint_id = next(self._endpoint_ids)
        database = branch_spec.get("database_name", "neondb")
        role = branch_spec.get("role_name", f"{database}_owner")
        project = {
            "id": project_id,
            "name": spec.get("name", project_id),
            "region_id": spec.get("region_id", "aws-us-east-2"),
            "pg_version": spec.get("pg_version", 17),
            "org_id": org_id,
            "store_passwords": True,
            "created_at": "2026-01-01T00:00:00Z",
        }
        host = f"{endpoint_id}.us-east-2.aws.neon.tech"
        self.projects[project_id] = {
            "project": project,
            "branches": {branch_id: {"id": branch_id, "name": branch_spec.get("name", "main"), "project_id": project_id, "default": True, "current_state": "init", "pending_state": "ready"}},
            "host": host,
            "roles": {branch_id: {role: {"name": role, "branch_id": branch_id, "password": f"pw-{role}"}}},
            "databases": {branch_id: {database: {"id": next(self._db_ids), "name": database, "owner_name": role, "branch_id": branch_id}}},
        }  # fmt: skip
        state = self.projects[project_id]
        operations = [
            self._operation(project_id, branch_id, "create_timeline", "running"),
            self._operation(project_id, branch_id, "start_compute", "scheduling"),
        ]
        return json_reply(
            201,
            {
                "project": project,
                "branch": state["branches"][branch_id],
                "endpoints": [{"id": endpoint_id, "host": host, "branch_id": branch_id, "type": "read_write", "current_state": "init", "pending_state": "active"}],
                "roles": list(state["roles"][branch_id].values()),
                "databases": list(state["databases"][branch_id].values()),
                "connection_uris": [{"connection_uri": _uri(role, f"pw-{role}", host, database), "connection_parameters": {"database": database, "password": f"pw-{role}", "role": role, "host": host, "pooler_host": host.replace(endpoint_id, f"{endpoint_id}-pooler")}}],
                "operations": operations,
            },
        )  # fmt: skip

    def _get_project(self, _: Request, project_id: str) -> Reply:
        return json_reply(200, {"project": self.projects[project_id]["project"]})

    def _update_project(self, request: Request, project_id: str) -> Reply:
        if found := problems(request.json(), PROJECT_UPDATE):
            return error(400, "; ".join(found))
        spec = request.json()["project"]
        self.projects[project_id]["project"].update(spec)
        return json_reply(200, {"project": self.projects[project_id]["project"], "operations": []})

    def _delete_project(self, _: Request, project_id: str) -> Reply:
        return json_reply(200, {"project": self.projects.pop(project_id)["project"]})

    def _get_operation(self, _: Request, project_id: str, op_id: str) -> Reply:
        op = self.operations.get(op_id)
        if op is None or op["project_id"] != project_id:
            return error(404, "operation not found")
        if op["status"] == "scheduling":  # time passed since the last look: one step further
            op["status"] = "running"
        elif op["status"] == "running":
            failed = op["action"] == self.fail_action
            op["status"] = "failed" if failed else "finished"
            op["error"] = "compute failed to start" if failed else None
        return json_reply(200, {"operation": dict(op)})

    def _branch(self, project_id: str, branch_id: str) -> dict[str, Any] | None:
        branches: dict[str, dict[str, Any]] = self.projects[project_id]["branches"]
        return branches.get(branch_id)

    def _get_branch(self, _: Request, project_id: str, branch_id: str) -> Reply:
        branch = self._branch(project_id, branch_id)
        return json_reply(200, {"branch": branch}) if branch else error(404, "branch not found")

    def _update_branch(self, request: Request, project_id: str, branch_id: str) -> Reply:
        branch = self._branch(project_id, branch_id)
        if branch is None:
            return error(404, "branch not found")
        if found := problems(request.json(), BRANCH_UPDATE):
            return error(400, "; ".join(found))
        spec = request.json()["branch"]
        branch.update(spec)
        return json_reply(200, {"branch": branch, "operations": []})

    def _connection_uri(self, request: Request, project_id: str) -> Reply:
        state = self.projects[project_id]
        database, role = request.query.get("database_name"), request.query.get("role_name")
        if not database or not role:
            return error(400, "database_name and role_name are required")
        default = next(b for b in state["branches"].values() if b["default"])["id"]
        branch_id = request.query.get("branch_id", default)
        known = state["roles"].get(branch_id, {})
        if role not in known or database not in state["databases"].get(branch_id, {}):
            return error(404, "role or database not found")
        host = state["host"]
        if request.query.get("pooled") == "true":
            host = host.replace(".", "-pooler.", 1)
        return json_reply(200, {"uri": _uri(role, known[role]["password"], host, database)})

    def _create_role(self, request: Request, project_id: str, branch_id: str) -> Reply:
        roles = self.projects[project_id]["roles"].get(branch_id)
        if roles is None:
            return error(404, "branch not found")
        if found := problems(request.json(), ROLE_CREATE):
            return error(400, "; ".join(found))
        spec = request.json()["role"]
        if len(spec["name"].encode()) > 63:
            return error(400, "role name is longer than 63 bytes")
        if spec["name"] in roles:
            return error(409, f"role {spec['name']} already exists")
        password = f"pw-{spec['name']}-{len(self.operations)}"
        roles[spec["name"]] = {"name": spec["name"], "branch_id": branch_id, "password": password}
        op = self._operation(project_id, branch_id, "apply_config", "running")
        return json_reply(201, {"role": roles[spec["name"]], "operations": [op]})

    def _get_role(self, _: Request, project_id: str, branch_id: str, name: str) -> Reply:
        role = self.projects[project_id]["roles"].get(branch_id, {}).get(name)
        if role is None:
            return error(404, "role not found")
        return json_reply(200, {"role": {k: v for k, v in role.items() if k != "password"}})

    def _delete_role(self, _: Request, project_id: str, branch_id: str, name: str) -> Reply:
        role = self.projects[project_id]["roles"].get(branch_id, {}).pop(name, None)
        if role is None:
            return Reply(204)
        op = self._operation(project_id, branch_id, "apply_config", "running")
        return json_reply(200, {"role": role, "operations": [op]})

    def _create_database(self, request: Request, project_id: str, branch_id: str) -> Reply:
        state = self.projects[project_id]
        if branch_id not in state["branches"]:
            return error(404, "branch not found")
        if found := problems(request.json(), DATABASE_CREATE):
            return error(400, "; ".join(found))
        spec = request.json()["database"]
        if spec["owner_name"] not in state["roles"][branch_id]:
            return error(404, f"role {spec['owner_name']} not found")
        databases = state["databases"][branch_id]
        if spec["name"] in databases:
            return error(409, f"database {spec['name']} already exists")
        databases[spec["name"]] = {"id": next(self._db_ids), "branch_id": branch_id, **spec}
        op = self._operation(project_id, branch_id, "apply_config", "running")
        return json_reply(201, {"database": databases[spec["name"]], "operations": [op]})

    def _get_database(self, _: Request, project_id: str, branch_id: str, name: str) -> Reply:
        database = self.projects[project_id]["databases"].get(branch_id, {}).get(name)
        return (
            json_reply(200, {"database": database})
            if database
            else error(404, "database not found")
        )

    def _update_database(
        self, request: Request, project_id: str, branch_id: str, name: str
    ) -> Reply:
        state = self.projects[project_id]
        database = state["databases"].get(branch_id, {}).get(name)
        if database is None:
            return error(404, "database not found")
        if found := problems(request.json(), DATABASE_UPDATE):
            return error(400, "; ".join(found))
        spec = request.json()["database"]
        if spec.get("owner_name", database["owner_name"]) not in state["roles"][branch_id]:
            return error(404, f"role {spec['owner_name']} not found")
        database.update(spec)
        op = self._operation(project_id, branch_id, "apply_config", "running")
        return json_reply(200, {"database": database, "operations": [op]})

    def _delete_database(self, _: Request, project_id: str, branch_id: str, name: str) -> Reply:
        database = self.projects[project_id]["databases"].get(branch_id, {}).pop(name, None)
        if database is None:
            return Reply(204)
        op = self._operation(project_id, branch_id, "apply_config", "running")
        return json_reply(200, {"database": database, "operations": [op]})


def _uri(role: str, password: str, host: str, database: str) -> str:
    return f"postgresql://{role}:{quote(password)}@{host}/{database}"
