"""The manifest loader: every broken manifest gets its path and message, never a traceback."""

from __future__ import annotations

import contextlib
import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deploykit.errors import ManifestError
from deploykit.manifest.load import load_manifest, parse_manifest

ROOT = Path(__file__).resolve().parents[2]
BASE: dict[str, Any] = yaml.safe_load((ROOT / "deploykit.yaml").read_text())


def _edit(change: Any) -> str:
    data = copy.deepcopy(BASE)
    change(data)
    return yaml.safe_dump(data, sort_keys=False)


def _parent(data: dict[str, Any], path: str) -> tuple[Any, str]:
    """The node holding the last part of `path` (`a/0/b`: list items by index), and that part."""
    *parents, last = path.split("/")
    node: Any = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node, last


def _set(path: str, value: Any) -> Any:
    def change(data: dict[str, Any]) -> None:
        node, last = _parent(data, path)
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return change


def _del(path: str) -> Any:
    def change(data: dict[str, Any]) -> None:
        node, last = _parent(data, path)
        del node[last]

    return change


def _add_stream(name: str, **fields: Any) -> Any:
    def change(data: dict[str, Any]) -> None:
        data["streams"][name] = fields

    return change


# (id, manifest text, expected path, a fragment of the expected message)
CASES: list[tuple[str, str, str, str]] = [
    ("empty file", "", "", "the file is empty"),
    ("only a comment", "# nothing\n", "", "the file is empty"),
    ("list at top", "- a\n- b\n", "", "the document is a list"),
    ("scalar at top", "hello\n", "", "the document is a str"),
    ("yaml syntax", "version: 1\nbuses: [\n", "", "YAML syntax error at line 3"),
    ("yaml bad indent", "version: 1\n  system: x\n", "", "YAML syntax error at line 2"),
    ("duplicate key", "version: 1\nversion: 1\n", "", "duplicate key 'version'"),
    ("wrong version", _edit(_set("version", 2)), "version", "2 is not allowed"),
    ("missing version", _edit(_del("version")), "version", "is required"),
    ("missing buses", _edit(_del("buses")), "buses", "is required"),
    ("bad system name", _edit(_set("system", "Acme Corp")), "system", "should match pattern"),
    ("unknown top field", _edit(_set("servics", {})), "servics", "did you mean 'services'"),
    ("buses is a list", _edit(_set("buses", ["core"])), "buses", "expected a mapping, got a list"),
    ("services is a list", _edit(_set("services", ["gateway"])), "services", "expected a mapping"),
    (
        "unknown role",
        _edit(_set("services/gateway/role", "backend")),
        "services.gateway.role",
        "'backend' is not allowed",
    ),
    (
        "unknown service field",
        _edit(_set("services/gateway/call", [])),
        "services.gateway.call",
        "did you mean 'calls'",
    ),
    (
        "bad service name",
        _edit(_set("services/Bad_Name", {"role": "rpc"})),
        "services.Bad_Name",
        "is not valid",
    ),
    (
        "calls not a list",
        _edit(_set("services/gateway/calls", "accounts.create")),
        "services.gateway.calls",
        "expected a list",
    ),
    (
        "replicas wrong type",
        _edit(_set("services/gateway/replicas", "two")),
        "services.gateway.replicas",
        "valid integer",
    ),
    (
        "replicas zero",
        _edit(_set("services/gateway/replicas", 0)),
        "services.gateway.replicas",
        "greater than or equal to 1",
    ),
    (
        "stream replicas too high",
        _edit(_set("streams/ACCOUNTS/replicas", 7)),
        "streams.ACCOUNTS.replicas",
        "less than or equal to 5",
    ),
    (
        "bad duration",
        _edit(_set("streams/ACCOUNTS/max_age", "1 year")),
        "streams.ACCOUNTS.max_age",
        "is not a duration",
    ),
    (
        "bad size",
        _edit(_set("streams/ACCOUNTS/max_bytes", "lots")),
        "streams.ACCOUNTS.max_bytes",
        "is not a size",
    ),
    (
        "bad retention",
        _edit(_set("streams/ACCOUNTS/retention", "forever")),
        "streams.ACCOUNTS.retention",
        "'forever' is not allowed",
    ),
    (
        "bad storage",
        _edit(_set("streams/ACCOUNTS/storage", "disk")),
        "streams.ACCOUNTS.storage",
        "'disk' is not allowed",
    ),
    (
        "empty subjects",
        _edit(_set("streams/ACCOUNTS/subjects", [])),
        "streams.ACCOUNTS.subjects",
        "a stream needs subjects, sources, or both",
    ),
    (
        "subject with space",
        _edit(_set("streams/ACCOUNTS/subjects", ["accounts events"])),
        "streams.ACCOUNTS.subjects[0]",
        "contains whitespace",
    ),
    (
        "subject > not last",
        _edit(_set("streams/ACCOUNTS/subjects", ["accounts.>.x"])),
        "streams.ACCOUNTS.subjects[0]",
        "'>' before the last token",
    ),
    (
        "subject empty token",
        _edit(_set("streams/ACCOUNTS/subjects", ["accounts..x"])),
        "streams.ACCOUNTS.subjects[0]",
        "empty token",
    ),
    (
        "reserved subject",
        _edit(_set("streams/ACCOUNTS/subjects", ["$JS.API.>"])),
        "streams.ACCOUNTS.subjects[0]",
        "reserves",
    ),
    (
        "bad stream name",
        _edit(_set("streams/ACC.OUNTS", {"subjects": ["x.>"]})),
        "streams.ACC.OUNTS",
        "is not valid",
    ),
    (
        "object store without max_age",
        _edit(_del("object_stores/exports/max_age")),
        "object_stores.exports.max_age",
        "is required",
    ),
    (
        "object store zero max_age",
        _edit(_set("object_stores/exports/max_age", 0)),
        "object_stores.exports.max_age",
        "greater than 0",
    ),
    (
        "kv history too deep",
        _edit(_set("kv/flags/history", 65)),
        "kv.flags.history",
        "less than or equal to 64",
    ),
    (
        "unknown bus",
        _edit(_set("streams/ACCOUNTS/bus", "nope")),
        "streams.ACCOUNTS.bus",
        "unknown bus 'nope'",
    ),
    ("two core buses", _edit(_set("buses/analytics/core", True)), "buses", "exactly one bus"),
    ("no core bus", _edit(_set("buses/core/core", False)), "buses", "found none"),
    (
        "overlapping streams",
        _edit(_add_stream("MORE", subjects=["accounts.*.created"])),
        "streams.MORE.subjects[0]",
        "overlaps 'accounts.events.>'",
    ),
    (
        "overlap within stream",
        _edit(_set("streams/ACCOUNTS/subjects", ["a.>", "a.b"])),
        "streams.ACCOUNTS.subjects[1]",
        "overlaps 'a.>' of itself",
    ),
    (
        "stream captures rpc",
        _edit(_add_stream("RPC", subjects=["accounts.rpc.>"])),
        "services.accounts.endpoints.create",
        "captured by stream 'RPC'",
    ),
    (
        "dangling call service",
        _edit(_set("services/gateway/calls", ["billing.charge"])),
        "services.gateway.calls[0]",
        "unknown service 'billing'",
    ),
    (
        "dangling call endpoint",
        _edit(_set("services/gateway/calls", ["accounts.delete"])),
        "services.gateway.calls[0]",
        "has no endpoint 'delete'",
    ),
    (
        "malformed call",
        _edit(_set("services/gateway/calls", ["accounts"])),
        "services.gateway.calls[0]",
        "should match pattern",
    ),
    (
        "emit not captured",
        _edit(_set("services/accounts/emits", ["billing.charged"])),
        "services.accounts.emits[0]",
        "no stream on bus 'core' captures",
    ),
    (
        "emit on other bus",
        _edit(_set("services/accounts/emits", ["pageviews.home"])),
        "services.accounts.emits[0]",
        "no stream on bus 'core'",
    ),
    (
        "dangling consumer stream",
        _edit(_set("services/welcome/consumes/0/stream", "ORDERS")),
        "services.welcome.consumes[0].stream",
        "unknown stream 'ORDERS'",
    ),
    (
        "fanout consumer on other bus",
        _edit(_set("services/projector/consumes/0/stream", "PAGEVIEWS")),
        "services.projector.consumes[0].mode",
        "a fanout consumer cannot read across buses",
    ),
    (
        "filter outside stream",
        _edit(_set("services/welcome/consumes/0/filter", "orders.created")),
        "services.welcome.consumes[0].filter",
        "not within the subjects",
    ),
    (
        "bad consume mode",
        _edit(_set("services/welcome/consumes/0/mode", "broadcast")),
        "services.welcome.consumes[0].mode",
        "'broadcast' is not allowed",
    ),
    (
        "missing consume mode",
        _edit(_del("services/welcome/consumes/0/mode")),
        "services.welcome.consumes[0].mode",
        "is required",
    ),
    (
        "duplicate consumer",
        _edit(_set("services/projector/consumes/0/consumer", "welcome")),
        "services.projector.consumes[0].consumer",
        "already used by service 'welcome'",
    ),
    (
        "dangling kv",
        _edit(_set("services/gateway/kv", {"settings": "read"})),
        "services.gateway.kv.settings",
        "unknown kv 'settings'",
    ),
    (
        "bad kv access",
        _edit(_set("services/gateway/kv", {"flags": "admin"})),
        "services.gateway.kv.flags",
        "'admin' is not allowed",
    ),
    (
        "dangling database",
        _edit(_set("services/accounts/database", "billing")),
        "services.accounts.database",
        "unknown database 'billing'",
    ),
    (
        "mixed engines",
        _edit(_set("databases/events", {"engine": "yugabyte"})),
        "databases",
        "databases mix engines",
    ),
    (
        "reserved service",
        _edit(_set("services/smoke", {"role": "worker"})),
        "services.smoke",
        "reserved",
    ),
    (
        "reserved stream",
        _edit(_add_stream("DEPLOYKIT_X", subjects=["x.>"])),
        "streams.DEPLOYKIT_X",
        "reserved for the smoke test",
    ),
    (
        "stream on the kit's subjects",
        _edit(_add_stream("BENCHX", subjects=["deploykit.bench.>"])),
        "streams.BENCHX.subjects[0]",
        "reserved for the kit",
    ),
    (
        "probe unknown endpoint",
        _edit(_set("probes/0/request/endpoint", "accounts.delete")),
        "probes[0].request.endpoint",
        "unknown endpoint",
    ),
]


@pytest.mark.parametrize(
    ("text", "path", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_broken_manifest_names_path_and_problem(text: str, path: str, fragment: str) -> None:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text, "deploykit.yaml")
    rendered = str(caught.value)
    matching = [p for p in caught.value.problems if p.path == path]
    assert matching, f"no problem at {path!r}; got:\n{rendered}"
    assert any(fragment in p.render("deploykit.yaml") for p in matching), rendered
    prefix = f"deploykit.yaml: {path}: " if path else "deploykit.yaml: "
    assert rendered.startswith("deploykit.yaml: ")
    assert any(line.startswith(prefix) for line in rendered.splitlines())


def test_there_are_at_least_thirty_distinct_cases() -> None:
    assert len({c[1] for c in CASES}) >= 30


def test_reference_manifest_is_valid() -> None:
    manifest = load_manifest(ROOT / "deploykit.yaml")
    assert manifest.core_bus == "core"
    assert manifest.services["gateway"].bus == "core"
    assert manifest.streams["PAGEVIEWS"].bus == "analytics"
    assert manifest.streams["ACCOUNTS"].max_age == 365 * 86400
    assert manifest.kv["flags"].max_value_size == 4096
    assert manifest.endpoint_subjects()["accounts.create"] == "accounts.rpc.create"


def test_several_problems_are_reported_together() -> None:
    text = _edit(
        lambda d: (
            d["services"]["gateway"].update(calls=["nope.x"]),
            d["services"]["accounts"].update(emits=["nowhere.y"]),
        )
    )
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text)
    paths = {p.path for p in caught.value.problems}
    assert {"services.gateway.calls[0]", "services.accounts.emits[0]"} <= paths


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="file not found"):
        load_manifest(tmp_path / "nope.yaml")


def test_lone_bus_is_core_and_default() -> None:
    manifest = parse_manifest(
        "version: 1\nsystem: tiny\nbuses: {main: {}}\nstreams: {E: {subjects: [e.>]}}\n"
    )
    assert manifest.core_bus == "main"
    assert manifest.streams["E"].bus == "main"


_yaml_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.sampled_from(["", "x", "core", "rpc", "a.>", "1d", "$JS", "accounts.create"])
)
_keys = st.sampled_from(
    [
        "version",
        "system",
        "buses",
        "services",
        "streams",
        "kv",
        "object_stores",
        "role",
        "bus",
        "subjects",
        "calls",
        "emits",
        "consumes",
        "core",
        "max_age",
        "x",
    ]
)
_docs = st.recursive(
    _yaml_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=25,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(_docs)
def test_random_documents_validate_or_fail_clearly(doc: Any) -> None:
    text = yaml.safe_dump(doc)
    try:
        parse_manifest(text, "random.yaml")
    except ManifestError as exc:
        assert str(exc).startswith("random.yaml: ")


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutated_reference_manifest_validates_or_fails_clearly(data: st.DataObject) -> None:
    doc = copy.deepcopy(BASE)
    node: Any = doc
    for _ in range(data.draw(st.integers(1, 4))):
        if isinstance(node, dict) and node:
            key = data.draw(st.sampled_from(sorted(node, key=str)))
            if data.draw(st.booleans()) or not isinstance(node[key], dict | list):
                node[key] = data.draw(_docs)
                break
            node = node[key]
        elif isinstance(node, list) and node:
            node = node[data.draw(st.integers(0, len(node) - 1))]
    try:
        parse_manifest(yaml.safe_dump(doc), "mutated.yaml")
    except ManifestError as exc:
        assert str(exc).startswith("mutated.yaml: ")


@given(st.text(max_size=200))
@settings(max_examples=300, deadline=None)
def test_random_text_never_raises_anything_else(text: str) -> None:
    """Any exception but ManifestError fails the test."""
    with contextlib.suppress(ManifestError):
        parse_manifest(text, "text.yaml")
