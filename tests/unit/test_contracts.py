"""Message contracts in the manifest: schemas checked at load time, payloads judged by them."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploykit.errors import ManifestError
from deploykit.manifest.contracts import PayloadCheck, payload_errors
from deploykit.manifest.load import load_manifest, parse_manifest

ROOT = Path(__file__).resolve().parents[2]
BASE: dict[str, Any] = yaml.safe_load((ROOT / "deploykit.yaml").read_text())


def _load(change: Any, folder: Path | None = None) -> Any:
    data = copy.deepcopy(BASE)
    change(data)
    file = str((folder or ROOT) / "deploykit.yaml")
    return parse_manifest(yaml.safe_dump(data, sort_keys=False), file)


def _problems(change: Any, folder: Path | None = None) -> str:
    with pytest.raises(ManifestError) as caught:
        _load(change, folder)
    return str(caught.value)


def test_the_reference_manifest_has_a_contract_for_every_event_and_endpoint() -> None:
    m = load_manifest(ROOT / "deploykit.yaml")
    emitted = {s for service in m.services.values() for s in service.emits}
    assert emitted | set(m.endpoint_subjects().values()) <= set(m.contracts)


def test_a_payload_is_judged_with_the_path_of_each_breach() -> None:
    schema = BASE["contracts"]["accounts.events.created"]["schema"]
    good = {"id": "6f1c8f0e-6b44-4a3e-9d7a-6a3c1e9f2b10", "email": "ada@example.com"}
    assert payload_errors(schema, good) == []
    errors = PayloadCheck(schema).errors({"id": 7})
    assert errors == ["$: 'email' is a required property", "$.id: 7 is not of type 'string'"]


def test_a_uuid_format_is_checked() -> None:
    schema = BASE["contracts"]["accounts.events.created"]["schema"]
    assert payload_errors(schema, {"id": "not-a-uuid", "email": "a@b.c"}) == [
        "$.id: 'not-a-uuid' is not a 'uuid'"
    ]


def test_an_invalid_schema_is_refused_with_its_field_path() -> None:
    def change(d: dict[str, Any]) -> None:
        d["contracts"]["accounts.events.created"]["schema"] = {"type": "objekt"}

    message = _problems(change)
    assert "contracts.accounts.events.created.schema: not a valid JSON Schema at $.type" in message
    assert "(JSON Schema draft 2020-12)" in message


def test_a_contract_for_a_subject_nothing_emits_or_answers_is_refused() -> None:
    def change(d: dict[str, Any]) -> None:
        d["contracts"]["orders.events.placed"] = {"schema": {"type": "object"}}
        d["contracts"]["accounts.rpc.delete"] = {"request": {"type": "object"}}

    message = _problems(change)
    assert (
        "contracts.orders.events.placed: has an event schema but no service emits this subject "
        "and no stream stores it" in message
    )
    assert "contracts.accounts.rpc.delete: has request/reply schemas but no endpoint" in message


def test_a_contract_is_either_an_event_or_an_endpoint() -> None:
    def change(d: dict[str, Any]) -> None:
        d["contracts"]["accounts.events.created"]["request"] = {"type": "object"}
        d["contracts"]["accounts.rpc.get"] = {"version": 2}

    message = _problems(change)
    assert "contracts.accounts.events.created: gives both `schema` and `request`/`reply`" in message
    assert "contracts.accounts.rpc.get: gives no schema" in message


def test_a_probe_payload_must_satisfy_the_request_contract() -> None:
    def change(d: dict[str, Any]) -> None:
        d["probes"][0]["request"]["payload"] = {"mail": "x@example.com"}

    message = _problems(change)
    assert "probes[0].request.payload: does not satisfy the request contract" in message
    assert "'email' is a required property" in message


def test_schemas_may_live_in_files_next_to_the_manifest(tmp_path: Path) -> None:
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "welcomed.yaml").write_text(
        "type: object\nrequired: [id]\nproperties: {id: {type: string}}\n"
    )

    def change(d: dict[str, Any]) -> None:
        d["contracts"]["accounts.events.welcomed"]["schema"] = "schemas/welcomed.yaml"

    m = _load(change, tmp_path)
    assert m.contracts["accounts.events.welcomed"].schema_ == {
        "type": "object",
        "required": ["id"],
        "properties": {"id": {"type": "string"}},
    }


def test_a_missing_schema_file_names_the_field(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["contracts"]["accounts.rpc.get"]["reply"] = "schemas/nope.json"

    message = _problems(change, tmp_path)
    assert "contracts.accounts.rpc.get.reply: schema file" in message
    assert "nope.json not found (a path relative to the manifest)" in message


def test_an_unknown_contract_field_lists_the_allowed_ones() -> None:
    def change(d: dict[str, Any]) -> None:
        d["contracts"]["accounts.rpc.get"]["replies"] = {"type": "object"}

    message = _problems(change)
    assert "contracts.accounts.rpc.get.replies: is not a known field" in message
    assert (
        "(did you mean 'reply'? allowed: version, description, schema, request, reply)" in message
    )


def test_a_broken_request_schema_is_reported_not_applied_to_the_probe() -> None:
    """Found by the mutation test: the probe's payload was judged by an invalid schema."""

    def change(d: dict[str, Any]) -> None:
        d["contracts"]["accounts.rpc.create"]["request"] = {"type": "object", "required": None}

    message = _problems(change)
    assert "contracts.accounts.rpc.create.request: not a valid JSON Schema at $.required" in message
    assert "probes[0]" not in message


def test_an_event_from_outside_the_manifest_may_have_a_contract_when_a_stream_stores_it() -> None:
    def change(d: dict[str, Any]) -> None:
        d["contracts"]["accounts.events.deleted"] = {"schema": {"type": "object"}}

    assert "accounts.events.deleted" in _load(change).contracts
