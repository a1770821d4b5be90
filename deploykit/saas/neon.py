"""Neon API v2 client: a project, its default branch, roles, databases and connection URIs.

Built against the Neon OpenAPI v2 document (https://neon.tech/api_spec/release/v2.json, as copied
in kislerdm/neon-sdk-go `openAPIDefinition.json`) and the API reference pages on neon.com. Facts
this client relies on:
- Base `https://console.neon.tech/api/v2`, `Authorization: Bearer <API key>`.
- Creates answer 201 with an `operations` array; dependent requests must wait until those
  operations finish (`GET /projects/{id}/operations/{op}`, status scheduling | running | finished |
  failed | error | cancelling | cancelled | skipped); overlapping work on a project answers
  423 Locked, "safe to retry" (docs `reference/api/key-concepts.md`).
- Errors are `GeneralError` {code, message}; quota errors look like 422
  `{"code": "PROJECTS_LIMIT_EXCEEDED", "message": "user projects limit of 1 exceeded, got 1"}`
  (recorded in neondatabase/neonctl issue #255).
- `GET /projects/{id}/connection_uri` needs `database_name` and `role_name`; `branch_id` defaults to
  the default branch; the password comes from Neon (projects store passwords by default).
- Updates: `PATCH /projects/{id}` {project: {name}}, `PATCH .../branches/{branch}` {branch: {name}},
  `PATCH .../databases/{name}` {database: {name, owner_name}}.
- `DELETE .../roles/{role_name}` and `DELETE .../databases/{database_name}` answer 200 with the
  object and its operations, or 204 with no body "if the role [database] doesn't exist or has
  already been deleted" (spec at kislerdm/neon-sdk-go commit 0afc13e2, 2025-10-26).
- `POST /projects`: "You may need to specify an org_id parameter depending on your API key type"
  (same spec); neon.com/docs/reference/api/projects/create-project: a personal API key must
  include `org_id`, an organization key implies it.
Neon's own client, `neon-api` 0.3.0 (PyPI), is not used: it parses every answer as JSON (so the
204 above fails), raises one error type without the status, and neither retries nor waits for
operations (docs/small.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict

from deploykit.saas.http import RETRY_ALWAYS, ApiError, HttpClient, Service

__all__ = [
    "DEFAULT_URL",
    "NEON",
    "Branch",
    "CreatedProject",
    "Database",
    "NeonClient",
    "Operation",
    "Project",
    "Role",
]

DEFAULT_URL = "https://console.neon.tech/api/v2"
NEON = Service(
    "Neon",
    "Create an API key at https://console.neon.tech/app/settings/api-keys and set it with "
    "`pulumi config set --secret deploykit:neonApiKey <key>`.",
)
UNFINISHED = frozenset({"scheduling", "running", "cancelling"})
DONE = frozenset({"finished", "skipped"})


class _Response(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Operation(_Response):
    id: str
    action: str
    status: str
    error: str | None = None


class Project(_Response):
    id: str
    name: str
    region_id: str
    pg_version: int
    org_id: str | None = None


class Branch(_Response):
    id: str
    name: str
    default: bool = False


class Endpoint(_Response):
    id: str
    host: str
    type: str


class ConnectionParameters(_Response):
    database: str
    role: str
    host: str


class ConnectionUri(_Response):
    connection_uri: str
    connection_parameters: ConnectionParameters


class CreatedProject(_Response):
    project: Project
    branch: Branch
    endpoints: list[Endpoint]
    connection_uris: list[ConnectionUri]
    operations: list[Operation]


class Role(_Response):
    name: str
    branch_id: str
    password: str | None = None


class Database(_Response):
    id: int
    name: str
    owner_name: str
    branch_id: str


class NeonClient:
    """The calls deploykit makes to Neon; every mutation waits for the operations it starts."""

    def __init__(
        self,
        token: str,
        base_url: str = DEFAULT_URL,
        *,
        sleep: Callable[[float], None] = time.sleep,
        poll_interval: float = 0.5,
        poll_limit: int = 600,
    ) -> None:
        self._http = HttpClient(
            NEON,
            base_url.rstrip("/"),
            {"Authorization": f"Bearer {token}", "Accept": "application/json"},
            retry_statuses=RETRY_ALWAYS | {423},
            sleep=sleep,
        )
        self._sleep = sleep
        self._poll_interval = poll_interval
        self._poll_limit = poll_limit

    def __enter__(self) -> NeonClient:
        return self

    def __exit__(self, *_: object) -> None:
        self._http.close()

    def create_project(
        self, name: str, region_id: str, pg_version: int, org_id: str, branch: str
    ) -> CreatedProject:
        body: dict[str, Any] = {
            "name": name,
            "region_id": region_id,
            "pg_version": pg_version,
            "branch": {"name": branch},
        }
        if org_id:
            body["org_id"] = org_id
        created = CreatedProject.model_validate(self._post("/projects", {"project": body}))
        self.wait(created.project.id, created.operations)
        return created

    def get_project(self, project_id: str) -> Project:
        return Project.model_validate(self._get(f"/projects/{project_id}")["project"])

    def rename_project(self, project_id: str, name: str) -> Project:
        data = self._patch(f"/projects/{project_id}", {"project": {"name": name}})
        self.wait(project_id, _operations(data))
        return Project.model_validate(data["project"])

    def delete_project(self, project_id: str) -> None:
        self._http.request("DELETE", f"/projects/{project_id}")

    def get_branch(self, project_id: str, branch_id: str) -> Branch:
        return Branch.model_validate(
            self._get(f"/projects/{project_id}/branches/{branch_id}")["branch"]
        )

    def rename_branch(self, project_id: str, branch_id: str, name: str) -> Branch:
        path = f"/projects/{project_id}/branches/{branch_id}"
        data = self._patch(path, {"branch": {"name": name}})
        self.wait(project_id, _operations(data))
        return Branch.model_validate(data["branch"])

    def connection_uri(self, project_id: str, branch_id: str, database: str, role: str) -> str:
        """The connection URI of `role` on `database` (read-write endpoint, direct, not pooled)."""
        params = {"database_name": database, "role_name": role, "branch_id": branch_id}
        return str(self._get(f"/projects/{project_id}/connection_uri", params)["uri"])

    def create_role(self, project_id: str, branch_id: str, name: str) -> Role:
        path = f"/projects/{project_id}/branches/{branch_id}/roles"
        data = self._post(path, {"role": {"name": name}})
        self.wait(project_id, _operations(data))
        return Role.model_validate(data["role"])

    def get_role(self, project_id: str, branch_id: str, name: str) -> Role:
        path = f"/projects/{project_id}/branches/{branch_id}/roles/{name}"
        return Role.model_validate(self._get(path)["role"])

    def delete_role(self, project_id: str, branch_id: str, name: str) -> None:
        self._delete(project_id, f"/projects/{project_id}/branches/{branch_id}/roles/{name}")

    def create_database(self, project_id: str, branch_id: str, name: str, owner: str) -> Database:
        path = f"/projects/{project_id}/branches/{branch_id}/databases"
        data = self._post(path, {"database": {"name": name, "owner_name": owner}})
        self.wait(project_id, _operations(data))
        return Database.model_validate(data["database"])

    def get_database(self, project_id: str, branch_id: str, name: str) -> Database:
        path = f"/projects/{project_id}/branches/{branch_id}/databases/{name}"
        return Database.model_validate(self._get(path)["database"])

    def set_database_owner(
        self, project_id: str, branch_id: str, name: str, owner: str
    ) -> Database:
        path = f"/projects/{project_id}/branches/{branch_id}/databases/{name}"
        data = self._patch(path, {"database": {"owner_name": owner}})
        self.wait(project_id, _operations(data))
        return Database.model_validate(data["database"])

    def delete_database(self, project_id: str, branch_id: str, name: str) -> None:
        self._delete(project_id, f"/projects/{project_id}/branches/{branch_id}/databases/{name}")

    def _delete(self, project_id: str, path: str) -> None:
        """Delete and wait; 204 (no body) says it was already gone, which is what we wanted."""
        response = self._http.request("DELETE", path)
        if response.status_code != 204:
            self.wait(project_id, _operations(response.json()))

    def wait(self, project_id: str, operations: list[Operation]) -> None:
        """Poll each unfinished operation until it is done; a failed one is an error."""
        for operation in operations:
            current = operation
            for _ in range(self._poll_limit):
                if current.status in DONE:
                    break
                if current.status not in UNFINISHED:
                    raise ApiError(
                        f"Neon: operation {current.action} on project {project_id} ended "
                        f"{current.status}: {current.error or 'no reason given'}; run again"
                    )
                self._sleep(self._poll_interval)
                path = f"/projects/{project_id}/operations/{current.id}"
                current = Operation.model_validate(self._get(path)["operation"])
            else:
                raise ApiError(
                    f"Neon: operation {current.action} on project {project_id} is still "
                    f"{current.status}; run again to continue"
                )

    def _get(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        return _object(self._http.request("GET", path, params=params))

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return _object(self._http.request("POST", path, json=body))

    def _patch(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return _object(self._http.request("PATCH", path, json=body))


def _operations(data: dict[str, Any]) -> list[Operation]:
    return [Operation.model_validate(item) for item in data.get("operations", [])]


def _object(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of a Neon reply (every endpoint used here answers with one)."""
    body: dict[str, Any] = response.json()
    return body
