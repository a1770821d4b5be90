"""`deploykit dev up` of examples/three-buses: the core bus calls billing, billing consumes core
events and emits its own, analytics keeps a copy; `deploykit smoke` passes every check, the
cross-bus ones included, and an account created through the gateway crosses both ways."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import nats
import pytest

from deploykit.local.stack import LocalStack
from deploykit.manifest import naming
from deploykit.manifest.load import load_manifest
from deploykit.smoke import run_smoke
from deploykit.smoke.results import Status
from deploykit.stack.outputs import StackOutputs, load_outputs
from deploykit.testing.polling import wait_until

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "three-buses" / "deploykit.yaml"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    local = LocalStack(
        tmp_path_factory.mktemp("three") / ".deploykit", EXAMPLE, report=lambda _: None
    )
    try:
        local.up(nodes=1)  # one node: the machine is shared; the paths are the same on three
        yield local
    finally:
        local.down()


def outputs_of(stack: LocalStack) -> StackOutputs:
    return load_outputs(stack.dir.outputs_file)


def test_smoke_passes_every_check_the_cross_bus_ones_included(stack: LocalStack) -> None:
    run = run_smoke(load_manifest(EXAMPLE), outputs_of(stack), source="test", timeout=30)
    failed = {r.name: r.message for r in run.results if r.status is Status.FAIL}
    assert failed == {}
    crossbus = {r.name: r.status for r in run.results if r.name.startswith("crossbus.")}
    assert len(crossbus) == 6 and set(crossbus.values()) == {Status.PASS}, crossbus


async def _messages(outputs: StackOutputs, bus: str, stream: str) -> int:
    cred = outputs.credential(naming.smoke_user(bus))
    nc = await nats.connect(outputs.nats.urls, **cred.connect_options())
    try:
        reply = await nc.request(f"$JS.API.STREAM.INFO.{stream}", b"", timeout=5)
        return json.loads(reply.data)["state"]["messages"]
    finally:
        await nc.close()


def test_an_account_crosses_to_billing_and_analytics(stack: LocalStack) -> None:
    outputs = outputs_of(stack)
    url = next(s.url for s in outputs.services if s.name == "gateway" and s.url)
    before = asyncio.run(_messages(outputs, "billing", "INVOICES"))
    created = httpx.post(f"{url}/accounts", json={"email": "three@example.com"}, timeout=15)
    assert created.status_code == 201, created.text
    account = created.json()["id"]
    invoice = httpx.get(f"{url}/invoices/{account}", timeout=15)
    assert (invoice.status_code, invoice.json()) == (200, {"account": account, "bus": "billing"})

    def invoiced() -> int:
        return asyncio.run(_messages(outputs, "billing", "INVOICES")) > before

    wait_until(invoiced, 20, "billing.events.invoiced from the core bus's event")
    assert wait_until(lambda: asyncio.run(_messages(outputs, "analytics", "SIGNUPS")), 20, "a copy")
