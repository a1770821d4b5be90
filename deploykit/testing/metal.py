"""The metal tier on test hosts, end to end, shared by tests/hosts/test_metal_e2e.py and
bench/metal.py (effectful): the hosts' keys as a known_hosts file, the artifacts folder
(fetched once, cached), the stack settings of a 3-host test stack, and `MetalRun`, which
drives the real `metal` program through the real engine phase by phase.

The test stack: NATS on all three hosts, PostgreSQL primary (node1) and replica (node2),
monitoring on node3, the reference apps as systemd units on all three, scheduled backups
into node1's backup folder (no S3: the hosts have no route out); Grafana and
Kubernetes off (neither can be had on these machines), every artifact from the uploaded
folder (the hosts have no route out).
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

from deploykit.manifest.naming import provisioning_user
from deploykit.metal.artifacts import INDEX_FILE
from deploykit.metal.fetch import fetch_artifacts
from deploykit.testing.engine import Engine, EngineStack
from deploykit.testing.hosts import Hosts, Recipe, ensure_rootfs

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js import JetStreamContext

T = TypeVar("T")

__all__ = [
    "ARTIFACTS",
    "E2E_RECIPE",
    "MetalRun",
    "Phases",
    "artifacts_folder",
    "known_hosts_file",
    "test_stack_settings",
]

ROOT = Path(__file__).resolve().parents[2]
# The apps run on the hosts' own Python 3 (Debian 12: 3.11, as the deploying machine's).
E2E_RECIPE = Recipe(extra=("python3",))
ARTIFACTS = [
    "nats-server",
    "postgresql",
    "pgbackrest",
    "prometheus-postgres-exporter",
    "prometheus-node-exporter",
    "prometheus",
]
UNITS = {
    "nats": "nats-server.service",
    "postgres": "deploykit-postgresql.service",
    "prometheus": "prometheus.service",
}


def known_hosts_file(hosts: Hosts, path: Path) -> Path:
    """A known_hosts file naming each host's address with the keys its sshd serves, read from
    the host's own filesystem (never trusted on first use)."""
    lines = []
    for host in hosts:
        for key in sorted((host.root / "etc/ssh").glob("ssh_host_*_key.pub")):
            kind, value = key.read_text().split()[:2]
            lines.append(f"{host.address} {kind} {value}")
    path.write_text("\n".join(lines) + "\n")
    return path


def artifacts_folder(cache: Path | None = None, report: Callable[[str], None] = print) -> Path:
    """The test stack's artifacts, fetched once into the cache (outside the repository)."""
    folder = (cache or Path.home() / ".cache" / "deploykit") / "metal-e2e" / "artifacts"
    index = folder / INDEX_FILE
    if index.is_file() and set(ARTIFACTS) <= set(json.loads(index.read_text())["artifacts"]):
        return folder
    base = ensure_rootfs(Recipe()) / "var/lib/dpkg/status"
    fetched = fetch_artifacts(folder, names=ARTIFACTS, base_status=base, report=report)
    if fetched.missing:
        raise RuntimeError(f"artifacts could not be fetched: {fetched.missing}")
    return folder


def test_stack_settings(
    hosts: Hosts, artifacts: Path, known_hosts: Path, **changes: Any
) -> dict[str, Any]:
    """`deploykit:metal` of the test stack; `changes` are laid over it (one level deep)."""
    roles = [
        ["nats", "database", "apps"],
        ["nats", "database", "apps"],
        ["nats", "monitoring", "apps"],
    ]
    settings: dict[str, Any] = {
        "hosts": [
            {"name": h.name, "address": h.address, "roles": r}
            for h, r in zip(hosts, roles, strict=True)
        ],
        "apps": "systemd",
        "artifacts": {"files": str(artifacts)},
        "database": {"clients": [f"{hosts.gateway}/32"]},
        "monitoring": {"grafana": False},
        # prometheus-nats-exporter: the Go module proxy refuses it here (403)
        "nats": {"syncInterval": "2m", "exporter": False},
        "sshKnownHosts": str(known_hosts),
        # one snapshot per stream kept: a second scheduled run shows the retention
        "backup": {"keep": 1},
    }
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(settings.get(key), dict):
            settings[key] = {**settings[key], **value}
        else:
            settings[key] = value
    return settings


@dataclass
class Phases:
    """Wall time of each phase, in order."""

    times: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            self.times[name] = time.monotonic() - start

    def report(self) -> str:
        width = max(len(n) for n in self.times)
        lines = [f"{name:<{width}}  {seconds:7.1f} s" for name, seconds in self.times.items()]
        return "\n".join([*lines, f"{'total':<{width}}  {sum(self.times.values()):7.1f} s"])


class MetalRun:
    """The `metal` program (components.program.deploy) on the test hosts, through `engine`."""

    def __init__(self, hosts: Hosts, engine: Engine, folder: Path, artifacts: Path) -> None:
        from components.program import deploy

        self.hosts, self.engine, self.folder = hosts, engine, folder
        self.known_hosts = known_hosts_file(hosts, folder / "known_hosts")
        self.manifest_path = folder / "deploykit.yaml"
        self.manifest_path.write_text((ROOT / "deploykit.yaml").read_text())
        self.artifacts = artifacts
        self._changes: dict[str, Any] = {}
        self.last_smoke: dict[str, Any] = {}
        self.settings = test_stack_settings(hosts, artifacts, self.known_hosts)
        self.stack: EngineStack = engine.stack(
            "metal-e2e",
            deploy,
            config={"deploykit:tier": "metal", "deploykit:manifest": str(self.manifest_path)},
            secrets={"deploykit:sshPrivateKey": hosts.key_path.read_text()},
        )
        self.apply_settings()

    # inputs -------------------------------------------------------------------------------

    def apply_settings(self, **changes: Any) -> None:
        self.settings = test_stack_settings(
            self.hosts, self.artifacts, self.known_hosts, **{**self._changes, **changes}
        )
        self._changes = {**self._changes, **changes}
        self.stack.set_config("deploykit:metal", json.dumps(self.settings))

    def edit_manifest(self, change: Callable[[dict[str, Any]], None]) -> None:
        data = yaml.safe_load(self.manifest_path.read_text())
        change(data)
        self.manifest_path.write_text(yaml.safe_dump(data, sort_keys=False))

    # phases -------------------------------------------------------------------------------

    def up(self) -> dict[str, int]:
        """`pulumi up`; the count of each kind of change."""
        changes = self.stack.up().summary.resource_changes or {}
        return {str(kind): count for kind, count in changes.items()}

    def expect_no_changes(self) -> None:
        self.stack.expect_no_changes()

    def destroy(self) -> None:
        self.stack.destroy()

    def outputs_file(self) -> Path:
        """The stack outputs, as `pulumi stack output --json --show-secrets` prints them, in a
        0600 file (they hold every password)."""
        path = self.folder / "outputs.json"
        path.touch(mode=0o600)
        path.chmod(0o600)
        document = self.stack.outputs()
        path.write_text(json.dumps(document, indent=2))
        return path

    def ca_file(self) -> Path:
        path = self.folder / "ca.pem"
        path.write_text(self.hosts.ssh(self.hosts[0], "cat /etc/nats/tls/ca.pem").stdout)
        return path

    def deploykit(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """The `deploykit` command against the stack (`--outputs` FILE, `--file` the manifest),
        trusting the stack's CA."""
        argv = [
            str(Path(sys.executable).parent / "deploykit"),
            *args,
            "--outputs",
            str(self.outputs_file()),
            "--file",
            str(self.manifest_path),
        ]
        return subprocess.run(
            argv,
            env={**os.environ, **self.engine.env, "SSL_CERT_FILE": str(self.ca_file())},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def smoke(self, timeout: float = 60) -> dict[str, str]:
        """`deploykit smoke --outputs FILE --json`: check name → status."""
        done = self.deploykit("smoke", "--json", "--timeout", str(timeout), timeout=timeout + 60)
        try:
            report = json.loads(done.stdout)
        except json.JSONDecodeError:
            raise AssertionError(f"smoke printed no JSON: {done.stdout}\n{done.stderr}") from None
        self.last_smoke = report
        return {r["name"]: r["status"] for r in report["checks"]}

    def start_unit(self, host_index: int, unit: str, timeout: float = 600) -> None:
        """`systemctl start` (a oneshot's returns when it finished); its journal on failure."""
        host = self.hosts[host_index]
        done = self.hosts.ssh(host, f"systemctl start {unit}", check=False, timeout=timeout)
        if done.returncode != 0:
            journal = self.hosts.ssh(
                host, f"journalctl -u {unit} -n 60 --no-pager", check=False
            ).stdout
            raise AssertionError(f"{host.name}: {unit} failed:\n{done.stderr}{journal}")

    def run_script(self, host_index: int, body: str, timeout: float = 600) -> str:
        """A bash script (`deploykit.metal` builds them) as root on the host; its stdout."""
        return self.hosts.ssh(
            self.hosts[host_index], "bash -euo pipefail -s", input=body, timeout=timeout
        ).stdout

    def delete_stream(self, bus: str, name: str) -> None:
        """Delete a stream as the bus's provisioning user (what a restore check created)."""
        asyncio.run(self._as_provisioning(bus, lambda js: js.delete_stream(name)))

    def stream_messages(self, bus: str, name: str) -> int:
        """How many messages a stream holds, read as the bus's provisioning user."""

        async def count(js: JetStreamContext) -> int:
            return (await js.stream_info(name)).state.messages

        return asyncio.run(self._as_provisioning(bus, count))

    async def _as_provisioning(
        self, bus: str, action: Callable[[JetStreamContext], Awaitable[T]]
    ) -> T:
        outputs = json.loads(self.outputs_file().read_text())
        nc = await _connect_as(outputs, self.ca_file(), provisioning_user(bus))
        try:
            return await action(nc.jetstream(timeout=10))
        finally:
            await nc.close()

    def pids(self) -> dict[str, int]:
        """MainPID of every unit the tier runs, per host."""
        found = {}
        for host in self.hosts:
            units = self.hosts.ssh(
                host,
                "systemctl list-units --no-legend --plain --state=running "
                "'nats-server.service' 'prometheus*.service' 'deploykit-*.service' "
                "| cut -d' ' -f1",
            ).stdout.split()
            for unit in units:
                found[f"{host.name}/{unit}"] = self.hosts.main_pid(host, unit)
        return found

    def wait_active(self, host_index: int, unit: str, not_pid: int, deadline: float = 120) -> int:
        """Until `unit` runs again with a MainPID other than `not_pid`; that pid."""
        host = self.hosts[host_index]
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            state = self.hosts.ssh(host, f"systemctl is-active {unit}", check=False).stdout
            pid = self.hosts.main_pid(host, unit)
            if state.strip() == "active" and pid not in (0, not_pid):
                return pid
            time.sleep(0.5)  # polling systemd's view of the unit, bounded by the deadline
        raise AssertionError(f"{host.name}: {unit} did not come back within {deadline}s")

    def leftovers(self) -> dict[str, list[str]]:
        """What the tier installed and is still on each host, file by file, unit by unit."""
        paths = [
            "/usr/local/bin/nats-server",
            "/usr/local/bin/prometheus-nats-exporter",
            "/etc/nats",
            "/etc/systemd/system/nats-server.service",
            "/etc/systemd/system/prometheus-nats-exporter.service",
            "/etc/systemd/system/deploykit-postgresql.service",
            "/etc/systemd/system/prometheus.service",
            "/etc/deploykit",
            "/etc/prometheus",
            "/opt/deploykit",
            "/usr/lib/postgresql",
            "/etc/default/prometheus-node-exporter",
            "/etc/default/prometheus-postgres-exporter",
            "/var/lib/deploykit",
            "/var/cache/deploykit",
            "/run/deploykit",
            "/usr/local/lib/deploykit",
            "/etc/pgbackrest",
        ]
        found: dict[str, list[str]] = {}
        for host in self.hosts:
            listing = self.hosts.ssh(
                host,
                f"for p in {' '.join(paths)}; do [ -e $p ] && echo $p; done; "
                "ls /etc/systemd/system | grep -E '^deploykit-' || true; "
                "systemctl list-units --all --no-legend --plain "
                "'nats-server*' 'deploykit-*' 'prometheus*' | cut -d' ' -f1; "
                "dpkg-query -W -f='${Package} ${Status}\\n' 'postgresql*' 'prometheus*' "
                "pgbackrest rclone "
                "2>/dev/null | grep ' installed$' | cut -d' ' -f1 || true",
                check=False,
            ).stdout.split()
            if listing:
                found[host.name] = listing
        return found

    def data_folders(self) -> dict[str, list[str]]:
        folders = [
            "/var/lib/nats",
            "/var/lib/postgresql/deploykit",
            "/var/lib/prometheus",
            "/var/backups/deploykit",
        ]
        return {
            host.name: self.hosts.ssh(
                host, f"for p in {' '.join(folders)}; do [ -d $p ] && echo $p; done", check=False
            ).stdout.split()
            for host in self.hosts
        }

    @contextmanager
    def publisher(self) -> Iterator[Publisher]:
        """A publisher of acknowledged messages to DEPLOYKIT_SMOKE (R3) as the smoke user, in
        its own thread, for as long as the block runs."""
        outputs = json.loads(self.outputs_file().read_text())
        publisher = Publisher(outputs, self.ca_file())
        publisher.start()
        try:
            yield publisher
        finally:
            publisher.stop()


async def _connect_as(outputs: dict[str, Any], ca: Path, user: str, **options: Any) -> Client:
    """`user` of the outputs' NATS over TLS, trusting the tier's CA."""
    import nats

    nats_out = outputs["nats"]
    credential = nats_out["credentials"][user]
    return await nats.connect(
        nats_out["urls"],
        tls=ssl.create_default_context(cafile=str(ca)),
        user=user,
        password=credential["password"],
        inbox_prefix=credential["inbox_prefix"],
        **options,
    )


class Publisher(threading.Thread):
    """Publishes numbered messages with message ids, one at a time, each awaiting its ack
    (retrying until acked); records the acknowledged sequence numbers and the longest wait."""

    def __init__(self, outputs: dict[str, Any], ca: Path) -> None:
        super().__init__(daemon=True)
        self.outputs, self.ca = outputs, ca
        self.acked: dict[int, int] = {}  # message number → stream sequence
        self.longest = 0.0
        self.errors = 0
        self._halt = threading.Event()
        self.failure: BaseException | None = None

    async def _connect(self, **options: Any) -> Client:
        """The smoke-core user, the one that may publish to the smoke stream."""
        user = next(n for n in self.outputs["nats"]["credentials"] if n.startswith("smoke-core"))
        return await _connect_as(self.outputs, self.ca, user, **options)

    def run(self) -> None:
        try:
            asyncio.run(self._publish())
        except BaseException as exc:  # reported by stop()
            self.failure = exc

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=60)
        if self.failure is not None:
            raise self.failure

    async def _publish(self) -> None:
        nc = await self._connect(max_reconnect_attempts=-1, reconnect_time_wait=0.2)
        js = nc.jetstream(timeout=0.5)  # a lost request is retried (same message id) soon
        number = 0
        try:
            while not self._halt.is_set():
                number += 1
                start = time.monotonic()
                while True:
                    try:
                        ack = await js.publish(
                            "deploykit.smoke.roll",
                            str(number).encode(),
                            headers={"Nats-Msg-Id": f"roll-{number}"},
                        )
                        break
                    except Exception:
                        self.errors += 1
                        if time.monotonic() - start > 60:
                            raise
                        await asyncio.sleep(0.05)  # retry pacing while a node restarts
                self.acked[number] = ack.seq
                self.longest = max(self.longest, time.monotonic() - start)
                await asyncio.sleep(0.01)
        finally:
            await nc.close()

    def lost(self) -> list[int]:
        """Acknowledged messages the stream no longer has (read back with a fresh connection)."""
        return asyncio.run(self._lost())

    async def _lost(self) -> list[int]:
        nc = await self._connect()
        js = nc.jetstream(timeout=5)
        missing = []
        try:
            for number, seq in self.acked.items():
                try:
                    message = await js.get_msg("DEPLOYKIT_SMOKE", seq)
                except Exception:
                    missing.append(number)
                    continue
                if message.data != str(number).encode():
                    missing.append(number)
        finally:
            await nc.close()
        return missing
