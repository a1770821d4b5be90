"""What the local stack runs, decided from the manifest alone: pure, so it is tested exactly.

The plan names every process with its command line and environment, and the stack outputs a
client will read. Passwords come from the state (generated once, then reused).
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass

from deploykit.local.state import DevState
from deploykit.manifest import naming
from deploykit.manifest.model import Manifest, Role
from deploykit.manifest.wiring import archiver_wiring, wiring_for
from deploykit.stack.outputs import (
    DatabaseOutputs,
    NatsCredential,
    NatsOutputs,
    ObservabilityOutputs,
    ServiceOutput,
    StackOutputs,
)

__all__ = [
    "ServiceRun",
    "database_urls",
    "idle_services",
    "nats_users",
    "plan_archivers",
    "plan_outputs",
    "plan_services",
]


@dataclass(frozen=True)
class ServiceRun:
    name: str
    role: Role
    argv: tuple[str, ...]
    env: dict[str, str]
    port: int | None
    bus: str
    database: bool  # it needs PostgreSQL up before it starts


def nats_users(manifest: Manifest) -> dict[str, NatsCredential]:
    """Every NATS user of the system without passwords: services, then per-bus smoke,
    provisioning and backup users, the archivers (`backup.sql`), then the system user. Names
    follow `naming`."""
    users: dict[str, NatsCredential] = {}
    for name, service in manifest.services.items():
        users[name] = NatsCredential(
            account=naming.account(service.bus), role=service.role.value, service=name, user=name
        )
    for bus in manifest.buses:
        for user, role in (
            (naming.smoke_user(bus), "smoke"),
            (naming.provisioning_user(bus), "provisioning"),
            (naming.backup_user(bus), "backup"),
        ):
            users[user] = NatsCredential.model_validate(
                {"account": naming.account(bus), "role": role, "user": user}
            )
    for bus in manifest.sql_archived():
        user = naming.archiver_user(bus)
        users[user] = NatsCredential(account=naming.account(bus), role="archiver", user=user)
    users[naming.SYSTEM_USER] = NatsCredential(
        account=naming.SYSTEM_ACCOUNT, role="system", user=naming.SYSTEM_USER
    )
    return {
        name: cred.model_copy(update={"inbox_prefix": naming.inbox_prefix(name)})
        for name, cred in users.items()
    }


def database_urls(manifest: Manifest, state: DevState) -> dict[str, str]:
    """Database key → URL as its owner role, on the local PostgreSQL."""
    return {
        key: (
            f"postgresql://{manifest.database_owner(key)}:"
            f"{state.password('pg:' + manifest.database_owner(key))}"
            f"@127.0.0.1:{state.postgres_port}/{manifest.database_name(key)}"
        )
        for key in manifest.databases
    }


def plan_outputs(
    manifest: Manifest, state: DevState, nats_urls: list[str], monitor_urls: list[str]
) -> StackOutputs:
    credentials = {
        name: cred.model_copy(update={"password": state.password(f"nats:{name}")})
        for name, cred in nats_users(manifest).items()
    }
    services = [
        ServiceOutput(
            name=name,
            role=service.role.value,
            instances=1,
            endpoints={e: service.endpoint_subject(name, e) for e in service.endpoints},
            url=f"http://127.0.0.1:{state.frontend_ports[name]}"
            if name in state.frontend_ports
            else None,
            metrics_url=f"http://127.0.0.1:{state.metrics_ports[name]}/metrics"
            if name in state.metrics_ports
            else None,
        )
        for name, service in manifest.services.items()
    ]
    engine = next((db.engine for db in manifest.databases.values()), "postgres")
    return StackOutputs(
        target="local",
        system=manifest.system,
        nats=NatsOutputs(
            urls=nats_urls,
            cluster_size=state.nodes,
            monitor_urls=monitor_urls,
            credentials=credentials,
        ),
        database=DatabaseOutputs(
            engine="yugabyte" if engine == "yugabyte" else "postgres",
            admin_url=f"postgresql://postgres:{state.password('pg:postgres')}@127.0.0.1:{state.postgres_port}/postgres",
            urls=database_urls(manifest, state),
            archive_url=naming.archive_url(
                "127.0.0.1", state.postgres_port, state.password(f"pg:{naming.ARCHIVE_ROLE}")
            )
            if manifest.backup.sql
            else None,
        ),
        services=services,
        observability=ObservabilityOutputs(nats_monitor_urls=monitor_urls),
    )


def idle_services(manifest: Manifest) -> list[str]:
    """The services the local stack cannot run: the manifest gives them no `run.command`."""
    return [name for name, service in manifest.services.items() if not service.run.command]


def plan_services(manifest: Manifest, outputs: StackOutputs, state: DevState) -> list[ServiceRun]:
    """One process per service, run like a Procfile entry, with its own credentials only; then
    the archivers of the SQL copy (`backup.sql`), one per bus, as kit-owned processes."""
    runs = []
    urls = outputs.database.urls if outputs.database else {}
    for name, service in manifest.services.items():
        if not service.run.command:
            continue
        cred = outputs.credential(name)
        port = state.frontend_ports.get(name)
        env = naming.service_env(
            name,
            ",".join(outputs.nats.urls),
            cred.user or name,
            cred.password or "",
            database_url=urls.get(service.database) if service.database else None,
            port=port,
            wiring=wiring_for(manifest, name).model_dump_json(),
        )
        if name in state.metrics_ports:
            env["DEPLOYKIT_METRICS_ADDR"] = f"127.0.0.1:{state.metrics_ports[name]}"
        argv = tuple(shlex.split(service.run.command))
        if argv and argv[0] in ("python", "python3"):
            argv = (sys.executable, *argv[1:])
        env = {**service.run.env, **env}
        runs.append(
            ServiceRun(name, service.role, argv, env, port, service.bus, bool(service.database))
        )
    return runs + plan_archivers(manifest, outputs, state)


def plan_archivers(manifest: Manifest, outputs: StackOutputs, state: DevState) -> list[ServiceRun]:
    """`python -m deploykit.backup.archiver` per archived bus, as `archiver-<bus>`."""
    runs = []
    archive = outputs.database.archive_url if outputs.database else None
    for bus in manifest.sql_archived():
        name = naming.archiver_user(bus)
        cred = outputs.credential(name)
        env = naming.service_env(
            name,
            ",".join(outputs.nats.urls),
            name,
            cred.password or "",
            database_url=archive,
            wiring=archiver_wiring(manifest, bus).model_dump_json(),
        )
        if name in state.metrics_ports:
            env["DEPLOYKIT_METRICS_ADDR"] = f"127.0.0.1:{state.metrics_ports[name]}"
        argv = (sys.executable, "-m", "deploykit.backup.archiver")
        runs.append(ServiceRun(name, Role.WORKER, argv, env, None, bus, True))
    return runs
