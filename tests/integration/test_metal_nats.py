"""The metal tier's NATS configuration, for real: three nodes rendered for a 3-host inventory
(private addresses mapped to loopback ports), with the stack's TLS made by its own generator
(`deploykit.metal.tls`), started with nats-server, gated by the tier's own health-gate script, then asked for
an R3 stream over TLS with a password."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from pathlib import Path

import nats
import pytest

from deploykit.jetstream.publish import publish_settled
from deploykit.local.nats import LocalNats, find_nats_server
from deploykit.local.ports import free_ports
from deploykit.metal.nats import NatsPorts, apply_config_script, health_gate_script, nats_nodes
from deploykit.metal.tls import new_ca, new_host_certificate
from deploykit.stack.config import Host, MetalNats
from deploykit.testing.polling import retry_async

pytestmark = pytest.mark.integration

ACCOUNTS = {
    "core": {"jetstream": "enabled", "users": [{"user": "app", "password": "app-secret"}]},
    "SYS": {"users": [{"user": "system", "password": "system-secret"}]},
}


def _bash(body: str, stdin: str = "", timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "--norc", "--noprofile", "-euo", "pipefail", "-c", body],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _write_tls(root: Path, ca: tuple[str, str], host: str) -> None:
    cert, key = new_host_certificate(*ca, host, ["127.0.0.1", host])
    tls = root / "etc/nats/tls"
    tls.mkdir(parents=True)
    (tls / "ca.pem").write_text(ca[0])
    (tls / "host.pem").write_text(cert)
    (tls / "host.key").write_text(key)
    (tls / "host.key").chmod(0o600)
    (root / "run/nats").mkdir(parents=True)


def test_rendered_configs_form_a_tls_cluster_that_accepts_an_r3_stream(tmp_path: Path) -> None:
    hosts = [
        Host(name=f"node{i}", address=f"127.0.0.{i}", privateAddress="127.0.0.1", roles=["nats"])
        for i in (1, 2, 3)
    ]
    numbers = free_ports(9)
    ports = [NatsPorts(*numbers[i * 3 : i * 3 + 3]) for i in range(3)]
    roots = [tmp_path / h.name for h in hosts]
    nodes = nats_nodes(
        "acme",
        hosts,
        MetalNats(),
        client_host="127.0.0.1",
        ports=ports,
        roots=[str(r) for r in roots],
    )
    ca = new_ca("acme test CA")
    for root, host in zip(roots, hosts, strict=True):
        _write_tls(root, ca, host.name)
    cluster = LocalNats(tmp_path / "run", nodes, ACCOUNTS)
    cluster.write_configs()
    binary = find_nats_server()
    for node in nodes:  # the apply step's check: nats-server -t accepts each rendered file
        check = subprocess.run([binary, "-t", "-c", str(cluster.config_path(node))], check=False)
        assert check.returncode == 0
    try:
        # Rolling order, as on the hosts: the first node passes its gate alone (no peer is up,
        # so it cannot wait for a cluster), the next ones wait until they are current with it.
        for i, node in enumerate(nodes):
            cluster.start_node(node, binary)
            gate = _bash(health_gate_script(node, [n for n in nodes if n is not node], 60))
            assert gate.returncode == 0, gate.stderr + cluster.proc(node).log_file.read_text()
            assert gate.stdout.strip() == f"acme-node{i + 1} healthy"
        assert asyncio.run(_replicated_stream(cluster, tmp_path / "node1/etc/nats/tls/ca.pem")) == (
            3,
            1,
        )
    finally:
        cluster.stop()


async def _replicated_stream(cluster: LocalNats, ca_file: Path) -> tuple[int, int]:
    context = ssl.create_default_context(cafile=str(ca_file))
    urls = [url.replace("nats://", "tls://") for url in cluster.urls]
    nc = await nats.connect(urls, tls=context, user="app", password="app-secret")
    try:
        js = nc.jetstream(timeout=10)
        info = await retry_async(  # the meta leader may still be settling
            lambda: js.add_stream(name="EVENTS", subjects=["events.>"], num_replicas=3),
            60,
            "the first R3 stream",
            ignoring=(nats.errors.TimeoutError, nats.js.errors.ServiceUnavailableError),
            poll=0.5,
        )
        # the stream's leader and its subjects' interest may not have reached the server this
        # client talks to yet ("no responders"): publish_settled waits that out, within bounds
        ack = await publish_settled(js, "events.created", b"{}", timeout=30)
        return info.config.num_replicas or 0, ack.seq
    finally:
        await nc.close()


def test_apply_script_refuses_a_config_nats_server_rejects(tmp_path: Path) -> None:
    """The apply step checks the file with the real binary before installing it."""
    body = apply_config_script().replace("/usr/local/bin/nats-server", find_nats_server())
    target = tmp_path / "nats-server.conf"
    body = body.replace("/etc/nats/nats-server.conf", str(target)).replace("-g nats", "-g root")
    body = body.replace("chgrp nats", "chgrp root").split("systemctl daemon-reload")[0]
    bad = _bash(body, "listen: [this is not a config\n")
    assert bad.returncode != 0 and not target.exists()


def test_an_identical_file_is_left_alone_and_a_changed_one_replaced(tmp_path: Path) -> None:
    """What keeps a second `pulumi up` from restarting anything: the same content leaves the
    installed file (its inode, its time) as it is; another content replaces it."""
    body = apply_config_script().replace("/usr/local/bin/nats-server", find_nats_server())
    target = tmp_path / "nats-server.conf"
    body = body.replace("/etc/nats/nats-server.conf", str(target)).replace("-g nats", "-g root")
    body = body.replace("chgrp nats", "chgrp root").split("systemctl daemon-reload")[0]
    body = body.replace(" && install -D -m 0644 /dev/null /var/lib/deploykit/pending/", " && echo ")
    body = body.replace("root:nats", "root:root")
    first = _bash(body, "port: 4222\n")
    assert first.returncode == 0, first.stderr
    assert first.stdout == "nats-server.service\n"
    before = target.stat()
    again = _bash(body, "port: 4222\n")
    assert again.returncode == 0 and again.stdout == ""
    assert (target.stat().st_ino, target.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    changed = _bash(body, "port: 4223\n")
    assert changed.stdout == "nats-server.service\n" and target.read_text() == "port: 4223\n"
