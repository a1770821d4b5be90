"""Artifacts without the internet, for real: fetched on this machine, uploaded over SSH to a
test host that has no route out, installed by the catalogue's snippets (checksums verified),
and the servers start: nats-server answers /healthz, PostgreSQL answers a query. Then the
same from a mirror on the bridge, and a corrupt file refused."""

from __future__ import annotations

import http.server
import threading
from functools import partial
from pathlib import Path

import pytest

from deploykit.metal.artifacts import (
    REMOTE_FOLDER,
    Artifact,
    ArtifactIndex,
    catalogue,
    install_snippet,
)
from deploykit.metal.fetch import fetch_artifacts
from deploykit.metal.shell import http_ok, script, wait_until
from deploykit.testing.hosts import Hosts, Recipe, boot_hosts, ensure_rootfs

pytestmark = pytest.mark.hosts

NAMES = ["nats-server", "postgresql"]


def test_fetch_upload_install_start(tmp_path: Path) -> None:
    base = ensure_rootfs(Recipe()) / "var/lib/dpkg/status"
    folder = tmp_path / "artifacts"
    index = fetch_artifacts(folder, names=NAMES, base_status=base, report=lambda _: None)
    assert sorted(index.artifacts) == NAMES
    assert index.artifacts["postgresql"].version.startswith("15.")
    items = catalogue(index.suite)
    with boot_hosts(1) as hosts:
        host = hosts[0]
        offline = hosts.ssh(host, "curl -fsS -m 5 -o /dev/null http://deb.debian.org/", check=False)
        assert offline.returncode != 0, "the test host must have no route out"
        hosts.ssh(host, f"mkdir -p {REMOTE_FOLDER}")
        for part in ("bin", "debs"):
            hosts.copy(host, folder / part, REMOTE_FOLDER, recursive=True)
        for name in NAMES:
            snippet = install_snippet(items[name], index.artifacts[name])
            hosts.ssh(host, "bash --norc -euo pipefail -s", input=snippet)
            again = hosts.ssh(host, "bash --norc -euo pipefail -s", input=snippet)
            assert again.stdout == "", f"{name}: a second install must do nothing: {again.stdout}"

        start = script(
            "systemd-run --unit=nats-test /usr/local/bin/nats-server -a 127.0.0.1 -m 8222",
            wait_until(http_ok("http://127.0.0.1:8222/healthz"), 30, "nats-server not healthy"),
        )
        hosts.ssh(host, "bash --norc -euo pipefail -s", input=start)
        version = hosts.ssh(host, "/usr/local/bin/nats-server --version").stdout
        assert version.strip() == f"nats-server: v{index.artifacts['nats-server'].version}"
        query = "cd / && runuser -u postgres -- psql -tAc 'select 6 * 7'"
        assert hosts.ssh(host, query).stdout.strip() == "42"
        assert hosts.ssh(host, "systemctl is-active postgresql@15-main").stdout.strip() == "active"

        _from_a_mirror(hosts, folder, items, index)

        nats = index.artifacts["nats-server"]
        (folder / nats.files[0].path).write_bytes(b"corrupt")
        hosts.copy(host, folder / "bin", REMOTE_FOLDER, recursive=True)
        snippet = install_snippet(items["nats-server"], nats)
        refused = hosts.ssh(host, "bash --norc -euo pipefail -s", input=snippet, check=False)
        assert refused.returncode != 0 and "did NOT match" in refused.stderr


def _from_a_mirror(
    hosts: Hosts, folder: Path, items: dict[str, Artifact], index: ArtifactIndex
) -> None:
    """The same folder served over HTTP on the bridge's address (the deploying machine's side):
    the host downloads into its cache folder, verifies, installs."""
    host = hosts[0]
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer((hosts.gateway, 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        mirror = f"http://{hosts.gateway}:{server.server_address[1]}"
        hosts.ssh(host, f"rm -rf /usr/local/bin/nats-server {REMOTE_FOLDER}/bin")
        nats = index.artifacts["nats-server"]
        snippet = install_snippet(items["nats-server"], nats, mirror=mirror)
        hosts.ssh(host, "bash --norc -euo pipefail -s", input=snippet)
        version = hosts.ssh(host, "/usr/local/bin/nats-server --version").stdout.strip()
        assert version == f"nats-server: v{nats.version}"
    finally:
        server.shutdown()
        server.server_close()
