"""The local stack's side effects: start what is not running, wait until ready, stop.

`up` is idempotent and recovers: stale pid files are cleaned, ports taken by someone else are
replaced by free ones, a changed NATS configuration is applied by reload, and whatever already
runs is left alone. `down` stops exactly the processes whose pid files it holds.

`up` starts what waits on nothing first, so that the waits overlap: PostgreSQL and the NATS
nodes at once (a restarted cluster's leaders are elected only 4 to 9 s after its start), then
the launcher of the Python services (launch.py: it imports the runtime for all of them
meanwhile), then it applies the JetStream definitions; the services are forked once what they
use answers, those with a database once it exists. Nothing waits on a fixed sleep.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploykit.errors import ConfigError, ProcessError
from deploykit.laws.authconf import render_accounts_block
from deploykit.laws.permissions import compile_authorization
from deploykit.local.launch import Launcher, Spec, forkable
from deploykit.local.nats import LocalNats, plan_local_cluster
from deploykit.local.plan import ServiceRun, idle_services, plan_outputs, plan_services
from deploykit.local.ports import free_ports, port_in_use
from deploykit.local.postgres import LocalPostgres
from deploykit.local.processes import Proc, tail
from deploykit.local.state import DevState, StateDir
from deploykit.manifest import naming
from deploykit.manifest.load import load_manifest
from deploykit.manifest.model import Manifest, Role
from deploykit.stack.outputs import StackOutputs

# nats-py and the reconciler are imported where they are used: `dev up` starts its servers
# first, and those imports (a few tenths of a second) happen while they settle

__all__ = ["LocalStack", "ProcessStatus"]

Report = Callable[[str], None]


@dataclass(frozen=True)
class ProcessStatus:
    name: str
    kind: str
    pid: int | None
    ports: tuple[int, ...]
    log: Path


class LocalStack:
    def __init__(self, root: Path, manifest_path: Path, report: Report = print) -> None:
        self.dir = StateDir(root)
        self.manifest_path = manifest_path
        self.report = report
        self.timings: dict[str, float] = {}  # seconds per step of the last `up`
        self._launcher: Launcher | None = None  # forks the Python services at their turn

    # -- up -----------------------------------------------------------------------------------

    def up(
        self,
        nodes: int = 3,
        nats_port: int | None = None,
        postgres_port: int | None = None,
        timeout: float = 60.0,
    ) -> StackOutputs:
        manifest = load_manifest(self.manifest_path)
        self.dir.create()
        state = self._state(manifest, nodes, nats_port, postgres_port)
        cluster = self._cluster(manifest, state)
        outputs = plan_outputs(
            manifest, state, cluster.urls, [n.monitor_url for n in cluster.nodes]
        )
        self.dir.save(state)

        postgres = LocalPostgres(
            self.dir.postgres_dir, state.postgres_port, state.password("pg:postgres")
        )
        idle = idle_services(manifest)
        if idle:
            self.report(
                f"• not run: {', '.join(idle)} (no run.command in {self.manifest_path.name}: "
                "nothing to start on this machine)"
            )
        runs: list[ServiceRun] = []

        def meanwhile() -> None:  # while the nodes start: what needs no server
            runs.extend(plan_services(manifest, outputs, state))
            self._launch(runs)
            import deploykit.jetstream  # noqa: F401  # nats-py: the command's largest import

        self.timings = {}
        try:
            with ThreadPoolExecutor(max_workers=1) as beside:
                # PostgreSQL does not depend on NATS: it starts (initdb on a first run) while
                # the cluster elects its meta leader and the JetStream definitions are applied;
                # the services' launcher imports meanwhile (launch.py), and those that use no
                # database are forked once JetStream is ready
                database = beside.submit(
                    self._step,
                    "postgres",
                    f"port {state.postgres_port}",
                    lambda: self._start_postgres(manifest, state, postgres),
                )
                self._step("nats", f"{nodes} node(s)", lambda: self._start_nats(cluster, meanwhile))
                self._step(
                    "jetstream",
                    "definitions",
                    lambda: self._apply_jetstream(manifest, outputs),
                )
                first = [r for r in runs if not r.database]
                then = [r for r in runs if r.database]
                self._step("services", _names(first), lambda: self._start_services(first))
                database.result()
            if then:
                self._step("db users", _names(then), lambda: self._start_services(then))
        finally:
            self._close_launcher()
        self._step(
            "ready",
            "discovery and health",
            lambda: self._wait_ready(outputs, runs, timeout),
        )
        self.dir.save_outputs(outputs.model_dump(mode="json"))
        return outputs

    def _step(self, name: str, what: str, action: Callable[[], str | None]) -> None:
        started = time.monotonic()
        detail = action()
        self.timings[name] = took = time.monotonic() - started
        self.report(f"✓ {name:<10} {detail or what} ({took:.2f}s)")

    def _state(
        self, manifest: Manifest, nodes: int, nats_port: int | None, postgres_port: int | None
    ) -> DevState:
        previous = self.dir.load()
        if previous and previous.nodes != nodes:
            raise ConfigError(
                f"the local stack in {self.dir.root} was made with {previous.nodes} NATS node(s); "
                f"run `deploykit dev down --wipe` to start afresh with {nodes}"
            )
        idle = set(idle_services(manifest))
        frontends = [
            n for n, s in manifest.services.items() if s.role is Role.FRONTEND and n not in idle
        ]
        state = previous or DevState(
            manifest=str(self.manifest_path),
            cluster_name=manifest.system,
            nodes=nodes,
            nats_ports=[],
            postgres_port=0,
        )
        ours = self._our_ports()
        if nats_port is not None:
            state.nats_ports = [nats_port, *free_ports(3 * nodes - 1)]
        elif not state.nats_ports or self._taken(state.nats_ports, ours):
            if state.nats_ports:
                self.report("• nats ports are taken by another process: choosing free ones")
            state.nats_ports = free_ports(3 * nodes)
        if postgres_port is not None:
            state.postgres_port = postgres_port
        elif not state.postgres_port or self._taken([state.postgres_port], ours):
            state.postgres_port = free_ports(1)[0]
        state.frontend_ports = {n: p for n, p in state.frontend_ports.items() if n in frontends}
        for name in frontends:  # only what runs has a port, and so a URL in the outputs
            if name not in state.frontend_ports or self._taken([state.frontend_ports[name]], ours):
                state.frontend_ports[name] = free_ports(1)[0]
        archivers = [naming.archiver_user(bus) for bus in manifest.sql_archived()]
        for name in [*manifest.services, *archivers]:
            if name not in state.metrics_ports or self._taken([state.metrics_ports[name]], ours):
                state.metrics_ports[name] = free_ports(1)[0]
        return state

    def _our_ports(self) -> set[int]:
        """Ports held by processes of this stack that are still running."""
        previous = self.dir.load()
        if previous is None:
            return set()
        ours: set[int] = set()
        cluster = self._layout(previous)
        if any(cluster.proc(n).pid() for n in cluster.nodes):
            ours |= set(previous.nats_ports)
        if self._postgres_proc().pid():
            ours.add(previous.postgres_port)
        for name, port in [*previous.frontend_ports.items(), *previous.metrics_ports.items()]:
            if self._service_proc(name).pid():
                ours.add(port)
        return ours

    @staticmethod
    def _taken(ports: list[int], ours: set[int]) -> bool:
        return any(p not in ours and p and port_in_use(p) for p in ports)

    def _layout(self, state: DevState) -> LocalNats:
        """The cluster's nodes, ports and files as `state` recorded them (no accounts)."""
        return plan_local_cluster(
            self.dir.nats_dir, state.nodes, name=state.cluster_name, ports=state.nats_ports
        )

    def _cluster(self, manifest: Manifest, state: DevState) -> LocalNats:
        authorization = compile_authorization(manifest)
        passwords = {user: state.password(f"nats:{user}") for user in authorization.users}
        cluster = self._layout(state)
        cluster.accounts = render_accounts_block(authorization, passwords)
        cluster.system_account = naming.SYSTEM_ACCOUNT
        return cluster

    def _start_nats(self, cluster: LocalNats, meanwhile: Callable[[], None]) -> str:
        """Start (or reload) the nodes, run `meanwhile` while they settle, wait until ready."""
        before = {n.name: _read(cluster.config_path(n)) for n in cluster.nodes}
        cluster.write_configs()
        started, reloaded = 0, 0
        for node in cluster.nodes:
            proc = cluster.proc(node)
            if proc.pid() is None:
                cluster.start_node(node)
                started += 1
            elif before[node.name] != _read(cluster.config_path(node)):
                proc.send(signal.SIGHUP)
                reloaded += 1
        meanwhile()
        cluster.wait_ready()
        if started:  # a restarted node's streams elect their leaders after /healthz passes:
            cluster.wait_led()  # the reconciler's reads would time out on them meanwhile
        kept = len(cluster.nodes) - started - reloaded
        return f"{len(cluster.nodes)} node(s): {started} started, {reloaded} reloaded, {kept} kept"

    def _start_postgres(self, manifest: Manifest, state: DevState, postgres: LocalPostgres) -> str:
        running = postgres.proc.pid() is not None
        postgres.start()
        by_owner: dict[str, list[str]] = {}
        for key in manifest.databases:
            by_owner.setdefault(manifest.database_owner(key), []).append(
                manifest.database_name(key)
            )

        def ensure(owner: str) -> None:  # one owner's role, then its databases, in order
            for name in by_owner[owner]:
                postgres.ensure_database(name, owner, state.password(f"pg:{owner}"))

        with ThreadPoolExecutor(max_workers=4) as each:  # a new database is mostly file writes
            tasks: list[Future[object]] = [each.submit(ensure, owner) for owner in by_owner]
            if manifest.backup.sql:  # roles of its own
                password = state.password(f"pg:{naming.ARCHIVE_ROLE}")
                tasks.append(each.submit(postgres.ensure_archive, password))
            for task in tasks:
                task.result()
        archive = " and the SQL copy" if manifest.backup.sql else ""
        return f"port {state.postgres_port}, {len(manifest.databases)} database(s){archive}, {'kept' if running else 'started'}"

    def _apply_jetstream(self, manifest: Manifest, outputs: StackOutputs) -> str:
        """Apply the definitions. A stream or consumer is created when its leader answers, so
        the services go at once: not after every follower is current too (`/healthz`), which
        took 2 to 3 s longer in one cold start out of five (followers learn their leader from
        its heartbeats). What a follower's lag can still cause, the runtime waits out: an emit
        is retried on "no responders" and on no answer, a consumer's creation on no answer."""
        from deploykit.jetstream import reconcile

        credentials = {
            bus: outputs.credential(naming.provisioning_user(bus)) for bus in manifest.buses
        }
        results = reconcile(
            ",".join(outputs.nats.urls),
            credentials,
            manifest,
            cluster_size=outputs.nats.cluster_size,  # known: we started it
        )
        steps = sum(len(r.done) for r in results.values())
        return f"{steps} change(s) on {len(results)} bus(es)" if steps else "no changes"

    def _service_proc(self, name: str) -> Proc:
        base = self.dir.services_dir
        return Proc(name, base / f"{name}.pid", base / f"{name}.log")

    def _postgres_proc(self) -> Proc:
        return LocalPostgres.proc_in(self.dir.postgres_dir)

    def _launch(self, runs: list[ServiceRun]) -> None:
        """Start the launcher of the Python services that are not running (launch.py): it
        imports while the servers settle and forks each one when `_start_services` says."""
        repo = self.manifest_path.resolve().parent
        base = _base_env()
        specs = [
            Spec(run.name, list(run.argv[1:]), env, str(repo), str(proc.log_file))
            for run in runs
            if forkable(run.argv, env := _service_env(run), base)
            and (proc := self._service_proc(run.name)).pid() is None
        ]
        if specs:
            self._launcher = Launcher(specs, base, repo, self.dir.services_dir / "launcher.log")

    def _close_launcher(self) -> None:
        """Services the launcher still holds (`up` failed before their turn) never run."""
        if self._launcher is not None:
            self._launcher.close()
            self._launcher = None

    def _start_services(self, runs: list[ServiceRun]) -> str:
        started = 0
        repo = self.manifest_path.resolve().parent
        for run in runs:
            proc = self._service_proc(run.name)
            if self._launcher is not None and run.name in self._launcher.names:
                pid = self._launcher.go(run.name)
                if pid is not None:
                    proc.adopt(pid)
                    started += 1
                    continue
            if proc.pid() is None:
                proc.start(run.argv, env=_service_env(run), cwd=repo)
                started += 1
        return f"{started} started, {len(runs) - started} kept"

    def _wait_ready(self, outputs: StackOutputs, runs: list[ServiceRun], timeout: float) -> str:
        deadline = time.monotonic() + timeout
        pending = {r.name for r in runs}
        asyncio.run(self._await_services(outputs, runs, pending, deadline))
        return f"{len(runs)} service(s) ready"

    async def _await_services(
        self,
        outputs: StackOutputs,
        runs: list[ServiceRun],
        pending: set[str],
        deadline: float,
    ) -> None:
        import nats

        connections = {}
        try:
            for bus in {r.bus for r in runs}:
                cred = outputs.credential(naming.smoke_user(bus))
                connections[bus] = await nats.connect(outputs.nats.urls, **cred.connect_options())
            while pending:
                waiting = [run for run in runs if run.name in pending]
                for run in waiting:
                    proc = self._service_proc(run.name)
                    if proc.pid() is None:
                        raise ProcessError(
                            f"service {run.name} exited before it was ready; last lines of "
                            f"{proc.log_file}:\n{tail(proc.log_file)}"
                        )
                # all at once: a round lasts one discovery wait, not one per service
                ready = await asyncio.gather(*(_ready(run, connections) for run in waiting))
                pending -= {run.name for run, yes in zip(waiting, ready, strict=True) if yes}
                if pending and time.monotonic() > deadline:
                    names = ", ".join(sorted(pending))
                    logs = "\n".join(
                        f"--- {n} ({self._service_proc(n).log_file}):\n{tail(self._service_proc(n).log_file, 10)}"
                        for n in sorted(pending)
                    )
                    raise ProcessError(f"not ready in time: {names}\n{logs}")
                if pending:
                    await asyncio.sleep(0.02)  # between rounds; a round waits on answers
        finally:
            for nc in connections.values():
                await nc.close()

    # -- down, status -------------------------------------------------------------------------

    def processes(self) -> list[tuple[str, str, Proc, tuple[int, ...]]]:
        """(name, kind, proc, ports) of everything this stack may have started."""
        state = self.dir.load()
        if state is None:
            return []
        items: list[tuple[str, str, Proc, tuple[int, ...]]] = []
        for name in sorted(p.stem for p in self.dir.services_dir.glob("*.pid")) + sorted(
            set(state.frontend_ports) - {p.stem for p in self.dir.services_dir.glob("*.pid")}
        ):
            port = state.frontend_ports.get(name)
            items.append((name, "service", self._service_proc(name), (port,) if port else ()))
        items.append(("postgres", "database", self._postgres_proc(), (state.postgres_port,)))
        cluster = self._layout(state)
        for i, node in enumerate(cluster.nodes):
            ports = (node.client_port, node.monitor_port) + (
                (node.cluster_port,) if state.nodes > 1 else ()
            )
            items.append((f"nats-{i + 1}", "nats", cluster.proc(node), ports))
        return items

    def status(self) -> list[ProcessStatus]:
        return [
            ProcessStatus(name, kind, proc.pid(), ports, proc.log_file)
            for name, kind, proc, ports in self.processes()
        ]

    def down(self, wipe: bool = False) -> list[str]:
        """Stop services first (they drain), then the database and NATS. Returns what stopped.

        `wipe` removes the folder only if it holds nothing but what `up` creates; with a state
        file too broken to name the processes, it stops every process a pid file records."""
        if wipe and (foreign := self.dir.foreign()):
            raise ConfigError(
                f"{self.dir.root} is not a local stack folder (it holds {', '.join(foreign[:3])}): "
                "nothing was stopped or removed"
            )
        try:
            items = self.processes()
        except ConfigError:
            if not wipe:
                raise
            items = [(p.name, "process", p, ()) for p in self.dir.recorded_processes()]
        stopped = []
        for name, kind, proc, _ in items:
            halted = (
                LocalPostgres(self.dir.postgres_dir, 0, "").stop()
                if kind == "database"
                else proc.stop()
            )
            if halted:
                stopped.append(name)
        if wipe:
            self.dir.wipe()
        return stopped


async def _ready(run: ServiceRun, connections: dict[str, Any]) -> bool:
    """A frontend answers `/healthz`; any other service answers NATS discovery (`$SRV.PING`).
    Asked as a request: until the service has subscribed, the server says "no responders" at
    once, so a round costs a round trip, not a timeout."""
    import nats.errors

    if run.role is Role.FRONTEND:
        return run.port is not None and await _healthz(run.port)
    try:
        await connections[run.bus].request(f"$SRV.PING.{run.name}", b"", timeout=1.0)
    except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
        return False
    return True


async def _healthz(port: int, timeout: float = 1.0) -> bool:
    """`GET /healthz` on loopback answers 200. One HTTP/1.0 exchange by hand: an HTTP client
    (its import and its TLS context) would cost `dev up` more CPU than all its probes."""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                writer.write(b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                status = await reader.readline()
            finally:
                writer.close()
    except (OSError, TimeoutError):
        return False
    return status.split(b" ")[1:2] == [b"200"]


def _names(runs: list[ServiceRun]) -> str:
    return ", ".join(r.name for r in runs) or "none"


def _service_env(run: ServiceRun) -> dict[str, str]:
    return {**_base_env(), **run.env}


def _base_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "PYTHONPATH", "VIRTUAL_ENV", "TMPDIR")
    return {k: os.environ[k] for k in keep if k in os.environ} | {"PYTHONUNBUFFERED": "1"}


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
