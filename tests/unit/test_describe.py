"""AsyncAPI documents and diagrams of the system, made from the manifest."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7
from typer.testing import CliRunner

from deploykit.cli import app
from deploykit.describe.asyncapi import asyncapi_document, asyncapi_documents
from deploykit.describe.diagram import graph, mermaid, svg
from deploykit.errors import ConfigError
from deploykit.laws.rules import lint
from deploykit.manifest.load import load_manifest, parse_manifest
from deploykit.manifest.model import Manifest

ROOT = Path(__file__).resolve().parents[2]
SPECS = Path(
    os.environ.get("DEPLOYKIT_ASYNCAPI_SPECS")
    or Path.home() / ".cache/deploykit/npm/node_modules/@asyncapi/specs"
)

THREE_BUSES = """
version: 1
system: shop
buses:
  core: {core: true}
  billing: {description: invoices and payments}
  analytics: {}
streams:
  ORDERS: {subjects: ["orders.events.>"], replicas: 1}
  INVOICES: {bus: billing, subjects: ["invoices.events.>"], replicas: 1}
  CLICKS: {bus: analytics, subjects: ["clicks.>"], replicas: 1, noisy: true, max_age: 7d}
services:
  web: {role: frontend, calls: [orders.place]}
  orders:
    role: rpc
    endpoints: {place: {subject: orders.rpc.place}}
    emits: [orders.events.placed]
  invoicer:
    role: worker
    bus: billing
    consumes: [{stream: INVOICES, consumer: invoicer, mode: queue}]
    emits: [invoices.events.sent]
  counter:
    role: worker
    bus: analytics
    consumes: [{stream: CLICKS, consumer: counter, mode: fanout}]
contracts:
  orders.events.placed:
    schema: {type: object, required: [order], properties: {order: {type: string}}}
  orders.rpc.place:
    request: {type: object, required: [sku], properties: {sku: {type: string}}}
"""


@pytest.fixture(scope="module")
def reference() -> Manifest:
    return load_manifest(ROOT / "deploykit.yaml")


@pytest.fixture(scope="module")
def official() -> Draft7Validator:
    """The official AsyncAPI 3.0.0 JSON Schema from the npm package `@asyncapi/specs`."""
    path = SPECS / "schemas" / "3.0.0.json"
    if not path.is_file():
        pytest.skip(f"{path} is missing: scripts/bootstrap installs @asyncapi/specs where npm runs")
    schema = json.loads(path.read_text())
    resources = [
        (d["$id"], Resource.from_contents(d, default_specification=DRAFT7))
        for d in schema["definitions"].values()
        if "$id" in d
    ]
    return Draft7Validator(schema, registry=Registry().with_resources(resources))


def _errors(validator: Draft7Validator, document: dict[str, Any]) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def test_every_bus_of_the_reference_validates(
    reference: Manifest, official: Draft7Validator
) -> None:
    for bus, document in asyncapi_documents(reference).items():
        assert _errors(official, document) == [], bus


def test_a_three_bus_manifest_validates(official: Draft7Validator) -> None:
    documents = asyncapi_documents(parse_manifest(THREE_BUSES, "shop.yaml"), ["tls://a:4222"])
    assert set(documents) == {"core", "billing", "analytics"}
    for document in documents.values():
        assert _errors(official, document) == []
    assert documents["core"]["servers"] == {"nats-1": {"host": "a:4222", "protocol": "tls"}}


def test_cross_bus_channels_are_in_the_importing_and_the_exporting_document(
    official: Draft7Validator,
) -> None:
    """examples/three-buses: the billing endpoint the core gateway calls is a channel of core's
    document, marked as imported from billing, and billing's marks it exported to core; the
    core events billing consumes and analytics copies likewise. Every document validates."""
    documents = asyncapi_documents(load_manifest(ROOT / "examples/three-buses/deploykit.yaml"))
    for document in documents.values():
        assert _errors(official, document) == []
    core, billing, analytics = (documents[b]["channels"] for b in ("core", "billing", "analytics"))
    invoice = core["billing_rpc_invoice"]
    assert invoice["address"] == "billing.rpc.invoice"
    assert [(i["bus"], i["account"], i["path"]) for i in invoice["x-deploykit-import"]] == [
        ("billing", "billing", "call")
    ]
    assert "gateway.call.invoices.get" in documents["core"]["operations"]
    assert "gateway.call.invoices.get" not in documents["billing"]["operations"]
    assert [e["bus"] for e in billing["billing_rpc_invoice"]["x-deploykit-export"]] == ["core"]
    consumed = billing["accounts_events_created"]["x-deploykit-import"]
    assert [(i["bus"], i["path"], i["via"]) for i in consumed] == [
        ("core", "consumer", "deploykit.bus.core.API.CONSUMER.MSG.NEXT.ACCOUNTS.invoicer")
    ]
    copied = analytics["accounts_events_created"]
    assert copied["x-deploykit-stream"] == "SIGNUPS"
    assert [(i["bus"], i["path"], i["stream"]) for i in copied["x-deploykit-import"]] == [
        ("core", "source", "ACCOUNTS")
    ]
    exported = core["accounts_events_created"]["x-deploykit-export"]
    assert [(e["bus"], e["path"]) for e in exported] == [
        ("billing", "consumer"),
        ("analytics", "source"),
    ]
    assert [c for c, v in billing.items() if "x-deploykit-import" in v] == [
        "accounts_events_created"
    ]
    assert "x-deploykit-export" not in core["accounts_rpc_create"]


def test_the_official_schema_refuses_a_broken_document(
    reference: Manifest, official: Draft7Validator
) -> None:
    document = copy.deepcopy(asyncapi_document(reference, "core"))
    document["operations"]["gateway.call.accounts.create"]["action"] = "shout"
    assert _errors(official, document)


def test_operations_follow_the_manifest(reference: Manifest) -> None:
    doc = asyncapi_document(reference, "core")
    ops = doc["operations"]
    answer = ops["accounts.answer.create"]
    assert answer["action"] == "receive"
    assert answer["reply"] == {"channel": {"$ref": "#/channels/accounts_rpc_create_reply"}}
    assert ops["gateway.call.accounts.create"]["action"] == "send"
    assert ops["accounts.emit.accounts_events_created"]["action"] == "send"
    welcome = ops["welcome.consume.welcome.accounts_events_created"]
    assert welcome["bindings"]["nats"]["queue"] == "welcome"
    assert welcome["x-deploykit-consumer"]["mode"] == "queue"
    fanout = ops["projector.consume.projector.accounts_events_all"]
    assert "bindings" not in fanout and fanout["x-deploykit-consumer"]["warmup"] is True
    channel = doc["channels"]["accounts_events_created"]
    assert channel["x-deploykit-stream"] == "ACCOUNTS"
    assert (
        channel["messages"]["event"]["payload"]
        == reference.contracts["accounts.events.created"].schema_
    )
    assert set(doc["x-deploykit-jetstream"]["streams"]) == {"ACCOUNTS"}
    assert set(asyncapi_document(reference, "analytics")["channels"]) == {"pageviews_all"}


def test_the_diagram_draws_every_service_store_and_use(reference: Manifest) -> None:
    text = mermaid(graph(reference, lint(reference)))
    for name in reference.services:
        assert f"services_{name}" in text
    assert 'services_gateway -->|"accounts.create"| services_accounts' in text
    assert (
        'streams_ACCOUNTS ==>|"queue welcome<br/>accounts.events.created"| services_welcome' in text
    )
    assert 'streams_ACCOUNTS -.->|"fanout projector"| services_projector' in text
    assert 'subgraph bus_analytics["bus analytics"]' in text


def test_lint_findings_are_marked_red() -> None:
    text = THREE_BUSES.replace(
        "web: {role: frontend, calls: [orders.place]}",
        "web: {role: frontend, calls: [orders.place], emits: [orders.events.placed]}",
    )
    m = parse_manifest(text, "shop.yaml")
    drawing = graph(m, lint(m))
    flagged = {n.id: n.findings for n in drawing.nodes if n.findings}
    assert "services.web" in flagged and "services.orders" not in flagged
    assert flagged["services.web"] == ("DK103: a frontend service emits orders.events.placed",)
    assert "services_web finding" in mermaid(drawing).splitlines()[-1]
    assert 'stroke="#c00"' in svg(drawing)


@pytest.mark.parametrize("name", ["system.mmd", "system.svg"])
def test_the_committed_diagrams_are_current(reference: Manifest, name: str) -> None:
    """docs/ shows the reference system; regenerate with `deploykit render diagram -o docs/NAME`."""
    drawing = graph(reference, lint(reference))
    fresh = svg(drawing) if name.endswith(".svg") else mermaid(drawing)
    assert (ROOT / "docs" / name).read_text() == fresh, f"docs/{name} is stale"


def test_render_commands_write_files(tmp_path: Path) -> None:
    runner = CliRunner()
    manifest = str(ROOT / "deploykit.yaml")
    out = tmp_path / "core.yaml"
    done = runner.invoke(app, ["render", "asyncapi", "-f", manifest, "-o", str(out)])
    assert done.exit_code == 0, done.output
    assert yaml.safe_load(out.read_text())["asyncapi"] == "3.0.0"
    done = runner.invoke(app, ["render", "diagram", "-f", manifest, "-o", str(tmp_path / "s.svg")])
    assert done.exit_code == 0 and (tmp_path / "s.svg").read_text().startswith("<svg")
    done = runner.invoke(app, ["render", "asyncapi", "-f", manifest, "--bus", "nope"])
    assert isinstance(done.exception, ConfigError)
    assert "--bus nope: not a bus" in str(done.exception)
