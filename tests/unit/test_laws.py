"""Every law: a manifest that breaks it and one that keeps it, both small edits of the reference.

The table also proves that the lint and the permissions agree: whatever capability the lint
refuses, the compiled NATS permissions do not grant.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploykit.laws.natsapi import API, pull, queue_subscription
from deploykit.laws.permissions import compile_authorization
from deploykit.laws.rules import (
    RULES,
    Capability,
    Severity,
    callable_endpoints,
    declared,
    denials,
    granted,
    lint,
    refused_paths,
)
from deploykit.manifest.load import parse_manifest
from deploykit.manifest.model import Access, ConsumeMode, Manifest
from deploykit.manifest.naming import crossbus_api
from deploykit.testing.clirun import run_cli

ROOT = Path(__file__).resolve().parents[2]
REFERENCE: dict[str, Any] = yaml.safe_load((ROOT / "deploykit.yaml").read_text())

Edit = Callable[[dict[str, Any]], None]


def edited(*edits: Edit) -> Manifest:
    data = copy.deepcopy(REFERENCE)
    for edit in edits:
        edit(data)
    return parse_manifest(yaml.safe_dump(data), "edited.yaml")


def svc(name: str, **fields: Any) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        data["services"].setdefault(name, {}).update(fields)

    return edit


def section(kind: str, name: str, **fields: Any) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        data[kind][name].update(fields)

    return edit


def drop(kind: str, name: str, field: str) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        data[kind][name].pop(field)

    return edit


COUNTER = svc("counter", role="worker", consumes=[{"stream": "PAGEVIEWS", "consumer": "counter", "mode": "queue"}])  # fmt: skip
MIRROR = svc("mirror", role="worker", bus="analytics", consumes=[{"stream": "ACCOUNTS", "consumer": "mirror", "mode": "queue"}])  # fmt: skip


def keep() -> Edit:
    return lambda data: None


def both(*edits: Edit) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        for one in edits:
            one(data)

    return edit


def call(caller: str, endpoint: str) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        data["services"][caller]["calls"].append(endpoint)

    return edit


ACCOUNTS_QUEUE = {"stream": "ACCOUNTS", "consumer": "billing", "mode": "queue"}
PROJECTOR_NO_WARMUP = {"stream": "ACCOUNTS", "consumer": "projector", "mode": "fanout"}


@dataclass(frozen=True)
class Case:
    rule: str
    edit: Edit
    path: str
    message: str
    cluster_size: int | None = None


# fmt: off
BREAKS = [
    Case("DK101", svc("welcome", calls=["accounts.get"]), "services.welcome.calls", "a worker service calls accounts.get"),
    Case("DK101", svc("accounts", calls=["accounts.get"]), "services.accounts.calls", "an rpc service calls accounts.get"),
    Case("DK102", svc("welcome", endpoints={"status": {}}), "services.welcome.endpoints", "a worker service has endpoints status"),
    Case("DK102", svc("gateway", endpoints={"home": {}}), "services.gateway.endpoints", "a frontend service has endpoints home"),
    Case("DK103", svc("gateway", emits=["accounts.events.clicked"]), "services.gateway.emits", "a frontend service emits accounts.events.clicked"),
    Case("DK104", svc("gateway", consumes=[ACCOUNTS_QUEUE]), "services.gateway.consumes", "a frontend service consumes ACCOUNTS/billing"),
    Case("DK104", svc("accounts", consumes=[ACCOUNTS_QUEUE]), "services.accounts.consumes", "an rpc service consumes ACCOUNTS/billing"),
    Case("DK105", svc("gateway", kv={"flags": "write"}), "services.gateway.kv", "a frontend service writes flags"),
    Case("DK105", svc("gateway", object_stores={"exports": "write"}), "services.gateway.object_stores", "a frontend service writes exports"),
    Case("DK106", svc("billing", role="rpc"), "services.billing.endpoints", "an rpc service without endpoints"),
    Case("DK107", svc("billing", role="worker"), "services.billing.consumes", "a worker service without consumes"),
    Case("DK108", both(svc("welcome", endpoints={"status": {}}), call("gateway", "welcome.status")), "services.gateway.calls[2]", "welcome.status is an endpoint of a worker service"),
    Case("DK201", svc("projector", emits=["accounts.events.projected"]), "services.projector.emits", "it consumes through a fanout consumer and emits accounts.events.projected"),
    Case("DK202", svc("billing", role="worker", emits=["accounts.events.billed"]), "services.billing.emits", "it emits accounts.events.billed without a queue consumer"),
    Case("DK203", svc("projector", consumes=[PROJECTOR_NO_WARMUP]), "services.projector.consumes[0].warmup", "keeps a read model and its fanout consumer 'projector' does not warm up"),
    Case("DK204", svc("projector", consumes=[{**PROJECTOR_NO_WARMUP, "mode": "queue"}]), "services.projector.consumes", "keeps a read model without a fanout consumer"),
    Case("DK301", section("object_stores", "exports", max_bytes="2GiB"), "object_stores.exports.max_bytes", "max_bytes is 2147483648 bytes"),
    Case("DK301", drop("object_stores", "exports", "max_bytes"), "object_stores.exports.max_bytes", "max_bytes is unlimited"),
    Case("DK302", section("object_stores", "exports", max_age="30d"), "object_stores.exports.max_age", "max_age is 30d"),
    Case("DK401", section("streams", "ACCOUNTS", replicas=1), "streams.ACCOUNTS.replicas", "replicas is 1 on a 3-node cluster (want 3)", cluster_size=3),
    Case("DK401", section("streams", "ACCOUNTS", replicas=1), "streams.ACCOUNTS.replicas", "replicas is 1 on a 2-node cluster (want 2)", cluster_size=2),
    Case("DK402", section("streams", "ACCOUNTS", backup=False), "streams.ACCOUNTS.backup", "a core-bus stream without backup"),
    Case("DK403", both(drop("streams", "ACCOUNTS", "max_age"), drop("streams", "ACCOUNTS", "max_bytes")), "streams.ACCOUNTS", "no max_age, max_bytes or max_msgs"),
    Case("DK501", section("streams", "PAGEVIEWS", bus="core"), "streams.PAGEVIEWS.bus", "a noisy stream on the core bus 'core'"),
    Case("DK601", COUNTER, "services.counter.consumes[0]", "counter (core) consumes PAGEVIEWS/counter (analytics): a noisy stream, on the core bus"),
    Case("DK602", both(MIRROR, COUNTER), "services.mirror.consumes[0]", "mirror (analytics) consumes ACCOUNTS/mirror (core), and events of bus 'analytics' already flow to 'core'"),
]

KEEPS = [
    Case("DK101", svc("gateway", calls=["accounts.get"]), "", ""),
    Case("DK102", keep(), "", ""),
    Case("DK103", svc("accounts", emits=["accounts.events.created", "accounts.events.x"]), "", ""),
    Case("DK104", svc("welcome", consumes=[ACCOUNTS_QUEUE]), "", ""),
    Case("DK105", svc("accounts", kv={"flags": "write"}), "", ""),
    Case("DK106", svc("billing", role="rpc", endpoints={"pay": {}}), "", ""),
    Case("DK107", svc("billing", role="worker", consumes=[ACCOUNTS_QUEUE]), "", ""),
    Case("DK108", keep(), "", ""),
    Case("DK201", keep(), "", ""),
    Case("DK202", svc("billing", role="worker", emits=["accounts.events.billed"], consumes=[ACCOUNTS_QUEUE]), "", ""),
    Case("DK203", svc("welcome", consumes=[{**ACCOUNTS_QUEUE, "consumer": "welcome"}]), "", ""),
    Case("DK204", keep(), "", ""),
    Case("DK301", section("object_stores", "exports", max_bytes="1GiB"), "", ""),
    Case("DK302", section("object_stores", "exports", max_age="7d"), "", ""),
    Case("DK401", section("streams", "ACCOUNTS", replicas=1), "", "", cluster_size=1),
    Case("DK401", section("streams", "ACCOUNTS", replicas=1), "", "", cluster_size=None),
    Case("DK401", keep(), "", "", cluster_size=3),
    Case("DK402", section("streams", "PAGEVIEWS", backup=False), "", ""),
    Case("DK403", drop("streams", "ACCOUNTS", "max_age"), "", ""),
    Case("DK501", section("streams", "PAGEVIEWS", noisy=True), "", ""),
    Case("DK601", both(COUNTER, section("streams", "PAGEVIEWS", noisy=False)), "", ""),
    Case("DK602", MIRROR, "", ""),
]
# fmt: on


def test_every_rule_has_a_breaking_and_a_keeping_case() -> None:
    assert {case.rule for case in BREAKS} == set(RULES)
    assert {case.rule for case in KEEPS} == set(RULES)


@pytest.mark.parametrize("size", [None, 1, 3, 5])
def test_the_reference_manifest_keeps_every_law(size: int | None) -> None:
    assert lint(edited(), size) == []


@pytest.mark.parametrize("case", BREAKS, ids=lambda c: f"{c.rule}-{c.path}-{c.cluster_size}")
def test_a_manifest_that_breaks_a_law_is_found(case: Case) -> None:
    findings = [f for f in lint(edited(case.edit), case.cluster_size) if f.rule == case.rule]
    assert [(f.path, f.message) for f in findings] == [(case.path, case.message)]
    (finding,) = findings
    assert finding.severity is RULES[case.rule].severity
    assert finding.law == RULES[case.rule].law
    assert finding.fix == RULES[case.rule].fix
    assert finding.concerns.split()[-1] in case.path


@pytest.mark.parametrize("case", KEEPS, ids=lambda c: f"{c.rule}-{c.cluster_size}")
def test_a_manifest_that_keeps_a_law_is_not_found(case: Case) -> None:
    assert [f for f in lint(edited(case.edit), case.cluster_size) if f.rule == case.rule] == []


def test_rule_ids_are_stable_and_every_law_cites_why() -> None:
    assert list(RULES) == sorted(RULES)
    for rule in RULES.values():
        assert rule.why and not rule.why.endswith(".") and rule.fix
        assert rule.law == f"{rule.why} (law: {rule.of.value})."
    assert {r.id for r in RULES.values() if r.severity is Severity.WARNING} == {
        "DK301",
        "DK302",
        "DK403",
    }


CAPABILITY_RULES = {"DK101", "DK102", "DK103", "DK104", "DK105", "DK201", "DK202"}


@pytest.mark.parametrize("case", BREAKS, ids=lambda c: f"{c.rule}-{c.path}-{c.cluster_size}")
def test_what_the_lint_refuses_the_permissions_do_not_grant(case: Case) -> None:
    """Per service: the lint's capability findings are exactly the denials, and a declared
    call, endpoint, emit, queue consumer or KV write is in its NATS permissions exactly when
    the capability is granted (declared and not denied)."""
    manifest = edited(case.edit)
    users = compile_authorization(manifest).users
    endpoints = manifest.endpoint_subjects()
    findings = lint(manifest)
    for name, service in manifest.services.items():
        found = {
            (f.rule, f.path)
            for f in findings
            if f.rule in CAPABILITY_RULES and f.concerns == f"service {name}"
        }
        assert found == {(d.rule, d.path) for d in denials(manifest, name)}
        can = granted(manifest, name)
        assert can == declared(service) - {d.capability for d in denials(manifest, name)}
        perms = users[name].permissions
        for target in service.calls:
            allowed = target in callable_endpoints(manifest, name)
            assert (endpoints[target] in perms.publish_allow) is allowed
        for endpoint in service.endpoints:
            subject = queue_subscription(service.endpoint_subject(name, endpoint))
            assert (subject in perms.subscribe_allow) is (Capability.ANSWER in can)
        for subject in service.emits:
            assert (subject in perms.publish_allow) is (Capability.EMIT in can)
        refused = refused_paths(manifest)
        for index, consume in enumerate(service.consumes):
            if consume.mode is ConsumeMode.QUEUE:
                bus = manifest.streams[consume.stream].bus
                api = API if bus == service.bus else crossbus_api(bus)
                wanted = set(pull(consume.stream, consume.consumer, api))
                path = f"services.{name}.consumes[{index}]"
                allowed = Capability.CONSUME in can and path not in refused
                assert (wanted <= set(perms.publish_allow)) is allowed
        for bucket, access in service.kv.items():
            writes = access is Access.WRITE and Capability.WRITE in can
            assert (f"$KV.{bucket}.>" in perms.publish_allow) is writes


def _write(tmp_path: Path, *edits: Edit) -> Path:
    data = copy.deepcopy(REFERENCE)
    for edit in edits:
        edit(data)
    path = tmp_path / "deploykit.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_lint_cli_passes_the_reference() -> None:
    result = run_cli("lint", "--target", "metal")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "deploykit.yaml: keeps every law (20 rules, 3-node cluster)\n"


def test_lint_cli_reports_findings_and_exits_1_on_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, svc("gateway", emits=["accounts.events.clicked"]))
    result = run_cli("lint", str(path))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == (
        f"{path}: services.gateway.emits: DK103 error: service gateway: "
        "a frontend service emits accounts.events.clicked"
    )
    assert lines[1] == f"  law: {RULES['DK103'].law}"
    assert lines[1].endswith(" (law: frontends only forward requests).")
    assert lines[2] == f"  fix: {RULES['DK103'].fix}"
    assert lines[-1] == f"{path}: 1 error(s), 0 warning(s) (cluster size unknown, DK401 skipped)"


def test_lint_cli_json_and_warnings_exit_0(tmp_path: Path) -> None:
    path = _write(tmp_path, section("object_stores", "exports", max_age="30d"))
    result = run_cli("lint", str(path), "--json", "--cluster-size", "1")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["cluster_size"] == 1
    assert (document["errors"], document["warnings"]) == (0, 1)
    assert document["findings"] == [
        {
            "rule": "DK302",
            "severity": "warning",
            "concerns": "object store exports",
            "path": "object_stores.exports.max_age",
            "message": "max_age is 30d",
            "law": RULES["DK302"].law,
            "fix": RULES["DK302"].fix,
        }
    ]


def test_lint_cli_cluster_size_decides_replication(tmp_path: Path) -> None:
    path = _write(tmp_path, section("streams", "ACCOUNTS", replicas=1))
    assert run_cli("lint", str(path)).returncode == 0
    assert run_cli("lint", str(path), "--cluster-size", "1").returncode == 0
    clustered = run_cli("lint", str(path), "--target", "small")
    assert clustered.returncode == 1
    assert "DK401 error: stream ACCOUNTS" in clustered.stdout


def test_lint_cli_exits_2_on_an_invalid_manifest_or_option(tmp_path: Path) -> None:
    path = tmp_path / "deploykit.yaml"
    path.write_text("version: 1\nsystem: acme\nbuses: {core: {}}\nservices: {x: {role: boss}}\n")
    result = run_cli("lint", str(path))
    assert result.returncode == 2
    assert f"{path}: services.x.role: 'boss' is not allowed" in result.stderr
    assert "Traceback" not in result.stderr
    as_json = run_cli("lint", str(path), "--json")
    assert as_json.returncode == 2
    assert json.loads(as_json.stdout)["valid"] is False
    bad_size = run_cli("lint", "--cluster-size", "0")
    assert bad_size.returncode == 2
    assert "--cluster-size must be 1 or more, got 0" in bad_size.stderr
