"""Frontends on Vercel: per frontend service a project (its variables sensitive, its domain) and a
production deployment of its files that must be READY; its URL is what smoke checks.

The tier deploys the frontend's files itself (deploykit.saas.vercel says why not a Git-connected
project): the bundle is `source` (a directory, deployed at the root) plus the `include` paths
(deployed at their own place), relative to the project directory. The files' SHA1s are inputs,
so a changed file is a new deployment (created, READY, then the old one deleted), and an
unchanged checkout changes nothing.

Both are dynamic providers, not pulumiverse-vercel: its plugin cannot be had where the engine
runs here, so only these run under the real engine and against the fake. The token is read by
the provider from `deploykit:vercelToken` (components.small.dynamic), never a resource input.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, ReadResult, UpdateResult

from components.small.dynamic import ApiProvider, changed, secret_outputs
from deploykit.errors import ConfigError
from deploykit.manifest.model import Manifest
from deploykit.saas.http import NotFound
from deploykit.saas.vercel import VERCEL, Project, VercelClient, sha1
from deploykit.small.services import frontend_services
from deploykit.stack.config import SmallConfig, VercelFrontend

__all__ = [
    "DeploymentProvider",
    "Frontends",
    "ProjectProvider",
    "VercelDeployment",
    "VercelProject",
    "bundle",
]

SKIPPED_DIRS = frozenset({"__pycache__", ".git"})
SKIPPED_SUFFIXES = frozenset({".pyc"})


class _VercelProvider(ApiProvider):
    service = VERCEL
    token_key = "vercelToken"

    def _client(self, team: str) -> VercelClient:
        return VercelClient(self.require_token(), self.api_url, team=team, **self.client_options)


class ProjectProvider(_VercelProvider):
    """A project, its variables (sensitive: Vercel never shows them again) and its domain."""

    replace_on = ("name", "team", "framework")
    update_on = ("variables", "domain")

    def create(self, props: dict[str, Any]) -> CreateResult:
        with self._client(props["team"]) as api:
            project = api.create_project(props["name"], props.get("framework"))
            api.set_variables(project.id, props["variables"])
            if props["domain"]:
                api.add_domain(project.id, props["domain"])
        return CreateResult(project.id, props)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with self._client(props["team"]) as api:
            try:
                project = api.get_project(id_)
            except NotFound:
                return ReadResult("", {})
        return ReadResult(id_, {**props, "name": project.name, "framework": project.framework})

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        with self._client(news["team"]) as api:
            if changed(olds, news, ("variables",)):
                api.set_variables(id_, news["variables"])
                api.remove_variables(id_, set(olds["variables"]) - set(news["variables"]))
            if changed(olds, news, ("domain",)):
                if olds.get("domain"):
                    with contextlib.suppress(NotFound):
                        api.remove_domain(id_, olds["domain"])
                if news["domain"]:
                    api.add_domain(id_, news["domain"])
        return UpdateResult(news)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        with self._client(props["team"]) as api, contextlib.suppress(NotFound):
            api.delete_project(id_)


class DeploymentProvider(_VercelProvider):
    """A production deployment of files, READY before `create` returns; new files replace it."""

    replace_on = ("project_id", "files", "framework")
    update_on = ()

    def create(self, props: dict[str, Any]) -> CreateResult:
        files = read_files(props["files"])
        project = Project(id=props["project_id"], name=props["project_name"])
        with self._client(props["team"]) as api:
            deployment = api.deploy(project, files, framework=props.get("framework"))
        return CreateResult(deployment.id, {**props, "url": deployment.public_url})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with self._client(props["team"]) as api:
            try:
                deployment = api.get_deployment(id_)
            except NotFound:
                return ReadResult("", {})
        if deployment.ready_state != "READY":
            return ReadResult("", {})  # a failed or canceled deployment serves nothing
        return ReadResult(id_, {**props, "url": deployment.public_url})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        with self._client(props["team"]) as api, contextlib.suppress(NotFound):
            api.delete_deployment(id_)


def read_files(files: Mapping[str, Mapping[str, Any]]) -> dict[str, bytes]:
    """The bundle's bytes, each checked against the SHA1 the plan was made with."""
    contents: dict[str, bytes] = {}
    for path, entry in files.items():
        data = Path(entry["source"]).read_bytes()
        if sha1(data) != entry["sha"]:
            raise ConfigError(
                f"{entry['source']} changed between the preview and the deployment; run again"
            )
        contents[path] = data
    return contents


class VercelProject(pulumi.dynamic.Resource, module="small", name="VercelProject"):
    """One Vercel project; `variables` are a secret map."""

    def __init__(
        self,
        resource_name: str,
        provider: ProjectProvider,
        *,
        project_name: str,
        team: str,
        frontend: VercelFrontend,
        variables: pulumi.Input[Mapping[str, str]],
        opts: pulumi.ResourceOptions,
    ) -> None:
        props = {
            "name": project_name,
            "team": team,
            "framework": frontend.framework,
            "domain": frontend.domain,
            "variables": pulumi.Output.secret(variables),
        }
        super().__init__(provider, resource_name, props, secret_outputs(opts, "variables"))


class VercelDeployment(pulumi.dynamic.Resource, module="small", name="VercelDeployment"):
    """A production deployment of a frontend's files; `url` is where it answers."""

    url: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        provider: DeploymentProvider,
        *,
        project: VercelProject,
        project_name: str,
        team: str,
        frontend: VercelFrontend,
        files: Mapping[str, Mapping[str, Any]],
        opts: pulumi.ResourceOptions,
    ) -> None:
        props = {
            "project_id": project.id,
            "project_name": project_name,
            "team": team,
            "framework": frontend.framework,
            "files": dict(files),
            "url": None,
        }
        super().__init__(provider, resource_name, props, opts)


class Frontends(pulumi.ComponentResource):
    """deploykit:small:Frontends, every Vercel frontend of the manifest deployed and answering."""

    def __init__(
        self,
        name: str,
        manifest: Manifest,
        settings: SmallConfig,
        env: Mapping[str, Mapping[str, pulumi.Input[str]]],
        opts: pulumi.ResourceOptions | None = None,
        *,
        root: Path,
    ) -> None:
        super().__init__("deploykit:small:Frontends", name, {}, opts)
        vercel = settings.vercel
        self.names = frontend_services(manifest, settings)
        projects = ProjectProvider(vercel.apiUrl)
        deployments = DeploymentProvider(vercel.apiUrl)
        self.projects: dict[str, VercelProject] = {}
        self.deployments: dict[str, VercelDeployment] = {}
        for service in self.names:
            frontend = vercel.frontends[service]
            project_name = f"{manifest.system}-{service}"
            self.projects[service] = VercelProject(
                f"{name}-{service}",
                projects,
                project_name=project_name,
                team=vercel.team,
                frontend=frontend,
                variables=pulumi.Output.all(**env[service]),
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.deployments[service] = VercelDeployment(
                f"{name}-{service}-deployment",
                deployments,
                project=self.projects[service],
                project_name=project_name,
                team=vercel.team,
                frontend=frontend,
                files=bundle(root, service, frontend),
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.urls = {s: self.url(s, vercel.frontends[s]) for s in self.names}
        self.register_outputs({"urls": self.urls})

    def url(self, service: str, frontend: VercelFrontend) -> pulumi.Output[str]:
        if frontend.domain:
            return pulumi.Output.from_input(f"https://{frontend.domain}")
        return self.deployments[service].url


def bundle(root: Path, service: str, frontend: VercelFrontend) -> dict[str, dict[str, Any]]:
    """The deployed path → {source, sha, size} of every file the frontend deploys."""
    where = f"deploykit:small.vercel.frontends.{service}"
    files: dict[str, dict[str, Any]] = {}

    def add(base: Path, path: Path, field: str) -> None:
        if not path.exists():
            raise ConfigError(f"{where}.{field}: {path} does not exist")
        for file in sorted([path] if path.is_file() else path.rglob("*")):
            skipped = SKIPPED_DIRS & set(file.parts) or file.suffix in SKIPPED_SUFFIXES
            if file.is_file() and not skipped:
                data = file.read_bytes()
                deployed = file.relative_to(base).as_posix()
                files[deployed] = {"source": str(file), "sha": sha1(data), "size": len(data)}

    source = (root / frontend.source).resolve()
    if not source.is_dir():
        raise ConfigError(f"{where}.source: {frontend.source} is not a directory under {root}")
    add(source, source, "source")
    for index, extra in enumerate(frontend.include):
        path = (root / extra).resolve()
        if not path.is_relative_to(root.resolve()):
            raise ConfigError(f"{where}.include[{index}]: {extra} is outside {root}")
        add(root.resolve(), path, f"include[{index}]")
    return files
