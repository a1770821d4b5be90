"""`deploykit new service`: a service of each role, created in a fresh project, runs on the
local stack and passes smoke without editing; what the laws refuse changes nothing; the
manifest keeps its comments."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from deploykit.local.stack import LocalStack
from deploykit.manifest.load import load_manifest
from deploykit.smoke import Status, run_smoke
from deploykit.stack.outputs import load_outputs
from deploykit.testing.sockets import beyond_loopback

pytestmark = pytest.mark.integration

MANIFEST = """\
# A shop, described once.
version: 1
system: shop
buses:
  core: {}   # the only bus

# Events: what happened, kept.
streams:
  ORDERS:
    subjects: ["orders.events.>"]   # every order event
    replicas: 1
    max_age: 30d
    backup: true
  MAIL:
    subjects: ["mail.events.>"]
    replicas: 1
    max_age: 7d
    backup: true

services: {}
"""

CREATED = [
    ["orders", "--role", "rpc", "--emits", "orders.events.placed"],
    ["shop", "--role", "frontend", "--calls", "orders.hello"],
    ["mailer", "--role", "worker", "--consumes", "ORDERS", "--emits", "mail.events.sent"],
    ["board", "--role", "worker", "--consumes", "ORDERS", "--mode", "fanout"],
]
REFUSED = [
    (["bad", "--role", "frontend", "--emits", "orders.events.x"], "DK103"),
    (["bad", "--role", "worker", "--consumes", "ORDERS", "--mode", "fanout", "--emits", "mail.events.x"], "DK201"),
    (["bad", "--role", "rpc", "--calls", "orders.hello"], "DK101"),
    (["bad", "--role", "worker"], "give --consumes STREAM"),
    (["orders", "--role", "rpc"], "services.orders exists already"),
]  # fmt: skip


def deploykit(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "deploykit"), *args],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def snapshot(project: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(project)): p.read_bytes()
        for p in sorted(project.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_new_services_of_every_role_run_and_pass_smoke(tmp_path: Path) -> None:
    project = tmp_path / "shop"
    project.mkdir()
    (project / "deploykit.yaml").write_text(MANIFEST)
    for args in CREATED:
        result = deploykit(project, "new", "service", *args)
        assert result.returncode == 0, result.stderr
    text = (project / "deploykit.yaml").read_text()
    for comment in ("# A shop, described once.", "# the only bus", "# every order event"):
        assert comment in text
    assert text.startswith(MANIFEST.split("services:")[0]), "only the services section changed"
    manifest = load_manifest(project / "deploykit.yaml")
    assert list(manifest.services) == ["orders", "shop", "mailer", "board"]
    assert manifest.services["board"].consumes[0].warmup

    before = snapshot(project)
    for args, reason in REFUSED:
        result = deploykit(project, "new", "service", *args)
        assert result.returncode != 0
        assert reason in result.stderr
        assert "nothing was written" in result.stderr
        assert snapshot(project) == before, f"{args} changed the project"

    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "services"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert tests.returncode == 0, tests.stdout

    stack = LocalStack(project / ".deploykit", project / "deploykit.yaml", report=lambda _: None)
    try:
        stack.up(nodes=1)
        outputs = load_outputs(project / ".deploykit" / "outputs.json")
        run = run_smoke(manifest, outputs, source="test", timeout=20)
        failed = {r.name: r.message for r in run.results if r.status is Status.FAIL}
        assert not failed
        passed = {r.name for r in run.results if r.status is Status.PASS}
        assert {f"services.{name}" for name in manifest.services} <= passed
        shop = next(s for s in outputs.services if s.name == "shop")
        shop_process = next(p for n, _, p, _ in stack.processes() if n == "shop")
        sockets, beyond = beyond_loopback(shop_process.pid() or 0)
        assert sockets and beyond == [], f"the shop frontend listens beyond loopback: {beyond}"
        request = urllib.request.Request(
            f"{shop.url}/hello", data=json.dumps({"id": "o-1"}).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.loads(response.read()) == {"hello": {"id": "o-1"}, "id": "o-1"}
        assert shop.metrics_url
        with urllib.request.urlopen(shop.metrics_url, timeout=5) as response:
            page = response.read().decode()
        assert 'http_server_request_duration_seconds_count{http_request_method="POST"' in page
        assert 'http_route="/hello"' in page
        assert (
            'messaging_client_sent_messages_total{messaging_destination_name="orders.hello"' in page
        )
    finally:
        stack.down()
