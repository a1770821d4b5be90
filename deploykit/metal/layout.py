"""Ports and paths on the hosts, in one place: scripts, configs and firewall notes agree."""

from __future__ import annotations

__all__ = [
    "GRAFANA_PORT",
    "K3S_API_PORT",
    "NATS_BINARY",
    "NATS_CLIENT_PORT",
    "NATS_CLUSTER_PORT",
    "NATS_CONFIG",
    "NATS_EXPORTER_BINARY",
    "NATS_EXPORTER_PORT",
    "NATS_MONITOR_PORT",
    "NATS_PID_FILE",
    "NATS_STORE",
    "NATS_TLS_DIR",
    "NODE_EXPORTER_PORT",
    "POD_CA_FILE",
    "POSTGRES_EXPORTER_PORT",
    "POSTGRES_PORT",
    "PROMETHEUS_PORT",
    "YB_MASTER_RPC_PORT",
    "YB_MASTER_UI_PORT",
    "YB_TSERVER_RPC_PORT",
    "YB_TSERVER_UI_PORT",
    "YSQL_PORT",
]

NATS_CLIENT_PORT = 4222
NATS_CLUSTER_PORT = 6222
NATS_MONITOR_PORT = 8222
NATS_EXPORTER_PORT = 7777
NODE_EXPORTER_PORT = 9100
POSTGRES_PORT = 5432
POSTGRES_EXPORTER_PORT = 9187
YB_MASTER_RPC_PORT = 7100
YB_MASTER_UI_PORT = 7000
# YugabyteDB's default 9100 is node_exporter's; the tserver moves over by one.
YB_TSERVER_RPC_PORT = 9101
YB_TSERVER_UI_PORT = 9000
YSQL_PORT = 5433
PROMETHEUS_PORT = 9090
GRAFANA_PORT = 3000
K3S_API_PORT = 6443

NATS_BINARY = "/usr/local/bin/nats-server"
NATS_EXPORTER_BINARY = "/usr/local/bin/prometheus-nats-exporter"
NATS_CONFIG = "/etc/nats/nats-server.conf"
NATS_STORE = "/var/lib/nats"
NATS_PID_FILE = "/run/nats/nats-server.pid"
NATS_TLS_DIR = "/etc/nats/tls"
# Where pods find the stack's CA (mounted from their Secret); SSL_CERT_FILE points here.
POD_CA_FILE = "/etc/deploykit/tls/ca.pem"
