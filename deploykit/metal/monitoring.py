"""Prometheus and Grafana on the monitoring host, exporters on the others.

- node_exporter (Debian's package) on every host; prometheus-nats-exporter beside each
  nats-server (see `nats.py`); Debian's postgres_exporter on each PostgreSQL host;
- prometheus.yml scraping them all, and the apps' pods through Kubernetes service discovery;
- the alert rules and dashboards both tiers share (deploykit.observability.dashboards), with
  the hosts', NATS's and the database's: a rule file, and dashboards provisioned as files into
  Grafana (from Grafana's apt repository) with the Prometheus data source.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from deploykit.configs.templates import render
from deploykit.manifest.model import Manifest
from deploykit.metal import layout
from deploykit.metal.shell import (
    PENDING_DIR,
    ensure_packages,
    install_release,
    put_file,
    recording_packages,
    remove_packages,
    remove_paths,
    remove_units,
    restart_if_pending,
    script,
    system_user,
)
from deploykit.observability import dashboards as observe
from deploykit.stack.config import Host, MetalConfig

__all__ = [
    "DASHBOARD_DIR",
    "DEBIAN_PROMETHEUS",
    "PROMETHEUS_CONFIG",
    "PROMETHEUS_RULES",
    "AppsDiscovery",
    "PrometheusBuild",
    "alert_rules",
    "dashboards",
    "grafana_dashboard_provider",
    "grafana_datasource",
    "grafana_install_script",
    "grafana_password_script",
    "node_exporter_script",
    "postgres_exporter_script",
    "prometheus_config",
    "prometheus_install_script",
    "prometheus_reload_script",
    "prometheus_unit",
    "put_prometheus_config_script",
    "put_rules_script",
    "remove_grafana_script",
    "remove_node_exporter_script",
    "remove_postgres_exporter_script",
    "remove_prometheus_script",
]

PROMETHEUS_UNIT = "prometheus.service"
PROMETHEUS_BINARY = "/usr/local/bin/prometheus"
PROMTOOL = "/usr/local/bin/promtool"
PROMETHEUS_DATA = "/var/lib/prometheus"
PROMETHEUS_CONFIG = "/etc/prometheus/prometheus.yml"
PROMETHEUS_RULES = "/etc/prometheus/deploykit-rules.yml"
K8S_TOKEN = "/etc/prometheus/kubernetes-token"
K8S_CA = "/etc/prometheus/kubernetes-ca.crt"
DASHBOARD_DIR = "/var/lib/grafana/dashboards/deploykit"


@dataclass(frozen=True)
class AppsDiscovery:
    """Where Prometheus finds the apps: the Kubernetes API and the namespace of the stack."""

    api_server: str
    namespace: str


def _targets(hosts: Sequence[Host], port: int) -> list[dict[str, Any]]:
    return [{"targets": [f"{h.private}:{port}"], "labels": {"host": h.name}} for h in hosts]


def prometheus_config(system: str, settings: MetalConfig, apps: AppsDiscovery | None = None) -> str:
    database = settings.hosts_with("database")
    jobs: list[dict[str, Any]] = [
        {
            "job_name": "prometheus",
            "static_configs": _targets(settings.hosts_with("monitoring"), layout.PROMETHEUS_PORT),
        },
        {"job_name": "node", "static_configs": _targets(settings.hosts, layout.NODE_EXPORTER_PORT)},
    ]
    if settings.nats.exporter:
        jobs.append(
            {
                "job_name": "nats",
                "static_configs": _targets(settings.hosts_with("nats"), layout.NATS_EXPORTER_PORT),
            }
        )
    if settings.database.engine == "postgres":
        jobs.append(
            {
                "job_name": "postgres",
                "static_configs": _targets(database, layout.POSTGRES_EXPORTER_PORT),
            }
        )
    else:
        for process, port, hosts in (
            ("master", layout.YB_MASTER_UI_PORT, database[:3]),
            ("tserver", layout.YB_TSERVER_UI_PORT, database),
        ):
            jobs.append(
                {
                    "job_name": f"yb-{process}",
                    "metrics_path": "/prometheus-metrics",
                    "static_configs": _targets(hosts, port),
                }
            )
    if apps:
        jobs.append(_apps_job(apps))
    config = {
        "global": {
            "scrape_interval": "15s",
            "evaluation_interval": "15s",
            "external_labels": {"system": system},
        },
        "rule_files": [PROMETHEUS_RULES],
        "scrape_configs": jobs,
    }
    header = "# Rendered by deploykit (deploykit/metal/monitoring.py); do not edit.\n"
    return header + yaml.safe_dump(config, sort_keys=False)


def _apps_job(apps: AppsDiscovery) -> dict[str, Any]:
    """Pods annotated `prometheus.io/scrape` (every service: the runtime's metrics port)."""
    return {
        "job_name": "apps",
        "kubernetes_sd_configs": [
            {
                "role": "pod",
                "api_server": apps.api_server,
                "namespaces": {"names": [apps.namespace]},
                "authorization": {"credentials_file": K8S_TOKEN},
                "tls_config": {"ca_file": K8S_CA},
            }
        ],
        "relabel_configs": [
            {
                "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"],
                "regex": "true",
                "action": "keep",
            },
            {
                "source_labels": [
                    "__meta_kubernetes_pod_ip",
                    "__meta_kubernetes_pod_annotation_prometheus_io_port",
                ],
                "separator": ":",
                "target_label": "__address__",
            },
            {
                "source_labels": ["__meta_kubernetes_pod_label_app_kubernetes_io_name"],
                "target_label": "service",
            },
            {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        ],
    }


def alert_rules(manifest: Manifest, settings: MetalConfig, apps: bool = True) -> str:
    """The rule file: the rules both tiers share plus those of this tier's hosts and servers
    (`apps`: the apps run as pods Prometheus scrapes, so it can tell one that is down)."""
    target = _target(manifest, settings, apps)
    return observe.prometheus_rules(observe.alert_rules(manifest, target))


def _target(manifest: Manifest, settings: MetalConfig, apps: bool = True) -> observe.Target:
    servers = observe.Servers(
        nats_hosts=len(settings.hosts_with("nats")),
        engine=settings.database.engine,
        replica=len(settings.hosts_with("database")) > 1,
    )
    return observe.metal(manifest, servers, pods=apps)


NODE_EXPORTER = "prometheus-node-exporter.service"
NODE_EXPORTER_DROP_IN = f"/etc/systemd/system/{NODE_EXPORTER}.d/deploykit.conf"
# Debian's unit retries 5 times within 10 s, then gives up for good: after a reboot the private
# address it listens on may come up later than that (seen on the test hosts). Keep retrying.
NODE_EXPORTER_RETRIES = (
    "# Rendered by deploykit (deploykit/metal/monitoring.py); do not edit.\n"
    "[Unit]\n"
    "After=network-online.target\n"
    "Wants=network-online.target\n"
    "StartLimitIntervalSec=0\n"
    "\n"
    "[Service]\n"
    "RestartSec=2\n"
)
POSTGRES_EXPORTER = "prometheus-postgres-exporter.service"


def node_exporter_script(host: Host, install: str = "") -> str:
    """Debian's node_exporter (from apt, or the stack's artifacts with `install`), listening on
    the private address only; restarted only when its arguments changed."""
    args = f'ARGS="--web.listen-address={host.private}:{layout.NODE_EXPORTER_PORT}"'
    return script(
        recording_packages("node-exporter", install)
        if install
        else ensure_packages(["prometheus-node-exporter"], record="node-exporter"),
        f"printf '%s\\n' '{args}' | {{",
        put_file("/etc/default/prometheus-node-exporter", pending=NODE_EXPORTER),
        "}",
        "(",
        put_file(NODE_EXPORTER_DROP_IN, pending=NODE_EXPORTER),
        f") <<'UNIT'\n{NODE_EXPORTER_RETRIES}UNIT",
        restart_if_pending(NODE_EXPORTER),
    )


def remove_node_exporter_script() -> str:
    return script(
        f"systemctl disable --now {NODE_EXPORTER} >/dev/null 2>&1 || true",
        remove_packages("node-exporter"),
        remove_paths(
            "/etc/default/prometheus-node-exporter",
            f"{PENDING_DIR}/{NODE_EXPORTER}",
            NODE_EXPORTER_DROP_IN.rsplit("/", 1)[0],
        ),
        "systemctl daemon-reload",
    )


def postgres_exporter_script(host: Host, socket_dir: str) -> str:
    """Debian's postgres_exporter (installed with PostgreSQL), as the `prometheus` role through
    the local socket (peer authentication, so no password)."""
    dsn = f"user=prometheus host={socket_dir} dbname=postgres sslmode=disable"
    return script(
        "{ cat <<'EOF'",
        f"DATA_SOURCE_NAME='{dsn}'",
        f"ARGS='--web.listen-address={host.private}:{layout.POSTGRES_EXPORTER_PORT}'",
        "EOF",
        "} | {",
        put_file("/etc/default/prometheus-postgres-exporter", pending=POSTGRES_EXPORTER),
        "}",
        restart_if_pending(POSTGRES_EXPORTER),
    )


def remove_postgres_exporter_script() -> str:
    """Stop it; its package goes with PostgreSQL's (`postgres.uninstall_script`)."""
    return script(
        f"systemctl disable --now {POSTGRES_EXPORTER} >/dev/null 2>&1 || true",
        remove_paths(
            "/etc/default/prometheus-postgres-exporter", f"{PENDING_DIR}/{POSTGRES_EXPORTER}"
        ),
    )


@dataclass(frozen=True)
class PrometheusBuild:
    """Where Prometheus's binaries are: the official release's, or Debian's package (from the
    stack's artifacts: no Kubernetes discovery, which only the apps on Kubernetes need)."""

    binary: str = PROMETHEUS_BINARY
    promtool: str = PROMTOOL
    debian: bool = False


DEBIAN_PROMETHEUS = PrometheusBuild("/usr/bin/prometheus", "/usr/bin/promtool", debian=True)


def prometheus_unit(host: Host, binary: str = PROMETHEUS_BINARY, retention: str = "30d") -> str:
    return render(
        "systemd/prometheus.service.j2",
        binary=binary,
        config=PROMETHEUS_CONFIG,
        data_dir=PROMETHEUS_DATA,
        retention=retention,
        listen=f"{host.private}:{layout.PROMETHEUS_PORT}",
    )


def prometheus_install_script(version: str, install: str = "") -> str:
    """The official Prometheus release (Debian's build lacks Kubernetes service discovery),
    with promtool, which checks every file before it is installed; or, with `install`, Debian's
    package from the stack's artifacts (ours, in /etc/systemd/system, overrides its unit)."""
    if install:
        return script(
            recording_packages("prometheus", install),
            f"install -d -o prometheus -g prometheus -m 0750 {PROMETHEUS_DATA}",
            "install -d -o root -g prometheus -m 0750 /etc/prometheus",
        )
    base = f"https://github.com/prometheus/prometheus/releases/download/v{version}"
    return script(
        ensure_packages(["ca-certificates", "curl"]),
        system_user("prometheus", PROMETHEUS_DATA),
        f"install -d -o prometheus -g prometheus -m 0750 {PROMETHEUS_DATA}",
        "install -d -o root -g prometheus -m 0750 /etc/prometheus",
        f'if ! {PROMETHEUS_BINARY} --version 2>/dev/null | grep -q "version {version} "; then',
        install_release(
            base,
            f"prometheus-{version}.linux-$(dpkg --print-architecture)",
            "sha256sums.txt",
            {"prometheus": PROMETHEUS_BINARY, "promtool": PROMTOOL},
        ),
        "fi",
    )


def put_rules_script(promtool: str = PROMTOOL) -> str:
    return put_file(
        PROMETHEUS_RULES,
        mode="0644",
        group="prometheus",
        check=f"{promtool} check rules {{file}}",
        pending=PROMETHEUS_UNIT,
    )


def put_prometheus_config_script(promtool: str = PROMTOOL) -> str:
    """promtool checks the configuration (and the rule file it names) before it is installed."""
    return put_file(
        PROMETHEUS_CONFIG,
        mode="0640",
        group="prometheus",
        check=f"{promtool} check config {{file}}",
        pending=PROMETHEUS_UNIT,
    )


def prometheus_reload_script() -> str:
    """Start Prometheus; reload it when its configuration or rules were replaced."""
    return restart_if_pending(PROMETHEUS_UNIT, reload=True)


def remove_prometheus_script(destroy_data: bool) -> str:
    """Stop Prometheus and remove what `prometheus_install_script` and the configuration steps
    put there; its metrics (and its user) only with `destroy_data`."""
    return script(
        remove_units(PROMETHEUS_UNIT),
        remove_packages("prometheus"),
        remove_paths(PROMETHEUS_BINARY, PROMTOOL, "/etc/prometheus", "/etc/default/prometheus"),
        *(
            (remove_paths(PROMETHEUS_DATA), "userdel prometheus >/dev/null 2>&1 || true")
            if destroy_data
            else ()
        ),
    )


def grafana_install_script() -> str:
    """Grafana OSS from Grafana's apt repository (Debian has no Grafana package)."""
    return script(
        ensure_packages(
            ["apt-transport-https", "ca-certificates", "curl", "gpg"], record="grafana"
        ),
        "if [ ! -s /etc/apt/keyrings/grafana.gpg ] || ! dpkg -s grafana >/dev/null 2>&1; then",
        "install -d -m 0755 /etc/apt/keyrings",
        # A failed download must not leave a keyring behind: every retry would skip this block.
        'key="$(mktemp)"',
        "trap 'rm -f \"$key\"' EXIT",
        'curl -fsSL https://apt.grafana.com/gpg.key | gpg --dearmor > "$key"',
        'install -m 0644 "$key" /etc/apt/keyrings/grafana.gpg',
        "echo 'deb [signed-by=/etc/apt/keyrings/grafana.gpg] https://apt.grafana.com stable main' "
        "> /etc/apt/sources.list.d/grafana.list",
        "apt-get update -q",
        "fi",
        ensure_packages(["grafana"], record="grafana"),
        f"install -d -o root -g grafana -m 0750 {DASHBOARD_DIR}",
        "systemctl enable --quiet grafana-server",
    )


def remove_grafana_script() -> str:
    return script(
        "systemctl disable --now grafana-server >/dev/null 2>&1 || true",
        remove_packages("grafana"),
        remove_paths(
            "/etc/apt/keyrings/grafana.gpg",
            "/etc/apt/sources.list.d/grafana.list",
            "/etc/grafana",
            "/var/lib/grafana",
        ),
    )


def grafana_password_script() -> str:
    """Start Grafana (or restart it, for new provisioning), then set the admin password from
    stdin once its database exists."""
    return script(
        "systemctl restart grafana-server",
        f"until curl -fsS -m 2 -o /dev/null http://127.0.0.1:{layout.GRAFANA_PORT}/api/health; "
        "do sleep 1; done",
        "grafana cli --homepath /usr/share/grafana --config /etc/grafana/grafana.ini "
        "admin reset-admin-password --password-from-stdin",
    )


def grafana_datasource(prometheus_url: str) -> str:
    return render("grafana/datasource.yml.j2", prometheus_url=prometheus_url)


def grafana_dashboard_provider() -> str:
    return render("grafana/dashboards.yml.j2", folder="deploykit", path=DASHBOARD_DIR)


def dashboards(manifest: Manifest, settings: MetalConfig) -> dict[str, str]:
    """File name → dashboard JSON: the dashboards both tiers share, with this tier's servers."""
    target = _target(manifest, settings)
    return {
        f"{board.key}.json": json.dumps(observe.dashboard_json(board, target), indent=2)
        for board in observe.boards(manifest, target)
    }
