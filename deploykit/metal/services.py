"""The manifest's services as systemd units on the hosts with the role `apps` (stack setting
`apps: systemd`), for teams whose one to three servers do not need Kubernetes. Pure.

- Code: one bundle (`deploykit.metal.bundle`) of the project's packages and the third-party
  packages they import, uploaded to every apps host and unpacked under `CODE_DIR/<digest>`;
  `CODE_DIR/current` points at the one the units run.
- Instances: a service's replicas are spread over the apps hosts, round robin, each service
  starting one host further than the one before, so that two services of one replica each do
  not both land on the first host.
- The SQL copy (`backup.sql`): one archiver per archived bus, `deploykit-archiver-<bus>-1.service`,
  placed after the services' instances; it runs `python3 -m deploykit.backup.archiver` from the
  bundle (which then carries deploykit).
- Each instance: `deploykit-<service>-<n>.service` (Restart=on-failure, logs to the journal,
  SIGTERM to drain) with an environment file of its own (0600: its NATS password and database
  URL are in it). It restarts only when its unit, its environment or the code changed.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from deploykit.backup.sqlcopy import ARCHIVER_COMMAND
from deploykit.manifest.model import Manifest
from deploykit.manifest.naming import archiver_user
from deploykit.metal.shell import (
    PENDING_DIR,
    put_file,
    q,
    remove_paths,
    remove_units,
    restart_if_pending,
    script,
    system_user,
)
from deploykit.stack.config import Host

__all__ = [
    "APPS_USER",
    "ARCHIVER_COMMAND",
    "CA_FILE",
    "CODE_DIR",
    "PYTHON",
    "SANDBOX",
    "Instance",
    "archiver_instances",
    "environment_file",
    "install_code_script",
    "instance_script",
    "instance_stdin",
    "instances",
    "remove_code_script",
    "remove_instance_script",
    "service_unit",
]

APPS_USER = "deploykit-apps"
CODE_DIR = "/opt/deploykit/apps"
CONFIG_DIR = "/etc/deploykit/apps"
CA_FILE = f"{CONFIG_DIR}/ca.pem"
PYTHON = "/usr/bin/python3"


# The journal for output, and no way to gain privileges or write outside what the unit allows.
SANDBOX = (
    "StandardOutput=journal\n"
    "StandardError=journal\n"
    "NoNewPrivileges=true\n"
    "ProtectSystem=strict\n"
    "ProtectHome=true\n"
    "PrivateTmp=true\n"
)

METRICS_BASE_PORT = 9464  # the runtime's metrics page; instance i of a stack listens on base + i


@dataclass(frozen=True)
class Instance:
    service: str
    number: int
    host: Host
    index: int = 0  # its place among every instance of the stack: a port of its own per host

    @property
    def metrics_addr(self) -> str:
        """Loopback, one port per instance: several services share a host."""
        return f"127.0.0.1:{METRICS_BASE_PORT + self.index}"

    @property
    def unit(self) -> str:
        return f"deploykit-{self.service}-{self.number}.service"

    @property
    def env_file(self) -> str:
        return f"{CONFIG_DIR}/{self.service}-{self.number}.env"


def instances(manifest: Manifest, hosts: Sequence[Host]) -> list[Instance]:
    """Every replica of every service, placed on the apps hosts."""
    placed: list[Instance] = []
    for offset, (name, service) in enumerate(manifest.services.items()):
        for number in range(1, service.replicas + 1):
            host = hosts[(offset + number - 1) % len(hosts)]
            placed.append(Instance(name, number, host, len(placed)))
    return placed


def archiver_instances(manifest: Manifest, hosts: Sequence[Host]) -> list[Instance]:
    """One archiver per archived bus (`backup.sql`), continuing the services' round robin and
    their metrics ports."""
    first = len(instances(manifest, hosts))
    return [
        Instance(archiver_user(bus), 1, hosts[(first + i) % len(hosts)], first + i)
        for i, bus in enumerate(manifest.sql_archived())
    ]


def _command(command: str) -> str:
    """The manifest's command, with `python` meaning the host's Python 3."""
    argv = shlex.split(command)
    if argv and argv[0] in ("python", "python3"):
        argv[0] = PYTHON
    return shlex.join(argv)


def service_unit(system: str, instance: Instance, command: str) -> str:
    return (
        f"# Rendered by deploykit (deploykit/metal/services.py); do not edit.\n"
        "[Unit]\n"
        f"Description={system} {instance.service} #{instance.number} (deploykit)\n"
        "After=network-online.target\n"
        "Wants=network-online.target\n"
        "StartLimitIntervalSec=0\n"
        "\n"
        "[Service]\n"
        "Type=simple\n"
        f"User={APPS_USER}\n"
        f"Group={APPS_USER}\n"
        f"WorkingDirectory={CODE_DIR}/current\n"
        f"EnvironmentFile={instance.env_file}\n"
        f"Environment=PYTHONPATH={CODE_DIR}/current PYTHONUNBUFFERED=1 "
        f"SSL_CERT_FILE={CA_FILE} DEPLOYKIT_INSTANCE={instance.host.name}-{instance.number} "
        f"DEPLOYKIT_METRICS_ADDR={instance.metrics_addr}\n"
        f"ExecStart={_command(command)}\n"
        "KillSignal=SIGTERM\n"
        "TimeoutStopSec=30\n"
        "Restart=on-failure\n"
        "RestartSec=2\n"
        f"{SANDBOX}"
        "\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n"
    )


def _quoted(value: str) -> str:
    """A value as systemd's EnvironmentFile reads it back unchanged."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'


def environment_file(env: Mapping[str, str]) -> str:
    return "".join(f"{key}={_quoted(value)}\n" for key, value in sorted(env.items()))


def install_code_script(upload: str, digest: str, units: Sequence[str]) -> str:
    """Unpack the uploaded bundle (once per digest), point `current` at it, mark the host's
    instances for a restart when it changed, and keep only the bundle in use."""
    target = f"{CODE_DIR}/{digest}"
    marks = " ".join(q(f"{PENDING_DIR}/{unit}") for unit in units)
    return script(
        system_user(APPS_USER, CODE_DIR),
        f"install -d -m 0755 {CODE_DIR}",
        f"install -d -o root -g {APPS_USER} -m 0750 {CONFIG_DIR}",
        f"if [ ! -d {target} ]; then",
        f"rm -rf {target}.new && install -d {target}.new",
        f"tar -xzf {q(upload)} -C {target}.new",
        f"mv {target}.new {target}",
        "fi",
        f'if [ "$(readlink {CODE_DIR}/current || true)" != {target} ]; then',
        f"ln -sfn {target} {CODE_DIR}/current.new && mv -T {CODE_DIR}/current.new {CODE_DIR}/current",
        f"install -d {PENDING_DIR}",
        *([f"touch {marks}"] if units else []),
        "fi",
        f"find {CODE_DIR} -mindepth 1 -maxdepth 1 -type d ! -name {digest} -exec rm -rf {{}} +",
    )


def remove_code_script(upload: str) -> str:
    return script(
        remove_paths(CODE_DIR, CONFIG_DIR, upload),
        f"userdel {APPS_USER} >/dev/null 2>&1 || true",
    )


def instance_script(instance: Instance) -> str:
    """stdin: the unit, a line `---`, then the environment file."""
    return script(
        "umask 077",
        'bundle="$(mktemp)"',
        'cat > "$bundle"',
        'sed \'/^---$/,$d\' "$bundle" > "$bundle.unit"',
        'sed \'1,/^---$/d\' "$bundle" > "$bundle.env"',
        'rm -f "$bundle"',
        "(",
        put_file(f"/etc/systemd/system/{instance.unit}", pending=instance.unit),
        ') < "$bundle.unit"',
        "(",
        put_file(instance.env_file, mode="0640", group=APPS_USER, pending=instance.unit),
        ') < "$bundle.env"',
        'rm -f "$bundle.unit" "$bundle.env"',
        restart_if_pending(instance.unit),
    )


def instance_stdin(unit: str, env_file: str) -> str:
    return unit.rstrip("\n") + "\n---\n" + env_file


def remove_instance_script(instance: Instance) -> str:
    return script(remove_units(instance.unit), remove_paths(instance.env_file))
