"""NATS on the hosts: one node per `nats` host, its unit, and the scripts that install it,
apply a configuration (validate, then reload) and restart it (lame duck, one node at a time).

The configuration itself is the kit's one template (`deploykit.configs.nats`), so what runs on the
VMs is what `deploykit dev` runs on a laptop; only addresses, paths and TLS differ.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from deploykit.configs.nats import NatsNode, NatsTls, cluster_nodes
from deploykit.configs.templates import render
from deploykit.manifest.units import parse_duration
from deploykit.metal import layout
from deploykit.metal.shell import (
    PENDING_DIR,
    ensure_packages,
    http_ok,
    install_release,
    put_file,
    q,
    remove_paths,
    remove_units,
    restart_if_pending,
    script,
    system_user,
    wait_until,
    when_changed,
)
from deploykit.stack.config import Host, MetalNats

__all__ = [
    "EXPORTER_UNIT",
    "UNIT",
    "NatsPorts",
    "apply_config_script",
    "exporter_unit",
    "health_gate_script",
    "install_exporter_script",
    "install_server_script",
    "nats_nodes",
    "nats_unit",
    "remove_config_script",
    "server_name",
    "uninstall_script",
]

USER = "nats"
RELEASES = "https://github.com/nats-io"
UNIT = "nats-server.service"
EXPORTER_UNIT = "prometheus-nats-exporter.service"


@dataclass(frozen=True)
class NatsPorts:
    client: int = layout.NATS_CLIENT_PORT
    monitor: int = layout.NATS_MONITOR_PORT
    cluster: int = layout.NATS_CLUSTER_PORT


def server_name(system: str, host: Host) -> str:
    """Named after the host, not its position, so reordering hosts renames no server."""
    return f"{system}-{host.name}"


def nats_nodes(
    system: str,
    hosts: Sequence[Host],
    settings: MetalNats,
    *,
    tls: bool = True,
    client_host: str = "0.0.0.0",
    ports: Sequence[NatsPorts] | None = None,
    roots: Sequence[str] | None = None,
) -> list[NatsNode]:
    """One node per host: routes and monitoring on the private address, clients on
    `client_host` (all interfaces: TLS and a password are required of every client).

    `ports` and `roots` (a prefix for every path) place several nodes on one machine, which is
    how the tests start this very configuration on loopback."""
    ports = ports or [NatsPorts()] * len(hosts)
    roots = roots or [""] * len(hosts)
    nodes = cluster_nodes(
        system,
        [h.private for h in hosts],
        client_ports=[p.client for p in ports],
        monitor_ports=[p.monitor for p in ports],
        cluster_ports=[p.cluster for p in ports],
        store_dirs=[root + layout.NATS_STORE for root in roots],
        max_memory_store=settings.maxMemoryStore,
        max_file_store=settings.maxFileStore,
        sync_interval=settings.syncInterval,
    )
    return [
        dataclasses.replace(
            node,
            name=server_name(system, host),
            client_host=client_host,
            pid_file=root + layout.NATS_PID_FILE,
            tls=(
                NatsTls(
                    cert_file=f"{root}{layout.NATS_TLS_DIR}/host.pem",
                    key_file=f"{root}{layout.NATS_TLS_DIR}/host.key",
                    ca_file=f"{root}{layout.NATS_TLS_DIR}/ca.pem",
                )
                if tls
                else None
            ),
        )
        for node, host, root in zip(nodes, hosts, roots, strict=True)
    ]


def nats_unit(node: NatsNode, binary: str = layout.NATS_BINARY) -> str:
    """The systemd unit; it stops in lame-duck mode and waits for the server to finish."""
    lame_duck = parse_duration(node.lame_duck_duration) + parse_duration(
        node.lame_duck_grace_period
    )
    return render(
        "systemd/nats-server.service.j2",
        node=node,
        user=USER,
        binary=binary,
        config=layout.NATS_CONFIG,
        stop_timeout=int(lame_duck) + 30,
    )


def exporter_unit(node: NatsNode, binary: str = layout.NATS_EXPORTER_BINARY) -> str:
    return render(
        "systemd/prometheus-nats-exporter.service.j2",
        node=node,
        user=USER,
        binary=binary,
        listen_host=node.monitor_host,
        port=layout.NATS_EXPORTER_PORT,
    )


def install_server_script(version: str, install: str = "") -> str:
    """The official nats-server release, unless that version is already installed, or the
    stack's artifact (`install`, a script). Replacing the binary does not touch the running
    server; it marks it for the restart its node's configuration step does in turn."""
    prepare = [
        system_user(USER, layout.NATS_STORE),
        f"install -d -o {USER} -g {USER} -m 0750 {layout.NATS_STORE}",
        f"install -d -o root -g {USER} -m 0750 /etc/nats {layout.NATS_TLS_DIR}",
    ]
    if install:
        return script(*prepare, when_changed(layout.NATS_BINARY, UNIT, install))
    download = install_release(
        f"{RELEASES}/nats-server/releases/download/v{version}",
        f"nats-server-v{version}-linux-$(dpkg --print-architecture)",
        "SHA256SUMS",
        {"nats-server": layout.NATS_BINARY},
    )
    return script(
        ensure_packages(["ca-certificates", "curl"]),
        system_user(USER, layout.NATS_STORE),
        f"install -d -o {USER} -g {USER} -m 0750 {layout.NATS_STORE}",
        f"install -d -o root -g {USER} -m 0750 /etc/nats {layout.NATS_TLS_DIR}",
        f'if [ "$({layout.NATS_BINARY} --version 2>/dev/null)" != "nats-server: v{version}" ]; then',
        download,
        f"install -D -m 0644 /dev/null {PENDING_DIR}/{UNIT}",
        "fi",
    )


def install_exporter_script(version: str, install: str = "") -> str:
    if install:
        return when_changed(layout.NATS_EXPORTER_BINARY, EXPORTER_UNIT, install) + "\n"
    arch = '$(dpkg --print-architecture | sed "s/amd64/x86_64/")'
    download = install_release(
        f"{RELEASES}/prometheus-nats-exporter/releases/download/v{version}",
        f"prometheus-nats-exporter-v{version}-linux-{arch}",
        "checksums.txt",
        {"prometheus-nats-exporter": layout.NATS_EXPORTER_BINARY},
    )
    return script(
        f'if ! {layout.NATS_EXPORTER_BINARY} -version 2>&1 | grep -q "{version}"; then',
        download,
        f"install -D -m 0644 /dev/null {PENDING_DIR}/{EXPORTER_UNIT}",
        "fi",
    )


def uninstall_script(destroy_data: bool) -> str:
    """What `install_*_script` put on the host goes; the JetStream store (and the `nats` user
    that owns it) only with `destroy_data`."""
    data = [remove_paths(layout.NATS_STORE), f"userdel {USER} >/dev/null 2>&1 || true"]
    return script(
        remove_paths(layout.NATS_BINARY, layout.NATS_EXPORTER_BINARY, "/etc/nats"),
        *(data if destroy_data else []),
    )


def apply_config_script(exporter: bool = True) -> str:
    """Install the configuration on stdin once `nats-server -t` accepts it, then start the
    server, or restart it if its configuration, unit or binary changed (the unit's ExecStop
    puts it in lame-duck mode first); an unchanged server is left running."""
    check = f"{layout.NATS_BINARY} -t -c {{file}}"
    return script(
        put_file(layout.NATS_CONFIG, mode="0640", group=USER, check=check, pending=UNIT),
        restart_if_pending(UNIT),
        restart_if_pending(EXPORTER_UNIT) if exporter else "",
    )


def remove_config_script() -> str:
    """Stop the server and its exporter for good (lame duck), remove units and configuration."""
    return script(remove_units(EXPORTER_UNIT, UNIT), remove_paths(layout.NATS_CONFIG))


def health_gate_script(node: NatsNode, peers: Sequence[NatsNode], timeout: int = 300) -> str:
    """Wait until this server runs JetStream (`/healthz?js-enabled-only=true`). If a peer is
    already up the cluster exists, so also wait for the full `/healthz` (meta group and every
    replicated asset current) before anything goes on: the next node's restart, or any client.
    The first node of a new cluster has no peer up yet and so cannot deadlock waiting for one."""
    health = f"{node.monitor_url}/healthz"
    peer_checks = " || ".join(
        http_ok(f"{peer.monitor_url}/healthz?js-enabled-only=true") for peer in peers
    )
    lines = [
        wait_until(
            http_ok(f"{health}?js-enabled-only=true"),
            timeout,
            f"{node.name}: JetStream not enabled",
        )
    ]
    if peers:
        lines += [
            f"if {peer_checks}; then",
            wait_until(http_ok(health), timeout, f"{node.name}: not current with its cluster"),
            "fi",
        ]
    lines.append(f"echo {q(node.name + ' healthy')}")
    return script(*lines)
