"""The metal tier's pure decisions, on their exact output (Kamal style: the scripts and files
are asserted as strings; the integration tests run the same ones for real)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from deploykit.configs.nats import render_node_config
from deploykit.configs.postgres import render_pg_hba
from deploykit.errors import ConfigError
from deploykit.manifest.load import parse_manifest
from deploykit.manifest.model import Manifest
from deploykit.metal import k3s, monitoring, nats, outputs, postgres, shell, tls, yugabyte
from deploykit.stack.config import (
    Host,
    MetalConfig,
    MetalNats,
    check_metal_manifest,
    parse_stack_config,
)
from deploykit.stack.outputs import StackOutputs

ROOT = Path(__file__).resolve().parents[2]
HOSTS = [
    Host(name=f"n{i}", address=f"203.0.113.{i}", privateAddress=f"10.0.0.{i}", roles=["nats"])
    for i in (1, 2, 3)
]


def test_scripts_run_as_root_directly_or_through_sudo() -> None:
    """No rc file (Debian's bash.bashrc reads PS1, an error under -u) and from / (runuser
    cannot enter /root)."""
    assert shell.as_root("echo 'hi'", "root") == (
        "bash --norc --noprofile -euo pipefail -c 'cd /\necho '\"'\"'hi'\"'\"''"
    )
    assert shell.as_root("true", "deploy") == (
        "sudo -n bash --norc --noprofile -euo pipefail -c 'cd /\ntrue'"
    )


def test_put_file_checks_before_it_installs() -> None:
    assert shell.put_file("/etc/x.conf", mode="0640", group="nats", check="check {file}") == (
        'tmp="$(mktemp)"\n'
        "trap 'rm -f \"$tmp\"' EXIT\n"
        'cat > "$tmp"\n'
        'chgrp nats "$tmp" && chmod 0640 "$tmp"\n'
        'check "$tmp"\n'
        'if ! cmp -s "$tmp" /etc/x.conf; then install -D -o root -g nats -m 0640 "$tmp" /etc/x.conf; '
        "else chown root:nats /etc/x.conf && chmod 0640 /etc/x.conf; fi"
    )
    assert shell.put_file("/etc/y", pending="y.service").endswith(
        'then install -D -o root -g root -m 0644 "$tmp" /etc/y && '
        "install -D -m 0644 /dev/null /var/lib/deploykit/pending/y.service; "
        "else chown root:root /etc/y && chmod 0644 /etc/y; fi"
    )


def test_certificate_names_and_pem_parsing() -> None:
    names = tls.subject_alt_names(["10.0.0.1", "node1", "10.0.0.1", "::1"])
    assert [str(n.value) for n in names] == ["10.0.0.1", "node1", "::1"]
    with pytest.raises(ValueError, match="one certificate and one key, found 0 and 0"):
        tls.split_pem("no pem here")


def test_nats_nodes_are_named_after_hosts_and_route_to_peers() -> None:
    nodes = nats.nats_nodes("acme", HOSTS, MetalNats())
    assert [n.name for n in nodes] == ["acme-n1", "acme-n2", "acme-n3"]
    assert nodes[1].routes == ("nats-route://10.0.0.1:6222", "nats-route://10.0.0.3:6222")
    assert (nodes[0].client_host, nodes[0].monitor_url) == ("0.0.0.0", "http://10.0.0.1:8222")
    text = render_node_config(nodes[0])
    assert 'cert_file: "/etc/nats/tls/host.pem"' in text and "verify: true" in text
    assert "max_file_store: 21474836480" in text and 'pid_file: "/run/nats/nats-server.pid"' in text


def test_health_gate_waits_for_the_cluster_only_when_a_peer_is_up() -> None:
    one, two = nats.nats_nodes("acme", HOSTS[:2], MetalNats())
    assert nats.health_gate_script(one, [two], timeout=5) == (
        "deadline=$(( $(date +%s) + 5 ))\n"
        "until curl -fsS -m 2 -o /dev/null 'http://10.0.0.1:8222/healthz?js-enabled-only=true'; do\n"
        '  if [ "$(date +%s)" -ge "$deadline" ]; then echo \'acme-n1: JetStream not enabled after 5s\' >&2; exit 1; fi\n'
        "  sleep 1\n"
        "done\n"
        "if curl -fsS -m 2 -o /dev/null 'http://10.0.0.2:8222/healthz?js-enabled-only=true'; then\n"
        "deadline=$(( $(date +%s) + 5 ))\n"
        "until curl -fsS -m 2 -o /dev/null http://10.0.0.1:8222/healthz; do\n"
        '  if [ "$(date +%s)" -ge "$deadline" ]; then echo \'acme-n1: not current with its cluster after 5s\' >&2; exit 1; fi\n'
        "  sleep 1\n"
        "done\n"
        "fi\n"
        "echo 'acme-n1 healthy'\n"
    )
    assert "if curl" not in nats.health_gate_script(one, [], timeout=5)


def test_a_node_restarts_only_when_something_it_reads_changed() -> None:
    """The configuration marks the server for a restart only when it differs from the
    installed one; the restart is the unit's lame-duck stop; an unchanged server is left."""
    applied = nats.apply_config_script()
    assert '/usr/local/bin/nats-server -t -c "$tmp"' in applied
    assert (
        'if ! cmp -s "$tmp" /etc/nats/nats-server.conf; then install -D -o root -g nats -m 0640 '
        '"$tmp" /etc/nats/nats-server.conf && install -D -m 0644 /dev/null '
        "/var/lib/deploykit/pending/nats-server.service;"
    ) in applied
    assert applied.endswith(
        "systemctl daemon-reload\n"
        "systemctl enable --quiet nats-server.service\n"
        "if ! systemctl is-active --quiet nats-server.service; then systemctl start nats-server.service\n"
        "elif [ -e /var/lib/deploykit/pending/nats-server.service ]; then systemctl restart nats-server.service\n"
        "fi\n"
        "rm -f /var/lib/deploykit/pending/nats-server.service\n"
        "systemctl daemon-reload\n"
        "systemctl enable --quiet prometheus-nats-exporter.service\n"
        "if ! systemctl is-active --quiet prometheus-nats-exporter.service; then systemctl start prometheus-nats-exporter.service\n"
        "elif [ -e /var/lib/deploykit/pending/prometheus-nats-exporter.service ]; then systemctl restart prometheus-nats-exporter.service\n"
        "fi\n"
        "rm -f /var/lib/deploykit/pending/prometheus-nats-exporter.service\n"
    )
    assert "install -D -m 0644 /dev/null /var/lib/deploykit/pending/nats-server.service" in (
        nats.install_server_script("2.12.3")
    )
    unit = nats.nats_unit(nats.nats_nodes("acme", HOSTS, MetalNats())[0])
    assert (
        "ExecStop=/bin/sh -c '/bin/kill -s USR2 $$MAINPID; "
        "while /bin/kill -0 $$MAINPID 2>/dev/null; do sleep 1; done'\nTimeoutStopSec=70\n"
    ) in unit


def test_nats_server_release_is_checked_against_its_checksums() -> None:
    script = nats.install_server_script("2.12.3")
    assert (
        'if [ "$(/usr/local/bin/nats-server --version 2>/dev/null)" != "nats-server: v2.12.3" ]; then\n'
        'tmp="$(mktemp -d)"\n'
    ) in script
    assert (
        'curl -fsSL -o "$tmp/sums" '
        '"https://github.com/nats-io/nats-server/releases/download/v2.12.3/SHA256SUMS"\n'
        '(cd "$tmp" && grep " $asset.tar.gz$" sums | sha256sum -c --quiet -)\n'
    ) in script


def test_postgres_hba_lets_in_only_clients_and_the_replica() -> None:
    settings = postgres.postgres_settings(
        "10.0.0.1",
        clients=["10.0.0.3", "10.0.0.3", "192.168.5.0/24"],
        replication_peers=["10.0.0.2"],
        tls_dir="/etc/deploykit/postgresql",
        archive=True,
    )
    assert render_pg_hba(settings).splitlines()[2:] == [
        "local   all          postgres                          peer",
        "local   postgres     prometheus                        peer",
        "hostssl all          all          10.0.0.3/32          scram-sha-256",
        "hostssl all          all          192.168.5.0/24       scram-sha-256",
        "hostssl replication  replicator   10.0.0.2/32          scram-sha-256",
        "host    all          all          0.0.0.0/0            reject",
        "host    all          all          ::/0                 reject",
    ]
    assert settings.archive_command == "pgbackrest --stanza=deploykit archive-push %p"


def test_provisioning_sql_is_exact_and_quotes_everything() -> None:
    sql = postgres.provision_sql(
        [postgres.DatabaseGrant("app", "app_owner", "it's")],
        admin_user="postgres",
        admin_password="admin",
        replication_password="repl",
        slots=["node2"],
    )
    assert sql == (
        "\\set ON_ERROR_STOP on\n"
        "ALTER ROLE \"postgres\" WITH PASSWORD 'admin';\n"
        "SELECT 'CREATE ROLE \"replicator\"' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'replicator')\\gexec\n"
        "ALTER ROLE \"replicator\" WITH LOGIN REPLICATION PASSWORD 'repl';\n"
        "SELECT pg_create_physical_replication_slot('node2') WHERE NOT EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = 'node2');\n"
        "SELECT 'CREATE ROLE \"app_owner\"' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app_owner')\\gexec\n"
        "ALTER ROLE \"app_owner\" WITH LOGIN PASSWORD 'it''s';\n"
        "SELECT 'CREATE DATABASE \"app\" OWNER \"app_owner\"' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'app')\\gexec\n"
        "SELECT 'CREATE ROLE \"prometheus\"' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'prometheus')\\gexec\n"
        'ALTER ROLE "prometheus" WITH LOGIN;\n'
        'GRANT pg_monitor TO "prometheus";\n'
    )


def test_the_sql_copy_is_provisioned_last_in_its_own_database() -> None:
    """sqlcopy's statements as the local stack runs them; after `\\connect` (the rest of the
    script would run in the archive database) and in one transaction."""
    sql = postgres.provision_sql(
        [], admin_user="postgres", admin_password="admin", archive_password="it's"
    )
    head, archive = sql.split('GRANT pg_monitor TO "prometheus";\n')
    assert "deploykit_arch" not in head
    assert archive.splitlines() == [
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'deploykit_archive_owner') "
        'THEN CREATE ROLE "deploykit_archive_owner" NOLOGIN; END IF; '
        "IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'deploykit_archiver') "
        'THEN CREATE ROLE "deploykit_archiver" LOGIN; END IF; END $$;',
        "ALTER ROLE \"deploykit_archiver\" WITH LOGIN NOCREATEDB NOCREATEROLE PASSWORD 'it''s';",
        "DO $$ BEGIN IF (SELECT rolsuper FROM pg_roles WHERE rolname = 'deploykit_archiver') "
        'THEN ALTER ROLE "deploykit_archiver" NOSUPERUSER; END IF; END $$;',
        'SELECT \'CREATE DATABASE "deploykit_archive" OWNER "deploykit_archive_owner"\' '
        "WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'deploykit_archive')\\gexec",
        "\\connect deploykit_archive",
        "BEGIN;",
        *archive.split("BEGIN;\n")[1].split("COMMIT;")[0].splitlines(),
        "COMMIT;",
    ]
    assert 'GRANT SELECT, INSERT ON "deploykit_events" TO "deploykit_archiver";' in archive
    assert 'ALTER TABLE "deploykit_events" OWNER TO "deploykit_archive_owner";' in archive


def test_replica_is_cloned_through_its_slot() -> None:
    assert postgres.basebackup_argv("/b", "10.0.0.1", 5432, "/data", "node_2") == [
        "/b/pg_basebackup", "-h", "10.0.0.1", "-p", "5432", "-U", "replicator", "-D", "/data",
        "-X", "stream", "-R", "-S", "node_2", "-c", "fast", "--no-password",
    ]  # fmt: skip
    assert postgres.slot_name("db-2") == "db_2"
    assert postgres.database_url("a b", "p@ss/w", "10.0.0.1", 5432, "db") == (
        "postgresql://a%20b:p%40ss%2Fw@10.0.0.1:5432/db?sslmode=require"
    )


def test_yugabyte_masters_flags_and_placement() -> None:
    hosts = [h.model_copy(update={"roles": ["database"]}) for h in HOSTS]
    assert yugabyte.master_flags("acme", hosts[1], hosts).splitlines()[1:4] == [
        "--master_addresses=10.0.0.1:7100,10.0.0.2:7100,10.0.0.3:7100",
        "--rpc_bind_addresses=10.0.0.2:7100",
        "--webserver_interface=10.0.0.2",
    ]
    assert "--rpc_bind_addresses=10.0.0.1:9101" in yugabyte.tserver_flags("acme", hosts[0], hosts)
    assert yugabyte.placement_script("acme", hosts) == (
        "/opt/yugabyte/bin/yb-admin --master_addresses 10.0.0.1:7100,10.0.0.2:7100,10.0.0.3:7100 "
        "modify_placement_info deploykit.acme.n1,deploykit.acme.n2,deploykit.acme.n3 3"
    )


def test_k3s_first_server_starts_the_cluster_and_agents_join_it() -> None:
    first, second, _ = HOSTS
    server = k3s.server_script("v1.31.4+k3s1", first, None, clustered=True)
    assert server.splitlines()[1:] == [
        "IFS= read -r token",
        "if ! systemctl is-active --quiet k3s || [ \"$(k3s --version 2>/dev/null | head -n 1 | cut -d' ' -f3)\" != v1.31.4+k3s1 ]; then",
        'curl -sfL https://get.k3s.io | INSTALL_K3S_VERSION=v1.31.4+k3s1 K3S_TOKEN="$token" sh -s - server '
        "--node-ip 10.0.0.1 --node-external-ip 203.0.113.1 --tls-san 203.0.113.1 "
        "--write-kubeconfig-mode 0600 --cluster-init",
        "fi",
    ]
    agent = k3s.agent_script("v1.31.4+k3s1", second, first)
    assert "K3S_URL=https://10.0.0.1:6443 sh -s - agent --node-ip 10.0.0.2" in agent
    kubeconfig = "server: https://127.0.0.1:6443\n"
    assert k3s.kubeconfig_for(kubeconfig, first) == "server: https://203.0.113.1:6443\n"
    with pytest.raises(ValueError, match=r"does not name https://127\.0\.0\.1:6443"):
        k3s.kubeconfig_for("server: https://elsewhere:6443\n", first)


def test_prometheus_scrapes_every_exporter(settings: MetalConfig) -> None:
    config = yaml.safe_load(monitoring.prometheus_config("acme", settings))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert list(jobs) == ["prometheus", "node", "nats", "postgres"]
    assert [c["targets"][0] for c in jobs["nats"]["static_configs"]] == [
        "10.0.0.11:7777", "10.0.0.12:7777", "10.0.0.13:7777",
    ]  # fmt: skip
    assert jobs["postgres"]["static_configs"][1] == {
        "targets": ["10.0.0.12:9187"],
        "labels": {"host": "node2"},
    }
    assert config["rule_files"] == ["/etc/prometheus/deploykit-rules.yml"]


def test_alert_rules_follow_the_manifest(manifest: Manifest, settings: MetalConfig) -> None:
    data = yaml.safe_load((ROOT / "deploykit.yaml").read_text())
    data["streams"]["ACCOUNTS"]["discard"] = "new"
    strict = parse_manifest(yaml.safe_dump(data))
    rules = yaml.safe_load(monitoring.alert_rules(strict, settings))
    alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"]}
    assert alerts["JetStreamStreamNearMaxBytes"]["expr"] == (
        'max(jetstream_stream_total_bytes{stream_name="ACCOUNTS"}) > 858993459'
    )
    assert alerts["JetStreamConsumerAckPendingNearMax"]["expr"] == (
        'max(jetstream_consumer_num_ack_pending{stream_name="ACCOUNTS", consumer_name="welcome"}) >= 900'
    )
    assert alerts["NatsRouteMissing"]["expr"] == "gnatsd_varz_routes < 2"
    assert "JetStreamStreamNearMaxBytes" not in monitoring.alert_rules(manifest, settings)


def test_grafana_gets_a_datasource_and_three_dashboards(
    manifest: Manifest, settings: MetalConfig
) -> None:
    datasource = yaml.safe_load(monitoring.grafana_datasource("http://10.0.0.11:9090"))
    assert datasource["datasources"][0]["url"] == "http://10.0.0.11:9090"
    boards = monitoring.dashboards(manifest, settings)
    assert sorted(boards) == ["database.json", "nats.json", "services.json"]
    assert '"title": "acme: NATS and JetStream"' in boards["nats.json"]
    assert 'messaging_consumer_group_name=\\"welcome\\"' in boards["services.json"]
    assert "jetstream_consumer_num_pending" in boards["nats.json"]  # the servers' view: metal only


def test_stack_outputs_have_the_documented_shape(manifest: Manifest, settings: MetalConfig) -> None:
    users = {
        "gateway": {"account": "core", "role": "frontend", "service": "gateway", "password": "p"}
    }
    database = {"engine": "postgres", "admin_url": "postgresql://a", "urls": {}, "replica_urls": []}
    document = StackOutputs.model_validate(
        outputs.stack_outputs(manifest, settings, users, database)
    )
    assert document.nats.urls[0] == "tls://203.0.113.11:4222"
    assert document.observability.grafana_url == "http://203.0.113.11:3000"
    assert document.nats.credentials["gateway"].inbox_prefix == "_INBOX_gateway"


METAL = yaml.safe_load((ROOT / "stacks/Pulumi.metal.yaml").read_text())["config"]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda m: m["hosts"][2]["roles"].remove("nats"), "2 hosts have the role nats: use an odd"),
        (lambda m: m["hosts"][2]["roles"].append("database"), "at most one streaming replica"),
        (lambda m: m["database"].update(engine="yugabyte", version=""), "yugabyte runs with"),
        (
            lambda m: m["database"].update(version="9.6"),
            "deploykit:metal.database: postgres version '9.6'",
        ),
        (lambda m: m["database"].update(clients=["not-a-net"]), "'not-a-net' is not an address"),
        (lambda m: m["backup"].update(bucket="b"), "missing endpoint, accessKeyId"),
        (lambda m: m["backup"].update(schedule="daily"), "a cron expression of 5 fields"),
        (lambda m: m["nats"].update(syncInterval="sometimes"), "deploykit:metal.nats.syncInterval"),
        (lambda m: m["nats"].update(maxFileStore="lots"), "deploykit:metal.nats.maxFileStore"),
        (lambda m: m["kubernetes"].update(existingKubeconfig=True), "existingKubeconfig is true"),
        (lambda m: m["hosts"][1].update(address="203.0.113.11"), "host addresses must be unique"),
        (
            lambda m: (
                m["hosts"][0]["roles"].append("kubernetes-server")
                or m["hosts"][1]["roles"].append("kubernetes-server")
            ),
            "embedded etcd needs an odd",
        ),
    ],
)
def test_impossible_inventories_are_refused_naming_the_key(change, fragment: str) -> None:  # type: ignore[no-untyped-def]  # change: a lambda above
    config = yaml.safe_load(yaml.safe_dump(METAL))
    change(config["deploykit:metal"])
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(config, "stacks/Pulumi.metal.yaml")
    assert fragment in str(caught.value)


def test_manifest_and_inventory_must_fit_together(
    manifest: Manifest, settings: MetalConfig
) -> None:
    small = settings.model_copy(
        update={
            "hosts": [settings.hosts[0]],
            "domains": {"accounts": "x.example.com", "nobody": "y.example.com"},
        }
    )
    with pytest.raises(ConfigError) as caught:
        check_metal_manifest(manifest, small)
    lines = str(caught.value).splitlines()
    assert lines[0] == (
        "stacks/Pulumi.metal.yaml: deploykit:metal.hosts: streams.ACCOUNTS in the manifest has "
        "replicas 3 but only 1 host(s) have the role nats (give the role nats to at least 3 hosts)"
    )
    assert any("deploykit:metal.domains.accounts: names no frontend" in line for line in lines)
    assert any("deploykit:metal.domains.nobody: names no frontend" in line for line in lines)
    check_metal_manifest(manifest, settings)  # the committed files fit


def test_node_exporter_keeps_retrying_until_its_address_is_up() -> None:
    """Debian's unit gives up after 5 failures in 10 s; after a reboot the private address may
    come later (a test host's node_exporter stayed failed): the drop-in retries for good."""
    text = monitoring.node_exporter_script(HOSTS[0])
    drop_in = "/etc/systemd/system/prometheus-node-exporter.service.d/deploykit.conf"
    assert f"{drop_in} && install -D -m 0644 /dev/null /var/lib/deploykit/pending/" in text
    assert (
        ") <<'UNIT'\n# Rendered by deploykit (deploykit/metal/monitoring.py); do not edit.\n"
        "[Unit]\nAfter=network-online.target\nWants=network-online.target\n"
        "StartLimitIntervalSec=0\n\n[Service]\nRestartSec=2\nUNIT\n"
    ) in text
    assert text.index("UNIT\nsystemctl daemon-reload") < text.index("systemctl restart")
    removed = monitoring.remove_node_exporter_script()
    assert "/etc/systemd/system/prometheus-node-exporter.service.d\n" in removed
