"""Rendered configuration files, checked on their exact content (and by the real servers in
the integration tests, which start from these very files)."""

from __future__ import annotations

from deploykit.configs.nats import cluster_nodes, render_node_config
from deploykit.configs.postgres import HbaRule, PgSettings, render_pg_hba, render_postgresql_conf


def test_cluster_nodes_route_to_every_other_node() -> None:
    nodes = cluster_nodes(
        "acme",
        ["10.0.0.1", "10.0.0.2", "10.0.0.3"],
        client_ports=[4222] * 3,
        monitor_ports=[8222] * 3,
        cluster_ports=[6222] * 3,
        store_dirs=["/var/lib/nats"] * 3,
    )
    assert [n.name for n in nodes] == ["acme-1", "acme-2", "acme-3"]
    assert nodes[1].routes == ("nats-route://10.0.0.1:6222", "nats-route://10.0.0.3:6222")


def test_nats_config_for_a_cluster_node_is_exact() -> None:
    node = cluster_nodes(
        "acme", ["10.0.0.1", "10.0.0.2"], [4222, 4222], [8222, 8222], [6222, 6222], ["/d", "/d"]
    )[0]
    accounts = {"core": {"jetstream": "enabled", "users": [{"user": "gw", "password": "p"}]}}
    text = render_node_config(node, accounts)
    assert text == (
        "# acme-1: rendered by deploykit from templates/nats/nats-server.conf.j2; do not edit.\n"
        'server_name: "acme-1"\n'
        'listen: "10.0.0.1:4222"\n'
        'http: "10.0.0.1:8222"\n'
        "max_payload: 1048576\n"
        'lame_duck_duration: "30s"\n'
        'lame_duck_grace_period: "10s"\n'
        "\n"
        "jetstream {\n"
        '  store_dir: "/d"\n'
        "  max_memory_store: 268435456\n"
        "  max_file_store: 2147483648\n"
        '  sync_interval: "2m"\n'
        "}\n"
        "\n"
        "cluster {\n"
        '  name: "acme"\n'
        '  listen: "10.0.0.1:6222"\n'
        "  routes: [\n"
        '    "nats-route://10.0.0.2:6222"\n'
        "  ]\n"
        '  ping_interval: "5s"\n'
        "}\n"
        "\n"
        "# Accounts and users from deploykit's permission compiler: one account per bus, one user per\n"
        "# service. NATS configuration syntax accepts JSON, so the block is rendered as JSON.\n"
        'accounts: {\n  "core": {\n    "jetstream": "enabled",\n    "users": [\n      {\n'
        '        "user": "gw",\n        "password": "p"\n      }\n    ]\n  }\n}\n'
        'system_account: "SYS"\n'
    )


def test_single_node_has_no_cluster_block() -> None:
    node = cluster_nodes("solo", ["127.0.0.1"], [4222], [8222], [0], ["/d"])[0]
    text = render_node_config(node)
    assert "cluster {" not in text and "accounts:" not in text
    assert node.routes == ()


def test_postgresql_conf_and_hba() -> None:
    settings = PgSettings(
        port=5432,
        socket_dir="/run/pg",
        listen_addresses="10.0.0.1",
        hba=(HbaRule("hostssl", "replication", "repl", "10.0.0.2/32"),),
        ssl_cert_file="/etc/pg/cert.pem",
        ssl_key_file="/etc/pg/key.pem",
    )
    conf = render_postgresql_conf(settings)
    assert "listen_addresses = '10.0.0.1'\nport = 5432\n" in conf
    assert "ssl = on\nssl_cert_file = '/etc/pg/cert.pem'" in conf
    assert "password_encryption = 'scram-sha-256'" in conf
    assert "archive_mode" not in conf
    hba = render_pg_hba(settings).splitlines()
    assert hba[2:] == [
        "local   all          postgres                          peer",
        "hostssl replication  repl         10.0.0.2/32          scram-sha-256",
        "host    all          all          0.0.0.0/0            reject",
        "host    all          all          ::/0                 reject",
    ]
