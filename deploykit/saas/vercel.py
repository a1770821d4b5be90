"""Vercel REST API client: a project, its variables and domain, and a deployment of files.

Why a deployment of files and not a Git-connected project: a project alone serves nothing, and
a Git-connected one serves only after the Vercel GitHub app is installed on the repository and
a push (or a triggered deployment) has built it, which deploykit can neither do nor check. A
deployment of the frontend's files from the checkout is made by the API alone, is addressed by
content (an unchanged file is not sent again), and is READY or failed when `pulumi up` returns.

Built against Vercel's REST API reference (vercel.com/docs/rest-api, read 2026-12) and the calls
the official client makes (vercel/vercel `packages/client/src/upload.ts`, `deploy.ts`,
`check-deployment-status.ts`, `utils/ready-state.ts`; `funcs/projectsCreate.ts` at 999b24d):
- `Authorization: Bearer <token>`; `?teamId=` acts for a team.
- `POST /v2/files`, body the file's bytes, `x-vercel-digest` its SHA1 (40 hex), `Content-Length`
  its size: 200 with an empty object.
- `POST /v13/deployments` `{name, project, target, files: [{file, sha, size}], projectSettings}`;
  a file whose SHA was not uploaded is refused with 400 `{"error": {"code": "missing_files",
  "missing": [sha, ...]}}`. Every file is uploaded first, so that refusal is a bug, not a path.
- `GET /v13/deployments/{id}`: `readyState` QUEUED | INITIALIZING | BUILDING, then READY, or
  ERROR | CANCELED (with `errorCode`, `errorMessage`); `alias` holds the production domains
  once `aliasAssigned`. `DELETE /v13/deployments/{id}`.
- `POST /v10/projects` `{name, framework}` (409 when the name is taken), `GET`/`DELETE
  /v9/projects/{idOrName}` (DELETE answers 204, empty).
- `POST /v10/projects/{id}/env?upsert=true` `{key, value, type: "sensitive", target}`; sensitive
  variables cannot target `development`. `GET /v9/projects/{id}/env` lists them (`envs`, with
  `id` and `key`), `DELETE /v9/projects/{id}/env/{envId}` removes one. `POST /v10/projects/{id}/domains` `{name}`,
  `DELETE /v9/projects/{id}/domains/{domain}`.
- Errors are `{"error": {"code", "message"}}`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from deploykit.saas.http import ApiError, HttpClient, Service

__all__ = [
    "DEFAULT_URL",
    "TARGETS",
    "VERCEL",
    "Deployment",
    "Project",
    "VercelClient",
    "sha1",
    "team_query",
]

DEFAULT_URL = "https://api.vercel.com"
VERCEL = Service(
    "Vercel",
    "Create a token at https://vercel.com/account/tokens (scoped to the team, if any) and set it "
    "with `pulumi config set --secret deploykit:vercelToken <token>`.",
)
TARGETS = ["production", "preview"]  # sensitive variables cannot target development
PENDING_STATES = frozenset({"QUEUED", "INITIALIZING", "BUILDING"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Project(_Model):
    id: str
    name: str
    framework: str | None = None


class Deployment(_Model):
    id: str
    url: str
    ready_state: str = Field(alias="readyState")
    alias: list[str] = Field(default_factory=list)
    error_code: str | None = Field(default=None, alias="errorCode")
    error_message: str | None = Field(default=None, alias="errorMessage")

    @property
    def public_url(self) -> str:
        """The production domain once assigned (deployment URLs may sit behind Vercel
        Authentication; production domains do not under the default protection), else the
        deployment's own."""
        return f"https://{self.alias[0] if self.alias else self.url}"


def team_query(team: str) -> dict[str, str]:
    """`teamId` for a team id (`team_...`), `slug` for a slug, nothing for a personal account."""
    if not team:
        return {}
    return {"teamId": team} if team.startswith("team_") else {"slug": team}


def sha1(data: bytes) -> str:
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


class VercelClient:
    """The REST calls deploykit makes to Vercel, one method each."""

    def __init__(
        self,
        token: str,
        base_url: str = DEFAULT_URL,
        *,
        team: str = "",
        sleep: Callable[[float], None] = time.sleep,
        poll_interval: float = 5.0,
        poll_limit: int = 180,
    ) -> None:
        self._http = HttpClient(VERCEL, base_url, {"Authorization": f"Bearer {token}"}, sleep=sleep)
        self._team = team_query(team)
        self._sleep = sleep
        self._poll_interval = poll_interval
        self._poll_limit = poll_limit

    def __enter__(self) -> VercelClient:
        return self

    def __exit__(self, *_: object) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        params = {**self._team, **kwargs.pop("params", {})}
        response = self._http.request(method, path, params=params, **kwargs)
        return response.json() if response.content else None

    def create_project(self, name: str, framework: str | None) -> Project:
        body = {"name": name, "framework": framework}
        return Project.model_validate(self._call("POST", "/v10/projects", json=body))

    def get_project(self, project: str) -> Project:
        return Project.model_validate(self._call("GET", f"/v9/projects/{project}"))

    def delete_project(self, project: str) -> None:
        self._call("DELETE", f"/v9/projects/{project}")

    def set_variables(self, project: str, variables: Mapping[str, str]) -> None:
        """Each variable sensitive (never readable back), for production and preview."""
        for key, value in variables.items():
            body = {"key": key, "value": value, "type": "sensitive", "target": TARGETS}
            self._call("POST", f"/v10/projects/{project}/env", params={"upsert": "true"}, json=body)

    def remove_variables(self, project: str, keys: set[str]) -> None:
        """Delete the variables named `keys` (a service that no longer has them)."""
        listed = self._call("GET", f"/v9/projects/{project}/env")["envs"]
        for variable in listed:
            if variable["key"] in keys:
                self._call("DELETE", f"/v9/projects/{project}/env/{variable['id']}")

    def add_domain(self, project: str, domain: str) -> None:
        self._call("POST", f"/v10/projects/{project}/domains", json={"name": domain})

    def remove_domain(self, project: str, domain: str) -> None:
        self._call("DELETE", f"/v9/projects/{project}/domains/{domain}")

    def upload(self, data: bytes) -> str:
        """Send one file's bytes; its SHA1, by which a deployment names it."""
        digest = sha1(data)
        headers = {
            "Content-Type": "application/octet-stream",
            "x-vercel-digest": digest,
            "Content-Length": str(len(data)),
        }
        self._call("POST", "/v2/files", content=data, headers=headers, idempotent=True)
        return digest

    def deploy(
        self,
        project: Project,
        files: Mapping[str, bytes],
        *,
        framework: str | None,
        production: bool = True,
    ) -> Deployment:
        """Upload `files` (deployed path → bytes), create the deployment, wait until READY."""
        entries = [
            {"file": path, "sha": self.upload(data), "size": len(data)}
            for path, data in sorted(files.items())
        ]
        body: dict[str, Any] = {
            "name": project.name,
            "project": project.id,
            "files": entries,
            "projectSettings": {"framework": framework},
        }
        if production:
            body["target"] = "production"
        created = Deployment.model_validate(self._call("POST", "/v13/deployments", json=body))
        return self.wait_ready(created.id)

    def get_deployment(self, deployment_id: str) -> Deployment:
        return Deployment.model_validate(self._call("GET", f"/v13/deployments/{deployment_id}"))

    def wait_ready(self, deployment_id: str) -> Deployment:
        for _ in range(self._poll_limit):
            deployment = self.get_deployment(deployment_id)
            if deployment.ready_state == "READY":
                return deployment
            if deployment.ready_state not in PENDING_STATES:
                why = deployment.error_message or deployment.error_code or "no reason given"
                raise ApiError(
                    f"Vercel: deployment {deployment_id} ended {deployment.ready_state} ({why}); "
                    "read its build logs in the Vercel dashboard, fix the frontend, run again"
                )
            self._sleep(self._poll_interval)
        raise ApiError(
            f"Vercel: deployment {deployment_id} is not READY after "
            f"{self._poll_limit * self._poll_interval:.0f}s; check the Vercel dashboard"
        )

    def delete_deployment(self, deployment_id: str) -> None:
        self._call("DELETE", f"/v13/deployments/{deployment_id}")
