"""The shape of a NATS cluster: one `NatsNode` per server, and its rendered configuration.

Pure: it decides ports, routes and names; starting processes is `localnats.py`'s job and
installing on VMs is the metal tier's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from deploykit.configs.templates import render

__all__ = ["NatsNode", "NatsTls", "cluster_nodes", "render_node_config"]


@dataclass(frozen=True)
class NatsTls:
    cert_file: str
    key_file: str
    ca_file: str


@dataclass(frozen=True)
class NatsNode:
    name: str
    client_port: int
    monitor_port: int
    store_dir: str
    client_host: str = "127.0.0.1"
    monitor_host: str = "127.0.0.1"
    cluster_name: str = "deploykit"
    cluster_host: str = "127.0.0.1"
    cluster_port: int = 0
    routes: tuple[str, ...] = ()
    pid_file: str = ""
    max_memory_store: int = 256 * 1024**2
    max_file_store: int = 2 * 1024**3
    max_payload: int = 1024**2
    sync_interval: str = "2m"
    lame_duck_duration: str = "30s"
    lame_duck_grace_period: str = "10s"
    tls: NatsTls | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def client_url(self) -> str:
        return f"nats://{self.client_host}:{self.client_port}"

    @property
    def monitor_url(self) -> str:
        return f"http://{self.monitor_host}:{self.monitor_port}"


def cluster_nodes(
    name: str,
    hosts: list[str],
    client_ports: list[int],
    monitor_ports: list[int],
    cluster_ports: list[int],
    store_dirs: list[str],
    **settings: Any,
) -> list[NatsNode]:
    """One node per host; each routes to every other node (a full mesh, as the docs advise)."""
    size = len(hosts)
    nodes = []
    for i in range(size):
        routes = (
            tuple(f"nats-route://{hosts[j]}:{cluster_ports[j]}" for j in range(size) if j != i)
            if size > 1
            else ()
        )
        nodes.append(
            NatsNode(
                name=f"{name}-{i + 1}",
                client_host=hosts[i],
                monitor_host=hosts[i],
                cluster_host=hosts[i],
                client_port=client_ports[i],
                monitor_port=monitor_ports[i],
                cluster_port=cluster_ports[i],
                cluster_name=name,
                routes=routes,
                store_dir=store_dirs[i],
                **settings,
            )
        )
    return nodes


def render_node_config(
    node: NatsNode, accounts: dict[str, Any] | None = None, system_account: str = "SYS"
) -> str:
    """nats-server.conf for one node; `accounts` is the permission compiler's accounts block."""
    return render(
        "nats/nats-server.conf.j2",
        node=node,
        accounts=accounts or {},
        system_account=system_account,
    )
