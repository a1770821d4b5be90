"""A fake Vercel REST API: projects, their variables and domains, files, deployments.

References (read 2026-12): vercel.com/docs/rest-api (`deployments/create-a-new-deployment`,
`deployments/upload-deployment-files`, `projects/*`), the official client vercel/vercel
`packages/client/src/upload.ts` (the `missing_files` refusal and its `missing` SHAs),
`deploy.ts` (errors as `{"error": {...}}`), `check-deployment-status.ts` and
`utils/ready-state.ts` (readyState, `aliasAssigned`), `funcs/projectsCreate.ts` (`POST
/v10/projects`: 200, or 400/401/402/403/409). What it holds clients to:
- `Authorization: Bearer <token>`, else 403 `forbidden`; `teamId` or `slug` must name the
  fake's team when it has one (a token of a team cannot act on a personal scope: 403).
- Errors are `{"error": {"code", "message"}}`; DELETE of a project answers 204, empty.
- Project names: at most 100 characters, lowercase letters, digits, `.`, `_`, `-`, never
  `---` (400 `bad_request`); a taken name is 409 `conflict`.
- Variables: listed without the values of sensitive ones; `key`, `value`, `type` and `target`
  required; `type` one of system, secret,
  encrypted, plain, sensitive; `sensitive` cannot target `development`; an existing key is
  400 `ENV_CONFLICT` unless `upsert=true`.
- `POST /v2/files` needs the SHA1 in `x-vercel-digest` (or `x-now-digest`), and the body must
  have it (400 otherwise).
- `POST /v13/deployments` needs `name`; each file `{file, sha, size}`; a SHA not uploaded is 400
  `missing_files` with `missing`. The deployment starts QUEUED and becomes BUILDING, then READY
  (or ERROR, `errorCode` BUILD_FAILED) as it is polled; production deployments get the
  project's `<name>.vercel.app` alias once READY.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from typing import Any

from deploykit.testing.fakes.server import FakeServer, Reply, Request, ids, json_reply

__all__ = ["FakeVercel"]

PROJECT_NAME = re.compile(r"^[a-z0-9._-]{1,100}$")
ENV_TYPES = {"system", "secret", "encrypted", "plain", "sensitive"}
ENV_TARGETS = {"production", "preview", "development"}
STATES = ["QUEUED", "BUILDING", "READY"]


def error(status: int, code: str, message: str, **extra: Any) -> Reply:
    return json_reply(status, {"error": {"code": code, "message": message, **extra}})


class FakeVercel(FakeServer):
    def __init__(self, token: str = "vercel-test-token", team: str = "") -> None:
        super().__init__()
        self.token = token
        self.team = team
        self.projects: dict[str, dict[str, Any]] = {}
        self.files: dict[str, bytes] = {}
        self.deployments: dict[str, dict[str, Any]] = {}
        self.fail_builds = False
        self._project_ids = ids("prj_fake")
        self._deployment_ids = ids("dpl_fake")
        self._env_ids = itertools.count(1)

    def handle(self, request: Request) -> Reply:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return error(403, "forbidden", "Not authorized", invalidToken=True)
        scope = request.query.get("teamId") or request.query.get("slug") or ""
        if scope != self.team:
            return error(403, "forbidden", "You don't have permission to access this scope")
        for pattern, handler in self._routes():
            match = re.fullmatch(pattern, f"{request.method} {request.path}")
            if match:
                reply: Reply = handler(request, *match.groups())
                return reply
        return error(404, "not_found", "The requested path was not found")

    def _routes(self) -> list[tuple[str, Any]]:
        return [
            (r"POST /v10/projects", self.create_project),
            (r"GET /v9/projects/([^/]+)", self.get_project),
            (r"DELETE /v9/projects/([^/]+)", self.delete_project),
            (r"POST /v10/projects/([^/]+)/env", self.add_env),
            (r"GET /v9/projects/([^/]+)/env", self.list_env),
            (r"DELETE /v9/projects/([^/]+)/env/([^/]+)", self.remove_env),
            (r"POST /v10/projects/([^/]+)/domains", self.add_domain),
            (r"DELETE /v9/projects/([^/]+)/domains/([^/]+)", self.remove_domain),
            (r"POST /v2/files", self.upload),
            (r"POST /v13/deployments", self.create_deployment),
            (r"GET /v13/deployments/([^/]+)", self.get_deployment),
            (r"DELETE /v13/deployments/([^/]+)", self.delete_deployment),
        ]

    def _project(self, id_or_name: str) -> dict[str, Any] | None:
        return self.projects.get(id_or_name) or next(
            (p for p in self.projects.values() if p["name"] == id_or_name), None
        )

    def create_project(self, request: Request) -> Reply:
        body = request.json()
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str):
            return error(400, "bad_request", "Invalid request: missing required property `name`.")
        if not PROJECT_NAME.match(name) or "---" in name:
            return error(
                400,
                "bad_request",
                "Project names can be up to 100 characters long and must be lowercase. They can "
                "include letters, digits, and the following characters: '.', '_', '-'. However, "
                "they cannot contain the sequence '---'.",
            )
        if self._project(name):
            return error(409, "conflict", f"A project with the name {name} already exists.")
        framework = body.get("framework")
        if framework is not None and not isinstance(framework, str):
            return error(400, "bad_request", "`framework` should be string or null")
        project_id = next(self._project_ids)
        project: dict[str, Any] = {
            "id": project_id,
            "name": name,
            "framework": framework,
            "env": [],
            "domains": [],
        }
        self.projects[project_id] = project
        return json_reply(200, project)

    def get_project(self, _request: Request, id_or_name: str) -> Reply:
        project = self._project(id_or_name)
        if project is None:
            return error(404, "not_found", "Project not found")
        return json_reply(200, project)

    def delete_project(self, _request: Request, id_or_name: str) -> Reply:
        project = self._project(id_or_name)
        if project is None:
            return error(404, "not_found", "Project not found")
        del self.projects[project["id"]]
        return Reply(204)

    def add_env(self, request: Request, id_or_name: str) -> Reply:
        project = self._project(id_or_name)
        if project is None:
            return error(404, "not_found", "Project not found")
        body = request.json()
        for field in ("key", "value", "type", "target"):
            if field not in body:
                return error(
                    400, "bad_request", f"Invalid request: missing required property `{field}`."
                )
        if body["type"] not in ENV_TYPES:
            return error(400, "bad_request", f"`type` should be one of {sorted(ENV_TYPES)}")
        targets = body["target"]
        if not isinstance(targets, list) or not set(targets) <= ENV_TARGETS:
            return error(400, "bad_request", f"`target` should be a list of {sorted(ENV_TARGETS)}")
        if body["type"] == "sensitive" and "development" in targets:
            return error(
                400,
                "bad_request",
                "Sensitive Environment Variables cannot be created in the Development target",
            )
        existing = [e for e in project["env"] if e["key"] == body["key"]]
        if existing and request.query.get("upsert") != "true":
            return error(
                400,
                "ENV_CONFLICT",
                f"A variable with the name `{body['key']}` already exists for the target",
            )
        project["env"] = [e for e in project["env"] if e["key"] != body["key"]]
        variable = {"id": f"env{next(self._env_ids)}", **body}
        project["env"].append(variable)
        return json_reply(201, {"created": {k: v for k, v in variable.items() if k != "value"}})

    def list_env(self, _request: Request, id_or_name: str) -> Reply:
        project = self._project(id_or_name)
        if project is None:
            return error(404, "not_found", "Project not found")
        # sensitive values are never shown again
        envs = [
            {**e, "value": "" if e["type"] == "sensitive" else e["value"]} for e in project["env"]
        ]
        return json_reply(200, {"envs": envs})

    def remove_env(self, _request: Request, id_or_name: str, env_id: str) -> Reply:
        project = self._project(id_or_name)
        if project is None or not any(e["id"] == env_id for e in project["env"]):
            return error(404, "not_found", "Environment Variable not found")
        project["env"] = [e for e in project["env"] if e["id"] != env_id]
        return json_reply(200, {"id": env_id})

    def add_domain(self, request: Request, id_or_name: str) -> Reply:
        project = self._project(id_or_name)
        if project is None:
            return error(404, "not_found", "Project not found")
        name = request.json().get("name")
        if not isinstance(name, str) or "." not in name:
            return error(400, "bad_request", "Invalid request: `name` should be a domain")
        project["domains"].append(name)
        return json_reply(200, {"name": name, "projectId": project["id"], "verified": True})

    def remove_domain(self, _request: Request, id_or_name: str, domain: str) -> Reply:
        project = self._project(id_or_name)
        if project is None or domain not in project["domains"]:
            return error(404, "not_found", "Domain not found")
        project["domains"].remove(domain)
        return json_reply(200, {})

    def upload(self, request: Request) -> Reply:
        digest = request.headers.get("x-vercel-digest") or request.headers.get("x-now-digest")
        if not digest:
            return error(400, "missing_digest", "Missing `x-vercel-digest` header")
        if hashlib.sha1(request.body).hexdigest() != digest:
            return error(400, "invalid_digest", "The file's SHA1 does not match x-vercel-digest")
        self.files[digest] = request.body
        return json_reply(200, {})

    def create_deployment(self, request: Request) -> Reply:
        body = request.json()
        if not isinstance(body.get("name"), str):
            return error(400, "bad_request", "Invalid request: missing required property `name`.")
        files = body.get("files")
        if not isinstance(files, list) or not files:
            return error(400, "bad_request", "Invalid request: `files` should be a non-empty list")
        for entry in files:
            if not {"file", "sha"} <= set(entry):
                return error(400, "bad_request", "Invalid request: each file needs `file`, `sha`")
        missing = sorted({f["sha"] for f in files if f["sha"] not in self.files})
        if missing:
            return error(400, "missing_files", "Missing files", missing=missing)
        project = self._project(body.get("project") or body["name"])
        if project is None:
            return error(404, "not_found", "Project not found")
        deployment_id = next(self._deployment_ids)
        deployment = {
            "id": deployment_id,
            "name": body["name"],
            "projectId": project["id"],
            "url": f"{body['name']}-{deployment_id[-4:]}.vercel.app",
            "readyState": "QUEUED",
            "target": body.get("target"),
            "alias": [],
            "aliasAssigned": None,
            "files": {f["file"]: self.files[f["sha"]] for f in files},
            "_polls": 0,
        }
        self.deployments[deployment_id] = deployment
        return json_reply(200, self._public(deployment))

    def get_deployment(self, _request: Request, deployment_id: str) -> Reply:
        deployment = self.deployments.get(deployment_id)
        if deployment is None:
            return error(404, "not_found", "Deployment not found")
        if deployment["readyState"] in ("QUEUED", "BUILDING"):
            deployment["_polls"] += 1
            if self.fail_builds and deployment["_polls"] > 1:
                deployment.update(
                    readyState="ERROR", errorCode="BUILD_FAILED", errorMessage="Build failed"
                )
            else:
                deployment["readyState"] = STATES[min(deployment["_polls"], 2)]
            if deployment["readyState"] == "READY" and deployment["target"] == "production":
                project = self.projects[deployment["projectId"]]
                deployment.update(alias=[f"{project['name']}.vercel.app"], aliasAssigned=1)
        return json_reply(200, self._public(deployment))

    def delete_deployment(self, _request: Request, deployment_id: str) -> Reply:
        if self.deployments.pop(deployment_id, None) is None:
            return error(404, "not_found", "Deployment not found")
        return json_reply(200, {"uid": deployment_id, "state": "DELETED"})

    @staticmethod
    def _public(deployment: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in deployment.items() if k not in ("files", "_polls")}
