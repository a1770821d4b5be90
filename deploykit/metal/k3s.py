"""k3s on the hosts: the first `kubernetes-server` host starts the cluster (embedded etcd when
there are several servers), the other servers and the agents join it with the generated token.

The token comes on stdin (pulumi-command's `environment` needs the SSH server's AcceptEnv, and
a command line is visible to every user of the host). Each script is a no-op when the wanted
version already runs.
"""

from __future__ import annotations

from deploykit.metal import layout
from deploykit.metal.shell import ensure_packages, q, script
from deploykit.stack.config import Host

__all__ = [
    "KUBECONFIG",
    "agent_script",
    "api_url",
    "kubeconfig_for",
    "read_kubeconfig_script",
    "server_script",
    "uninstall_script",
    "wait_nodes_script",
]

KUBECONFIG = "/etc/rancher/k3s/k3s.yaml"


def api_url(host: Host, public: bool = False) -> str:
    return f"https://{host.address if public else host.private}:{layout.K3S_API_PORT}"


def _install(version: str, service: str, env: str, args: list[str]) -> str:
    installed = "$(k3s --version 2>/dev/null | head -n 1 | cut -d' ' -f3)"
    return script(
        ensure_packages(["ca-certificates", "curl"]),
        "IFS= read -r token",
        f'if ! systemctl is-active --quiet {service} || [ "{installed}" != {q(version)} ]; then',
        f"curl -sfL https://get.k3s.io | INSTALL_K3S_VERSION={q(version)} "
        f'K3S_TOKEN="$token" {env}sh -s - {" ".join(args)}',
        "fi",
    )


def server_script(version: str, host: Host, first: Host | None, clustered: bool) -> str:
    """A k3s server; `first` is None for the server that starts the cluster."""
    args = [
        "server",
        f"--node-ip {host.private}",
        f"--node-external-ip {host.address}",
        f"--tls-san {host.address}",
        "--write-kubeconfig-mode 0600",
    ]
    if first is not None:
        args.append(f"--server {api_url(first)}")
    elif clustered:
        args.append("--cluster-init")
    return _install(version, "k3s", "", args)


def agent_script(version: str, host: Host, first: Host) -> str:
    args = ["agent", f"--node-ip {host.private}", f"--node-external-ip {host.address}"]
    return _install(version, "k3s-agent", f"K3S_URL={api_url(first)} ", args)


def wait_nodes_script(count: int) -> str:
    """Every node registered and Ready before anything is deployed onto the cluster."""
    return script(
        f'until [ "$(k3s kubectl get nodes --no-headers 2>/dev/null | wc -l)" -ge {count} ]; '
        "do sleep 2; done",
        "k3s kubectl wait --for=condition=Ready nodes --all --timeout=300s",
    )


def read_kubeconfig_script() -> str:
    return f"cat {KUBECONFIG}"


def kubeconfig_for(raw: str, server: Host) -> str:
    """k3s writes its kubeconfig for 127.0.0.1; the deployer reaches the public address (which
    the server certificate covers through --tls-san)."""
    local = f"https://127.0.0.1:{layout.K3S_API_PORT}"
    if local not in raw:
        raise ValueError(f"the k3s kubeconfig does not name {local}")
    return raw.replace(local, api_url(server, public=True))


def uninstall_script(service: str) -> str:
    """k3s's own uninstaller (written by its installer): stops the service, removes k3s, its
    units, data and network setup."""
    return f"if [ -x /usr/local/bin/{service}-uninstall.sh ]; then /usr/local/bin/{service}-uninstall.sh; fi"
