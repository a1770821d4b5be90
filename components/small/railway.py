"""Services on Railway: a project and environment, one Railway service per rpc and worker service,
the SQL copy's archivers (`backup.sql`: long-running, the kit's command in the team's image),
and the scheduled backup job (a cron service) when the stack names a bucket.

Each service runs the manifest's container image with its replicas in the stack's region; its
variables (NATS creds, database URL, telemetry token) are one secret map, replaced as a whole and
deployed once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, ReadResult, UpdateResult

from components.small.dynamic import ApiProvider, changed, integral, secret_outputs
from deploykit.backup.sqlcopy import ARCHIVER_COMMAND
from deploykit.manifest.model import Manifest
from deploykit.saas.http import NotFound
from deploykit.saas.railway import RAILWAY, RailwayClient
from deploykit.small.backup import JOB, start_command
from deploykit.small.services import deployed_services
from deploykit.stack.config import RailwaySettings, SmallBackup

__all__ = [
    "Archivers",
    "BackupJob",
    "ProjectProvider",
    "RailwayProject",
    "RailwayService",
    "ServiceProvider",
    "Services",
]

PROVIDED = "RAILWAY_"


@dataclass(frozen=True)
class BackupJob:
    """The scheduled backup: its settings and its (secret) variables."""

    settings: SmallBackup
    env: Mapping[
        str, pulumi.Input[str]
    ]  # variables Railway sets on every service; not ours to compare


@dataclass(frozen=True)
class Archivers:
    """The SQL copy's archivers: the image they run, and each one's (secret) variables."""

    image: str
    env: Mapping[str, Mapping[str, pulumi.Input[str]]]  # archiver-<bus> → variables


class _RailwayProvider(ApiProvider):
    service = RAILWAY
    token_key = "railwayToken"

    def _client(self) -> RailwayClient:
        return RailwayClient(self.require_token(), self.api_url, **self.client_options)


class ProjectProvider(_RailwayProvider):
    """A Railway project whose first environment carries the configured name."""

    replace_on = ("workspace_id", "environment")
    update_on = ("name",)

    def create(self, props: dict[str, Any]) -> CreateResult:
        props = integral(props)
        with self._client() as api:
            project, environment_id = api.create_project(
                props["name"], props["workspace_id"], props["environment"]
            )
        return CreateResult(project.id, {**props, "environment_id": environment_id})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with self._client() as api:
            try:
                project = api.get_project(id_)
            except NotFound:
                return ReadResult("", {})
            environment_id = api.environment_id(id_, props["environment"])
        return ReadResult(id_, {**props, "name": project.name, "environment_id": environment_id})

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        news = integral(news)
        with self._client() as api:
            api.rename_project(id_, news["name"])
        return UpdateResult({**olds, **news})

    def delete(self, id_: str, _props: dict[str, Any]) -> None:
        with self._client() as api, contextlib.suppress(NotFound):
            api.delete_project(id_)


INSTANCE = ("image", "region", "replicas", "cron_schedule", "start_command")


def _job(props: dict[str, Any]) -> dict[str, Any]:
    """A cron job's schedule and command, as `update_instance` takes them (none: a service)."""
    return {
        "cron_schedule": props.get("cron_schedule"),
        "start_command": props.get("start_command"),
    }


class ServiceProvider(_RailwayProvider):
    """A service from a container image: replicas, variables, and a deployment that must succeed;
    with a cron schedule and a start command, a job Railway starts at those times."""

    replace_on = ("project_id", "environment_id")
    update_on = ("name", *INSTANCE, "variables")

    def create(self, props: dict[str, Any]) -> CreateResult:
        props = integral(props)
        project_id, environment_id = props["project_id"], props["environment_id"]
        regions = {props["region"]: props["replicas"]}
        with self._client() as api:
            service = api.create_service(project_id, environment_id, props["name"], props["image"])
            api.update_instance(environment_id, service.id, props["image"], regions, **_job(props))
            api.set_variables(project_id, environment_id, service.id, props["variables"])
            deployment = api.deploy(environment_id, service.id)
        return CreateResult(service.id, {**props, "deployment_id": deployment})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        project_id, environment_id = props["project_id"], props["environment_id"]
        with self._client() as api:
            try:
                service = api.get_service(id_)
                instance = api.get_instance(environment_id, id_)
                variables = api.get_variables(project_id, environment_id, id_)
            except NotFound:
                return ReadResult("", {})
        regions = instance.regions()
        region, replicas = next(iter(regions.items())) if len(regions) == 1 else (None, None)
        outs = {
            **props,
            "name": service.name,
            "image": instance.source.image if instance.source else None,
            "region": region,
            "replicas": replicas,
            "variables": {k: v for k, v in variables.items() if not k.startswith(PROVIDED)},
        }
        if "cron_schedule" in props:
            outs |= {
                "cron_schedule": instance.cron_schedule,
                "start_command": instance.start_command,
            }
        return ReadResult(id_, outs)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        news = integral(news)
        project_id, environment_id = news["project_id"], news["environment_id"]
        deployment = olds.get("deployment_id")
        with self._client() as api:
            if changed(olds, news, ("name",)):
                api.rename_service(id_, news["name"])
            if changed(olds, news, INSTANCE):
                # every other region the service runs in (ours before, or added by hand) goes
                deployed = api.get_instance(environment_id, id_).regions()
                regions: dict[str, int | None] = dict.fromkeys(deployed)
                regions[news["region"]] = news["replicas"]
                api.update_instance(environment_id, id_, news["image"], regions, **_job(news))
            if changed(olds, news, ("variables",)):
                api.set_variables(project_id, environment_id, id_, news["variables"])
            if changed(olds, news, (*INSTANCE, "variables")):
                deployment = api.deploy(environment_id, id_)
        return UpdateResult({**news, "deployment_id": deployment})

    def delete(self, id_: str, _props: dict[str, Any]) -> None:
        with self._client() as api, contextlib.suppress(NotFound):
            api.delete_service(id_)


class RailwayProject(pulumi.dynamic.Resource, module="small", name="RailwayProject"):
    """A Railway project and the id of its environment."""

    environment_id: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        provider: ProjectProvider,
        settings: RailwaySettings,
        project_name: str,
        opts: pulumi.ResourceOptions,
    ) -> None:
        props = {
            "name": project_name,
            "workspace_id": settings.workspaceId,
            "environment": settings.environment,
            "environment_id": None,
        }
        super().__init__(provider, resource_name, props, opts)


class RailwayService(pulumi.dynamic.Resource, module="small", name="RailwayService"):
    """One service, or with `job` (cron schedule, start command) a scheduled job, or with a job
    of no schedule a service running that command; `variables` are a secret map."""

    deployment_id: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        provider: ServiceProvider,
        project: RailwayProject,
        *,
        service_name: str,
        image: str,
        region: str,
        replicas: int,
        variables: pulumi.Input[Mapping[str, str]],
        opts: pulumi.ResourceOptions,
        job: tuple[str | None, str] | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "project_id": project.id,
            "environment_id": project.environment_id,
            "name": service_name,
            "image": image,
            "region": region,
            "replicas": replicas,
            "variables": pulumi.Output.secret(variables),
            "deployment_id": None,
        }
        if job is not None:
            props |= {"cron_schedule": job[0], "start_command": job[1]}
        super().__init__(provider, resource_name, props, secret_outputs(opts, "variables"))


class Services(pulumi.ComponentResource):
    """deploykit:small:Services, the rpc and worker services of the manifest on Railway."""

    def __init__(
        self,
        name: str,
        manifest: Manifest,
        settings: RailwaySettings,
        env: Mapping[str, Mapping[str, pulumi.Input[str]]],
        opts: pulumi.ResourceOptions | None = None,
        *,
        wait_for: Sequence[pulumi.Resource] = (),
        frontends: Sequence[str] = (),
        backup: BackupJob | None = None,
        archivers: Archivers | None = None,
    ) -> None:
        super().__init__("deploykit:small:Services", name, {}, opts)
        self._name = name
        self._manifest = manifest
        self.names = deployed_services(manifest, frontends)
        self._settings = settings
        self.project = self.create_project(settings)
        self.services = self.create_services(env, list(wait_for))
        self.archivers = self.run_archivers(archivers, list(wait_for))
        self.backup = self.schedule_backup(backup, list(wait_for))
        self.register_outputs({"project_id": self.project.id})

    def create_project(self, settings: RailwaySettings) -> RailwayProject:
        return RailwayProject(
            f"{self._name}-project",
            ProjectProvider(settings.apiUrl),
            settings,
            self._manifest.system,
            pulumi.ResourceOptions(parent=self),
        )

    def create_services(
        self, env: Mapping[str, Mapping[str, pulumi.Input[str]]], wait_for: list[pulumi.Resource]
    ) -> dict[str, RailwayService]:
        provider = ServiceProvider(self._settings.apiUrl)
        services: dict[str, RailwayService] = {}
        for name in self.names:
            service = self._manifest.services[name]
            services[name] = RailwayService(
                f"{self._name}-{name}",
                provider,
                self.project,
                service_name=name,
                image=str(service.run.image),
                region=self._settings.region,
                replicas=service.replicas,
                variables=pulumi.Output.all(**env[name]),
                opts=pulumi.ResourceOptions(parent=self, depends_on=wait_for),
            )
        return services

    def run_archivers(
        self, archivers: Archivers | None, wait_for: list[pulumi.Resource]
    ) -> dict[str, RailwayService]:
        """One long-running service per archiver, one replica: `python -m
        deploykit.backup.archiver` in the team's image."""
        if archivers is None:
            return {}
        provider = ServiceProvider(self._settings.apiUrl)
        return {
            name: RailwayService(
                f"{self._name}-{name}",
                provider,
                self.project,
                service_name=name,
                image=archivers.image,
                region=self._settings.region,
                replicas=1,
                variables=pulumi.Output.all(**env),
                job=(None, ARCHIVER_COMMAND),
                opts=pulumi.ResourceOptions(parent=self, depends_on=wait_for),
            )
            for name, env in archivers.env.items()
        }

    def schedule_backup(
        self, job: BackupJob | None, wait_for: list[pulumi.Resource]
    ) -> RailwayService | None:
        """The cron job running `deploykit backup` into the stack's bucket (deploykit.small.backup)."""
        if job is None:
            return None
        return RailwayService(
            f"{self._name}-{JOB}",
            ServiceProvider(self._settings.apiUrl),
            self.project,
            service_name=JOB,
            image=job.settings.image,
            region=self._settings.region,
            replicas=1,
            variables=pulumi.Output.all(**job.env),
            job=(job.settings.schedule, start_command(job.settings)),
            opts=pulumi.ResourceOptions(parent=self, depends_on=wait_for),
        )
