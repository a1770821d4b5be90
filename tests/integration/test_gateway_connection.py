"""The gateway's NATS connection as a function host uses it: made on the first request, kept for
the next ones (a warm instance), made again when closed or when a new event loop serves (a cold
start), against a real nats-server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest

from apps.gateway.server import Gateway, from_environment
from deploykit.local.nats import local_cluster
from deploykit.manifest.load import load_manifest
from deploykit.manifest.wiring import wiring_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with local_cluster(tmp_path_factory.mktemp("gateway-nats")) as cluster:
        yield cluster.url


ROOT = Path(__file__).resolve().parents[2]


def gateway_env(monkeypatch: pytest.MonkeyPatch, nats_url: str) -> None:
    """What a function host's environment holds (no user: this nats-server has none)."""
    wiring = wiring_for(load_manifest(ROOT / "deploykit.yaml"), "gateway").model_dump_json()
    monkeypatch.setenv("DEPLOYKIT_SERVICE", "gateway")
    monkeypatch.setenv("NATS_URL", nats_url)
    monkeypatch.setenv("NATS_INBOX_PREFIX", "_INBOX_gateway")
    monkeypatch.setenv("DEPLOYKIT_WIRING", wiring)


async def call(app: Gateway, method: str, path: str, body: bytes = b"") -> tuple[int, Any]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "http", "method": method, "path": path}, receive, send)
    return sent[0]["status"], json.loads(sent[1]["body"])


async def accounts(nats_url: str) -> Any:
    """A connection answering accounts.rpc.get as the accounts service would."""
    nc = await nats.connect(nats_url)

    async def get(msg: Any) -> None:
        await msg.respond(json.dumps({"id": json.loads(msg.data)["id"]}).encode())

    await nc.subscribe("accounts.rpc.get", cb=get)
    await nc.flush()
    return nc


async def ask(app: Gateway) -> list[tuple[int, Any]]:
    return [await call(app, "GET", "/healthz"), await call(app, "GET", "/accounts/a1")]


def test_one_connection_per_instance_made_again_after_a_cold_start(
    nats_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway_env(monkeypatch, nats_url)
    app = from_environment()  # what api/index.py does at import: nothing connects yet
    assert app.connection.connected is False

    async def warm_instance() -> tuple[list[tuple[int, Any]], object, object]:
        service = await accounts(nats_url)
        try:
            first = await ask(app)
            nc, _ = await app.connection.get()
            again = await ask(app)
            assert (await app.connection.get())[0] is nc, "a warm instance reuses its connection"
            await nc.close()  # the platform froze the instance and the server dropped it
            reconnected = await ask(app)
            assert (await app.connection.get())[0] is not nc
            return [*first, *again, *reconnected], nc, (await app.connection.get())[0]
        finally:
            await service.close()

    answers, closed, last = asyncio.run(warm_instance())
    assert answers == [(200, {"nats": True}), (200, {"id": "a1"})] * 3

    # A new event loop (a new invocation loop after a cold start): the old connection belongs
    # to a loop that is gone, so a new one is made instead of failing.
    answers, _, newest = asyncio.run(warm_instance())
    assert answers == [(200, {"nats": True}), (200, {"id": "a1"})] * 3
    assert newest is not last and closed is not newest


def test_a_bad_environment_is_a_500_that_names_nothing_secret(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    monkeypatch.delenv("NATS_URL", raising=False)
    monkeypatch.setenv("DEPLOYKIT_SERVICE", "gateway")
    app = from_environment()
    status, body = asyncio.run(call(app, "GET", "/healthz"))
    assert (status, body) == (500, {"error": "the gateway is misconfigured"})
    assert "bad configuration: NATS_URL is required" in caplog.text


def test_unknown_routes_and_methods(nats_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    gateway_env(monkeypatch, nats_url)
    app = from_environment()

    async def scenario() -> list[tuple[int, Any]]:
        return [
            await call(app, "GET", "/nowhere"),
            await call(app, "DELETE", "/accounts/a1"),
            await call(app, "GET", "/accounts"),
        ]

    assert [status for status, _ in asyncio.run(scenario())] == [404, 405, 405]
