"""Cross-bus paths: validation, the derived exports and imports, the permissions they give,
the server config that holds them, and the JetStream config of a copy."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploykit.describe.diagram import graph
from deploykit.errors import ManifestError
from deploykit.jetstream.desired import desired_state
from deploykit.jetstream.plan import diff_config
from deploykit.laws.authconf import (
    generate_passwords,
    render_accounts_block,
    render_authorization_json,
)
from deploykit.laws.exports import Export, Import, bench_links, compile_links
from deploykit.laws.permissions import compile_authorization
from deploykit.local.nats import find_nats_server, plan_local_cluster
from deploykit.manifest.crossbus import PathKind, cross_paths
from deploykit.manifest.load import load_manifest, parse_manifest
from deploykit.manifest.model import Manifest
from deploykit.smoke.laws_checks import event_subject
from deploykit.testing.clirun import run_cli

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "three-buses" / "deploykit.yaml"
DATA: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
NEXT = "CONSUMER.MSG.NEXT.ACCOUNTS.invoicer"
INFO = "CONSUMER.INFO.ACCOUNTS.invoicer"
CREATE = "CONSUMER.CREATE.ACCOUNTS.*.accounts.events.created"
BENCH_INFO = "CONSUMER.INFO.DEPLOYKIT_SMOKE.deploykit-bench-billing"
BENCH_NEXT = "CONSUMER.MSG.NEXT.DEPLOYKIT_SMOKE.deploykit-bench-billing"
BENCH_CALL = "deploykit.bench.crossbus.billing.>"
BENCH_CREATE = "CONSUMER.CREATE.DEPLOYKIT_SMOKE.*.deploykit.smoke.bench.>"


@pytest.fixture(scope="module")
def example() -> Manifest:
    return load_manifest(EXAMPLE)


def edited(*paths_values: tuple[str, Any]) -> str:
    data = copy.deepcopy(DATA)
    for path, value in paths_values:
        *parents, leaf = path.split("/")
        node = data
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
        node[leaf] = value
    return yaml.safe_dump(data)


def problems(text: str) -> dict[str, str]:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text, "deploykit.yaml")
    return {p.path: p.render("deploykit.yaml") for p in caught.value.problems}


def test_the_paths_are_found_where_they_are_declared(example: Manifest) -> None:
    found = [(p.kind, p.path, p.importer, p.exporter) for p in cross_paths(example)]
    assert found == [
        (PathKind.CALL, "services.gateway.calls[1]", "core", "billing"),
        (PathKind.CONSUMER, "services.invoicer.consumes[0]", "billing", "core"),
        (PathKind.SOURCE, "streams.SIGNUPS.sources[0]", "analytics", "core"),
    ]


def test_each_bus_exports_exactly_what_the_others_use(example: Manifest) -> None:
    links = compile_links(example)
    assert links["core"].exports == (
        Export(kind="service", subject=f"$JS.API.{INFO}", accounts=("billing",)),
        Export(kind="service", subject=f"$JS.API.{NEXT}", accounts=("billing",), response="stream"),
        Export(kind="service", subject="$JS.ACK.ACCOUNTS.invoicer.>", accounts=("billing",)),
        Export(kind="service", subject=f"$JS.API.{CREATE}", accounts=("analytics",)),
        Export(kind="service", subject="$JS.FC.ACCOUNTS.>", accounts=("analytics",)),
        Export(
            kind="stream", subject="deploykit.deliver.analytics.SIGNUPS.>", accounts=("analytics",)
        ),
        # deploykit bench's own, beside the consumer path: the core smoke stream, read across
        Export(kind="service", subject=f"$JS.API.{BENCH_INFO}", accounts=("billing",)),
        Export(
            kind="service",
            subject=f"$JS.API.{BENCH_NEXT}",
            accounts=("billing",),
            response="stream",
        ),
        Export(
            kind="service",
            subject="$JS.ACK.DEPLOYKIT_SMOKE.deploykit-bench-billing.>",
            accounts=("billing",),
        ),
        # ... and beside the copy: its own copy of bench's smoke messages
        Export(kind="service", subject=f"$JS.API.{BENCH_CREATE}", accounts=("analytics",)),
        Export(kind="service", subject="$JS.FC.DEPLOYKIT_SMOKE.>", accounts=("analytics",)),
        Export(
            kind="stream",
            subject="deploykit.deliver.analytics.DEPLOYKIT_BENCH_COPY.>",
            accounts=("analytics",),
        ),
    )
    assert links["core"].imports == (
        Import(kind="service", account="billing", subject="billing.rpc.invoice"),
        Import(kind="service", account="billing", subject=BENCH_CALL),
    )
    assert links["billing"].exports == (
        Export(kind="service", subject="billing.rpc.invoice", accounts=("core",)),
        Export(kind="service", subject=BENCH_CALL, accounts=("core",)),
    )
    assert links["billing"].imports == (
        Import(
            kind="service",
            account="core",
            subject=f"$JS.API.{INFO}",
            to=f"deploykit.bus.core.API.{INFO}",
        ),
        Import(
            kind="service",
            account="core",
            subject=f"$JS.API.{NEXT}",
            to=f"deploykit.bus.core.API.{NEXT}",
        ),
        Import(kind="service", account="core", subject="$JS.ACK.ACCOUNTS.invoicer.>"),
        Import(
            kind="service",
            account="core",
            subject=f"$JS.API.{BENCH_INFO}",
            to=f"deploykit.bus.core.API.{BENCH_INFO}",
        ),
        Import(
            kind="service",
            account="core",
            subject=f"$JS.API.{BENCH_NEXT}",
            to=f"deploykit.bus.core.API.{BENCH_NEXT}",
        ),
        Import(
            kind="service",
            account="core",
            subject="$JS.ACK.DEPLOYKIT_SMOKE.deploykit-bench-billing.>",
        ),
    )
    assert [i.subject for i in links["analytics"].imports] == [
        f"$JS.API.{CREATE}",
        "$JS.FC.ACCOUNTS.>",
        "deploykit.deliver.analytics.SIGNUPS.>",
        f"$JS.API.{BENCH_CREATE}",
        "$JS.FC.DEPLOYKIT_SMOKE.>",
        "deploykit.deliver.analytics.DEPLOYKIT_BENCH_COPY.>",
    ]
    assert links["analytics"].exports == ()
    every = [x.subject for bus in links.values() for x in (*bus.exports, *bus.imports) if x.subject]
    assert ">" not in every and not any(s.endswith("$JS.API.>") for s in every)


def test_two_callers_on_one_bus_share_one_import_and_buses_share_one_export() -> None:
    text = edited(
        ("services/console", {"role": "frontend", "calls": ["invoices.get"]}),
        ("services/reports", {"role": "frontend", "bus": "analytics", "calls": ["invoices.get"]}),
    )
    links = compile_links(parse_manifest(text))
    assert [i.subject for i in links["core"].imports] == ["billing.rpc.invoice", BENCH_CALL]
    export, bench = links["billing"].exports
    assert export.accounts == bench.accounts == ("core", "analytics")


def test_permissions_grant_the_imported_subjects_and_nothing_else_of_the_other_bus(
    example: Manifest,
) -> None:
    users = compile_authorization(example).users
    gateway = users["gateway"].permissions
    assert gateway.publish_allow[:2] == ("accounts.rpc.create", "billing.rpc.invoice")
    assert not any(s.startswith("billing.") for s in gateway.publish_allow[2:])
    invoicer = users["invoicer"].permissions
    assert invoicer.publish_allow == (
        f"deploykit.bus.core.API.{INFO}",
        f"deploykit.bus.core.API.{NEXT}",
        "$JS.ACK.ACCOUNTS.invoicer.>",
        "billing.events.invoiced",
    )
    assert not any(s.startswith("$JS.API") for s in invoicer.publish_allow)


def test_bench_crosses_the_same_pairs_of_buses_between_smoke_users_only(
    example: Manifest,
) -> None:
    """One bench path per kind and pair of buses: the call's on the kit's subjects, the
    consumer's and the copy's on the core smoke stream. Only the two smoke users get their
    subjects."""
    found = [(p.kind, p.importer, p.exporter, p.subject, p.consumer) for p in bench_links(example)]
    assert found == [
        (PathKind.CALL, "core", "billing", BENCH_CALL, None),
        (PathKind.CONSUMER, "billing", "core", None, "deploykit-bench-billing"),
        (PathKind.SOURCE, "analytics", "core", "deploykit.smoke.bench.>", None),
    ]
    users = compile_authorization(example).users
    billing = users["smoke-billing"].permissions
    assert BENCH_CALL in billing.subscribe_allow and billing.allow_responses
    assert f"deploykit.bus.core.API.{BENCH_NEXT}" in billing.publish_allow
    assert BENCH_CALL in users["smoke-core"].permissions.publish_allow
    analytics = users["smoke-analytics"].permissions
    assert not analytics.allow_responses
    assert "$JS.API.STREAM.*.DEPLOYKIT_BENCH_COPY" in analytics.publish_allow  # its own copy
    assert not any("bench" in s for s in (*analytics.publish_allow, *analytics.subscribe_allow))
    for name in ("gateway", "invoices", "invoicer"):
        granted = (*users[name].permissions.publish_allow, *users[name].permissions.subscribe_allow)
        assert not any("bench" in s for s in granted), name


def test_the_accounts_block_with_exports_and_imports_is_accepted_by_nats_server(
    example: Manifest, tmp_path: Path
) -> None:
    authorization = compile_authorization(example)
    block = render_accounts_block(authorization, generate_passwords(authorization))
    assert block["billing"]["exports"] == [
        {"service": "billing.rpc.invoice", "accounts": ["core"]},
        {"service": BENCH_CALL, "accounts": ["core"]},
    ]
    assert block["billing"]["imports"][1] == {
        "service": {"account": "core", "subject": f"$JS.API.{NEXT}"},
        "to": f"deploykit.bus.core.API.{NEXT}",
    }
    assert "exports" not in block["analytics"] and "imports" not in block["SYS"]
    cluster = plan_local_cluster(tmp_path, 1, block)
    cluster.write_configs()
    config = cluster.config_path(cluster.nodes[0])
    result = subprocess.run(
        [find_nats_server(), "-t", "-c", str(config)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr


def test_the_neutral_document_carries_exports_and_imports(example: Manifest) -> None:
    document = render_authorization_json(compile_authorization(example))
    accounts = {a["name"]: a for a in document["accounts"]}
    assert accounts["billing"]["exports"] == [
        {
            "type": "service",
            "subject": subject,
            "accounts": ["core"],
            "response_type": "Singleton",
        }
        for subject in ("billing.rpc.invoice", BENCH_CALL)
    ]
    assert accounts["core"]["imports"] == [
        {
            "type": "service",
            "account": "billing",
            "subject": subject,
            "local_subject": subject,
        }
        for subject in ("billing.rpc.invoice", BENCH_CALL)
    ]


def test_render_permissions_shows_exports_and_imports_per_bus() -> None:
    result = run_cli("render", "permissions", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "  export service billing.rpc.invoice to core" in lines
    assert "  import service billing.rpc.invoice from billing" in lines
    assert f"  import service $JS.API.{NEXT} from core as deploykit.bus.core.API.{NEXT}" in lines
    assert f"  export service $JS.API.{NEXT} to billing, a stream of replies" in lines


@pytest.mark.parametrize(
    ("edits", "path", "fragment"),
    [
        pytest.param(
            [("services/gateway/calls", ["invoices.nope"])],
            "services.gateway.calls[0]",
            "service 'invoices' has no endpoint 'nope'",
            id="missing endpoint",
        ),
        pytest.param(
            [("streams/SIGNUPS/sources", [{"stream": "NOPE"}])],
            "streams.SIGNUPS.sources[0].stream",
            "unknown stream 'NOPE'",
            id="missing source",
        ),
        pytest.param(
            [("streams/SIGNUPS/sources", [{"stream": "ACCOUNTS", "filter": "billing.x"}])],
            "streams.SIGNUPS.sources[0].filter",
            "'billing.x' is not within the subjects of stream 'ACCOUNTS'",
            id="source filter outside",
        ),
        pytest.param(
            [
                ("streams/SIGNUPS/sources", [{"stream": "INVOICES"}]),
                ("streams/SIGNUPS/bus", "billing"),
            ],
            "streams.SIGNUPS.sources[0].stream",
            "stream 'INVOICES' is on bus 'billing' too",
            id="source on the same bus",
        ),
        pytest.param(
            [("streams/SIGNUPS/sources", [])],
            "streams.SIGNUPS.subjects",
            "a stream needs subjects, sources, or both",
            id="neither subjects nor sources",
        ),
        pytest.param(
            [("services/accounts/endpoints/create/subject", "billing.rpc.invoice")],
            "services.gateway.calls[1]",
            "the import of 'billing.rpc.invoice' from bus 'billing' collides with endpoint "
            "accounts.create on bus 'core'",
            id="import collides with a local endpoint",
        ),
        pytest.param(
            [
                ("buses/other", {}),
                (
                    "services/lookup",
                    {
                        "role": "rpc",
                        "bus": "other",
                        "endpoints": {"find": {"subject": "billing.rpc.*"}},
                    },
                ),
                ("services/gateway/calls", ["invoices.get", "lookup.find"]),
            ],
            "services.gateway.calls[1]",
            "the import of 'billing.rpc.*' from bus 'other' collides with the import of "
            "'billing.rpc.invoice' from bus 'billing'",
            id="two imports collide",
        ),
        pytest.param(
            [("streams/AUDIT", {"subjects": ["billing.>"], "max_age": "1d", "backup": True})],
            "services.gateway.calls[1]",
            "requests to 'billing.rpc.invoice' would be captured by stream 'AUDIT' on bus 'core'",
            id="import captured by a stream",
        ),
        pytest.param(
            [("streams/SIGNUPS/subjects", ["accounts.events.>"])],
            "streams.SIGNUPS.sources[0]",
            "the copy of 'accounts.events.created' would be captured by stream 'SIGNUPS'",
            id="copy captured by a stream",
        ),
        pytest.param(
            [("services/invoicer/consumes/0/mode", "fanout")],
            "services.invoicer.consumes[0].mode",
            "a fanout consumer cannot read across buses",
            id="fanout across buses",
        ),
    ],
)
def test_paths_that_cannot_work_are_refused_where_declared(
    edits: list[tuple[str, Any]], path: str, fragment: str
) -> None:
    found = problems(edited(*edits))
    assert path in found, found
    assert fragment in found[path]


def test_the_copy_is_a_source_through_the_imported_api(example: Manifest) -> None:
    (signups,) = [o for o in desired_state(example, "analytics", 3).objects]
    assert signups.config["sources"] == [
        {
            "name": "ACCOUNTS",
            "filter_subject": "accounts.events.created",
            "external": {
                "api": "deploykit.bus.core.API",
                "deliver": "deploykit.deliver.analytics.SIGNUPS",
            },
        }
    ]
    assert "sources" not in desired_state(example, "core", 3).objects[0].config
    # the consumer across buses is the core bus's to create: its stream is there
    core = [o.name for o in desired_state(example, "core", 3).objects]
    assert "ACCOUNTS/invoicer" in core
    billing = [o.name for o in desired_state(example, "billing", 3).objects]
    assert billing == ["INVOICES"]


def test_a_source_as_the_server_returns_it_is_no_drift_and_a_changed_filter_is(
    example: Manifest,
) -> None:
    (signups,) = desired_state(example, "analytics", 3).objects
    (declared,) = signups.config["sources"]
    served = {**declared, "opt_start_seq": 0, "external": {**declared["external"]}}
    actual = {**signups.config, "sources": [served]}
    assert diff_config("stream", signups.config, json.loads(json.dumps(actual))) == []
    changed = {**actual, "sources": [{**served, "filter_subject": "accounts.events.>"}]}
    (change,) = diff_config("stream", signups.config, changed)
    assert change.field == "sources"


def test_a_bus_whose_only_stream_is_a_copy_has_no_event_subject_to_try(example: Manifest) -> None:
    """The laws check picks an event subject per bus; a copy (only `sources`) offers none."""
    assert event_subject(example, "analytics") is None
    assert event_subject(example, "billing") == "billing.events.invoiced"


def test_the_diagram_draws_the_copy_between_buses(example: Manifest) -> None:
    edges = [(e.source, e.target, e.label) for e in graph(example).edges]
    copy = "copy\naccounts.events.created\nimported from core"
    assert ("streams.ACCOUNTS", "streams.SIGNUPS", copy) in edges
    assert ("services.gateway", "services.invoices", "invoices.get\nimported from billing") in edges
    consume = "queue invoicer\naccounts.events.created\nimported from core"
    assert ("streams.ACCOUNTS", "services.invoicer", consume) in edges
    assert ("services.gateway", "services.accounts", "accounts.create") in edges  # same bus
