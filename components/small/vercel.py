"""Frontends on Vercel: a project per frontend service, its variables marked sensitive, its domain.

With pulumiverse-vercel (`vercel:index/project:Project`, `ProjectEnvironmentVariable` whose
`sensitive` "must be explicitly set", `ProjectDomain`). Sensitive variables cannot target the
`development` environment, so they target production and preview.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumiverse_vercel as vercel

from deploykit.manifest.model import Manifest
from deploykit.small.services import frontend_services
from deploykit.stack.config import VercelFrontend, VercelSettings

__all__ = ["Frontends"]

TARGETS = ["production", "preview"]


class Frontends(pulumi.ComponentResource):
    """deploykit:small:Frontends, every frontend service of the manifest as a Vercel project."""

    def __init__(
        self,
        name: str,
        manifest: Manifest,
        settings: VercelSettings,
        env: Mapping[str, Mapping[str, pulumi.Input[str]]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("deploykit:small:Frontends", name, {}, opts)
        self._name = name
        self._manifest = manifest
        self._settings = settings
        self.names = frontend_services(manifest, settings)
        self.provider = self.connect()
        self.projects = {f: self.create_project(f) for f in self.names}
        self.variables = {f: self.set_variables(f, env[f]) for f in self.names}
        self.domains = {f: self.add_domain(f) for f in self.names if self._frontend(f).domain}
        self.urls = {f: self.url(f) for f in self.names}
        self.register_outputs({"urls": self.urls})

    def _frontend(self, name: str) -> VercelFrontend:
        return self._settings.frontends.get(name, VercelFrontend())

    def _opts(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, provider=self.provider)

    def connect(self) -> vercel.Provider:
        token = pulumi.Config("vercel").require_secret("apiToken")
        return vercel.Provider(
            f"{self._name}-provider",
            api_token=token,
            team=self._settings.team or None,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def create_project(self, name: str) -> vercel.Project:
        frontend = self._frontend(name)
        repository = (
            vercel.ProjectGitRepositoryArgs(type="github", repo=frontend.repository)
            if frontend.repository
            else None
        )
        return vercel.Project(
            f"{self._name}-{name}",
            name=f"{self._manifest.system}-{name}",
            framework=frontend.framework or None,
            git_repository=repository,
            root_directory=frontend.rootDirectory or None,
            opts=self._opts(),
        )

    def set_variables(
        self, name: str, env: Mapping[str, pulumi.Input[str]]
    ) -> list[vercel.ProjectEnvironmentVariable]:
        project = self.projects[name]
        return [
            vercel.ProjectEnvironmentVariable(
                f"{self._name}-{name}-{key.lower().replace('_', '-')}",
                project_id=project.id,
                key=key,
                value=pulumi.Output.secret(value),
                sensitive=True,
                targets=TARGETS,
                opts=self._opts(),
            )
            for key, value in env.items()
        ]

    def add_domain(self, name: str) -> vercel.ProjectDomain:
        return vercel.ProjectDomain(
            f"{self._name}-{name}-domain",
            project_id=self.projects[name].id,
            domain=self._frontend(name).domain,
            opts=self._opts(),
        )

    def url(self, name: str) -> pulumi.Output[str]:
        if domain := self._frontend(name).domain:
            return pulumi.Output.from_input(f"https://{domain}")
        # Vercel's default production domain, when the project's name is still free there
        return self.projects[name].name.apply(lambda project: f"https://{project}.vercel.app")
