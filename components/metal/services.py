"""The manifest's services as systemd units on the `apps` hosts (`apps: systemd`): the code
bundle uploaded to each apps host, then per instance its unit and environment file, and the
archivers of the SQL copy (`backup.sql`) the same way (`deploykit.metal.services` decides them
all)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pulumi

from components.metal.inputs import ServicesArgs
from components.metal.remote import Hosts, RemoteStep
from deploykit.metal import services as plan
from deploykit.metal.bundle import build_bundle
from deploykit.metal.shell import put_file, remove_paths, script
from deploykit.metal.steps import UPLOAD_DIR, Upload
from deploykit.stack.config import Host

__all__ = ["SystemdApps", "SystemdAppsArgs"]

CLI_COMMAND = "python -m deploykit"
BUNDLE_CACHE = Path.home() / ".cache" / "deploykit" / "bundles"


@dataclass(frozen=True)
class SystemdAppsArgs(ServicesArgs):
    runner: Hosts
    project: Path
    with_cli: bool = False  # the bundle carries `python -m deploykit` (scheduled backups)


class SystemdApps(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: SystemdAppsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("deploykit:metal:SystemdApps", name, {}, opts)
        self.args, self.name = args, name
        hosts = args.settings.hosts_with("apps")
        self.instances = plan.instances(args.manifest, hosts)
        self.archivers = dict(
            zip(
                args.manifest.sql_archived(),
                plan.archiver_instances(args.manifest, hosts),
                strict=True,
            )
        )
        code = self.code = self._install_code(hosts)
        previous: dict[str, list[RemoteStep]] = {}
        for instance in self.instances:
            after = [code[instance.host.name], *previous.get(instance.service, [])[-1:]]
            service = args.manifest.services[instance.service]
            unit = plan.service_unit(args.manifest.system, instance, service.run.command or "")
            step = self._run_instance(instance, unit, self._environment(instance), after)
            previous.setdefault(instance.service, []).append(step)
        for bus, archiver in self.archivers.items():
            unit = plan.service_unit(args.manifest.system, archiver, plan.ARCHIVER_COMMAND)
            env = args.archiver_environment(bus).apply(plan.environment_file)
            self._run_instance(
                archiver, unit, pulumi.Output.secret(env), [code[archiver.host.name]]
            )
        units = [i.unit for i in [*self.instances, *self.archivers.values()]]
        self.register_outputs({"instances": units})

    def _install_code(self, hosts: Sequence[Host]) -> dict[str, RemoteStep]:
        """The bundle and the CA on every apps host."""
        commands = [s.run.command or "" for s in self.args.manifest.services.values()]
        commands += [CLI_COMMAND] if self.args.with_cli else []
        commands += [plan.ARCHIVER_COMMAND] if self.archivers else []
        system = self.args.manifest.system
        bundle = self.bundle = build_bundle(
            self.args.project, commands, BUNDLE_CACHE / f"{system}-apps.tar.gz"
        )
        target = f"{UPLOAD_DIR}/{system}-apps.tar.gz"
        steps = {}
        for host in hosts:
            placed = [*self.instances, *self.archivers.values()]
            units = [i.unit for i in placed if i.host == host]
            steps[host.name] = self.args.runner.run(
                f"{self.name}-{host.name}-code",
                host,
                script(
                    plan.install_code_script(target, bundle.digest[:16], units),
                    put_file(plan.CA_FILE, mode="0644"),
                ),
                self,
                delete=script(plan.remove_code_script(target), remove_paths(plan.CA_FILE)),
                stdin=self.args.ca_certificate,
                uploads=[Upload(str(bundle.path), target, bundle.digest)],
            )
        return steps

    def _environment(self, instance: plan.Instance) -> pulumi.Output[str]:
        service = self.args.manifest.services[instance.service]
        # a frontend answers on its host's private address (smoke and the monitoring reach it
        # there); processes default to loopback
        host = {"HOST": instance.host.private} if service.run.port else {}
        return pulumi.Output.secret(
            self.args.environment(instance.service).apply(
                lambda env: plan.environment_file({**service.run.env, **env, **host})
            )
        )

    def _run_instance(
        self,
        instance: plan.Instance,
        unit: str,
        environment: pulumi.Output[str],
        after: list[RemoteStep],
    ) -> RemoteStep:
        """Instances of one service one after another, so a new version rolls through them;
        the bundle's digest is a trigger: new code restarts every instance."""
        stdin = environment.apply(lambda env: plan.instance_stdin(unit, env))
        return self.args.runner.run(
            f"{self.name}-{instance.service}-{instance.number}",
            instance.host,
            plan.instance_script(instance),
            self,
            delete=plan.remove_instance_script(instance),
            stdin=stdin,
            triggers=[self.bundle.digest],
            depends_on=[*after, *self.args.depends_on],
        )
