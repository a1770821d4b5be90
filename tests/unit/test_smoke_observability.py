"""The observability checks against a small local HTTP server that answers as the docs say.

Prometheus build information: https://prometheus.io/docs/prometheus/latest/querying/api/
(`GET /api/v1/status/buildinfo` → `{"status": "success", "data": {"version": ...}}`).
Grafana health: https://grafana.com/docs/grafana/latest/developers/http_api/other/
(`GET /api/health` → `{"commit": ..., "database": "ok", "version": ...}`, 503 when failing).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from deploykit.manifest.load import load_manifest
from deploykit.smoke import Status, run_smoke
from deploykit.stack.outputs import StackOutputs

ROOT = Path(__file__).resolve().parents[2]
ROUTES: dict[str, tuple[int, object]] = {
    "/prom/api/v1/status/buildinfo": (
        200,
        {"status": "success", "data": {"version": "2.53.0", "revision": "abc", "branch": "HEAD"}},
    ),
    "/cloud/api/prom/api/v1/status/buildinfo": (401, {"status": "error"}),
    "/grafana/api/health": (200, {"commit": "abc", "database": "ok", "version": "11.1.0"}),
    "/sick/api/health": (503, {"commit": "abc", "database": "failing", "version": "11.1.0"}),
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, body = ROUTES.get(self.path, (404, {"message": "not found"}))
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: object) -> None:
        """Quiet."""


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def observe(prometheus: str | None, grafana: str | None) -> dict[str, tuple[Status, str]]:
    outputs = StackOutputs.model_validate(
        {
            "target": "metal",
            "system": "acme",
            "nats": {"urls": ["nats://127.0.0.1:9"]},
            "observability": {"prometheus_url": prometheus, "grafana_url": grafana},
        }
    )
    run = run_smoke(
        load_manifest(ROOT / "deploykit.yaml"), outputs, source="test", only=["observability"]
    )
    return {r.name: (r.status, r.message.split(" in ")[0]) for r in run.results}


def test_answering_endpoints_pass(base: str) -> None:
    assert observe(f"{base}/prom", f"{base}/grafana/") == {
        "observability.prometheus": (Status.PASS, "Prometheus 2.53.0 answers"),
        "observability.grafana": (Status.PASS, "Grafana 11.1.0 answers, database ok,"),
    }


def test_a_hosted_prometheus_that_wants_credentials_answers(base: str) -> None:
    status, message = observe(f"{base}/cloud/api/prom", None)["observability.prometheus"]
    assert status is Status.PASS
    assert message == (
        f"Prometheus answers {base}/cloud/api/prom/api/v1/status/buildinfo (401: needs credentials)"
    )


def test_failing_and_absent_endpoints(base: str) -> None:
    assert observe(f"{base}/nowhere", f"{base}/sick") == {
        "observability.prometheus": (
            Status.FAIL,
            f"Prometheus: {base}/nowhere/api/v1/status/buildinfo answered HTTP 404",
        ),
        "observability.grafana": (
            Status.FAIL,
            f"Grafana: {base}/sick/api/health answered HTTP 503",
        ),
    }
    assert observe(None, None) == {
        "observability.prometheus": (Status.SKIP, "the outputs name no Prometheus URL"),
        "observability.grafana": (Status.SKIP, "the outputs name no Grafana URL"),
    }
