"""Typed models generated from the contracts: what they accept and refuse, how they serialise,
the committed module of the reference apps, and handlers' annotations."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field, ValidationError
from typer.testing import CliRunner

from deploykit.cli import app
from deploykit.errors import ConfigError
from deploykit.manifest.contracts import PayloadCheck
from deploykit.manifest.model import Manifest
from deploykit.manifest.wiring import wiring_for
from deploykit.runtime import Event, PayloadError, Request, Service
from deploykit.runtime.codegen import class_name, load_models, manifest_models, models_source
from deploykit.runtime.payloads import ContractCodec
from deploykit.runtime.typed import parse_as, parser_for

ROOT = Path(__file__).resolve().parents[2]

ORDER: dict[str, Any] = {
    "type": "object",
    "required": ["id", "placed_at", "currency", "lines", "note"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "placed_at": {"type": "string", "format": "date-time"},
        "on": {"type": "string", "format": "date"},
        "currency": {"enum": ["EUR", "USD"]},
        "total": {"type": "number", "minimum": 0},
        "lines": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["sku"],
                "properties": {
                    "sku": {"type": "string", "maxLength": 8},
                    "qty": {"type": "integer", "minimum": 1},
                },
                "additionalProperties": False,
            },
        },
        "note": {"type": ["string", "null"]},
        "date": {"type": "string"},
        "class": {"type": "boolean"},
        "x-trace": {"type": "object", "additionalProperties": {"type": "integer"}},
        "either": {"anyOf": [{"type": "integer"}, {"type": "string", "maxLength": 2}]},
        "combined": {"allOf": [{"type": "integer"}]},
    },
}
VALID: dict[str, Any] = {
    "id": "6f1c2a7e-3b9d-4c1e-9a2f-0d8e5b7c4a31",
    "placed_at": "2026-12-06T07:00:00Z",
    "on": "2026-12-06",
    "currency": "EUR",
    "total": 42.5,
    "lines": [{"sku": "A-1", "qty": 2}, {"sku": "B"}],
    "note": None,
    "date": "today",
    "class": True,
    "x-trace": {"span": 7},
    "either": "ab",
    "combined": 3,
    "added_later": {"by": "a newer producer"},
}
CONTRACTS = {"shop.events.placed": {"version": 2, "schema": ORDER}}


@pytest.fixture(scope="module")
def models() -> dict[str, Any]:
    return load_models(CONTRACTS)


def _json(model: BaseModel) -> Any:
    return model.model_dump(mode="json", by_alias=True)


def test_a_valid_payload_round_trips_and_satisfies_its_schema(models: dict[str, Any]) -> None:
    placed = models["ShopEventsPlaced"].model_validate(VALID)
    assert placed.id == uuid.UUID(VALID["id"])
    assert placed.placed_at == datetime(2026, 12, 6, 7, tzinfo=UTC)
    assert placed.lines[0].qty == 2 and placed.lines[1].qty is None
    assert placed.date_ == "today" and placed.class_ is True and placed.x_trace == {"span": 7}
    assert _json(placed) == VALID, "the same JSON, unknown fields kept, absent ones left out"
    assert PayloadCheck(ORDER).errors(_json(placed)) == []


def test_an_invalid_payload_is_refused(models: dict[str, Any]) -> None:
    placed = models["ShopEventsPlaced"]
    for broken, where in (
        ({"id": "not-a-uuid"}, "id"),
        ({"placed_at": "2026-12-06T07:00:00"}, "placed_at"),  # no offset: not RFC 3339
        ({"currency": "JPY"}, "currency"),
        ({"total": -1}, "total"),
        ({"lines": []}, "lines"),
        ({"lines": [{"sku": "TOO-LONG-SKU"}]}, "lines"),
        ({"lines": [{"sku": "A", "colour": "red"}]}, "lines"),  # additionalProperties: false
        ({"either": "abc"}, "either"),
    ):
        with pytest.raises(ValidationError) as caught:
            placed.model_validate({**VALID, **broken})
        assert caught.value.errors()[0]["loc"][0] == where
        assert PayloadCheck(ORDER).errors({**VALID, **broken}) != [], "the schema refuses it too"
    for required in ("id", "note"):
        with pytest.raises(ValidationError):
            placed.model_validate({k: v for k, v in VALID.items() if k != required})


def test_a_model_built_in_code_serialises_to_what_the_schema_wants(models: dict[str, Any]) -> None:
    line = models["ShopEventsPlacedLinesItem"](sku="A")
    placed = models["ShopEventsPlaced"](
        id=uuid.UUID(int=1),
        placed_at=datetime(2026, 1, 1, tzinfo=UTC),
        currency="USD",
        lines=[line],
        note=None,
        date_="d",
    )
    data = _json(placed)
    assert data == {
        "id": "00000000-0000-0000-0000-000000000001",
        "placed_at": "2026-01-01T00:00:00Z",
        "currency": "USD",
        "lines": [{"sku": "A"}],
        "note": None,  # required and nullable: kept; unset optional fields are left out
        "date": "d",
    }
    assert PayloadCheck(ORDER).errors(data) == []


def test_names_come_from_subjects_and_parts() -> None:
    assert class_name("accounts.events.created") == "AccountsEventsCreated"
    assert class_name("accounts.rpc.create", "request") == "AccountsRpcCreateRequest"
    assert class_name("orders.*.placed-v2", "reply") == "OrdersAnyPlacedV2Reply"
    source = models_source(
        {"a.b": {"schema": {"type": "array", "items": {"type": "string"}}}}, "x.yaml"
    )
    assert "\nAB = list[str]\n" in source
    assert load_models({"a.b": {"schema": {"type": "array", "items": {"type": "string"}}}})


def test_the_committed_models_of_the_reference_apps_are_current(
    reference_manifest: Manifest,
) -> None:
    """apps/contracts.py: regenerate with `deploykit contracts models -o apps/contracts.py`."""
    fresh = manifest_models(reference_manifest, "deploykit.yaml")
    assert (ROOT / "apps" / "contracts.py").read_text() == fresh, "apps/contracts.py is stale"


@pytest.mark.parametrize("which", ["reference", "rich"])
def test_generated_modules_pass_ruff_as_they_are(reference_manifest: Manifest, which: str) -> None:
    source = (
        manifest_models(reference_manifest, "deploykit.yaml")
        if which == "reference"
        else models_source(CONTRACTS, "shop.yaml")
    )
    ruff = [sys.executable, "-m", "ruff"]
    name = str(ROOT / "apps" / "generated.py")  # first-party imports resolve as in the repo
    for check in (
        ["check", "--stdin-filename", name, "-"],
        ["format", "--check", "--stdin-filename", name, "-"],
    ):
        done = subprocess.run(
            [*ruff, *check], input=source, text=True, capture_output=True, cwd=ROOT
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_contracts_models_writes_and_checks(tmp_path: Path) -> None:
    runner = CliRunner()
    manifest = str(ROOT / "deploykit.yaml")
    out = tmp_path / "contracts.py"
    done = runner.invoke(app, ["contracts", "models", "-f", manifest, "--check", "-o", str(out)])
    assert done.exit_code == 1 and "is missing" in done.output
    done = runner.invoke(app, ["contracts", "models", "-f", manifest, "-o", str(out)])
    assert done.exit_code == 0 and out.read_text() == (ROOT / "apps" / "contracts.py").read_text()
    done = runner.invoke(app, ["contracts", "models", "-f", manifest, "--check", "-o", str(out)])
    assert done.exit_code == 0, done.output
    out.write_text(out.read_text() + "# edited\n")
    done = runner.invoke(app, ["contracts", "models", "-f", manifest, "--check", "-o", str(out)])
    assert done.exit_code == 1 and "is stale" in done.output
    done = runner.invoke(app, ["contracts", "models", "-f", manifest, "--check"])
    assert isinstance(done.exception, ConfigError)  # exit 2 through `main`
    assert "--check needs -o FILE" in str(done.exception)
    done = runner.invoke(app, ["contracts", "models", "-f", manifest])
    assert done.exit_code == 0 and "class AccountsEventsCreated(ContractModel):" in done.output


# -- the runtime's side -------------------------------------------------------------------------

from apps.contracts import AccountsEventsCreated, AccountsRpcCreateRequest  # noqa: E402


class Stricter(BaseModel):
    n: int = Field(lt=10)


async def typed_event(event: Event[AccountsEventsCreated]) -> None: ...


async def plain_event(event: Event) -> None: ...


async def typed_request(request: Request[AccountsRpcCreateRequest]) -> None: ...


async def stricter(event: Event[Stricter]) -> None: ...


def test_handlers_get_the_type_they_annotate() -> None:
    parse = parser_for(typed_event, Event)
    assert parse is not None
    created = parse({"id": str(uuid.UUID(int=5)), "email": "a@b.c"})
    assert isinstance(created, AccountsEventsCreated) and created.id == uuid.UUID(int=5)
    assert parser_for(plain_event, Event) is None
    assert parser_for(typed_request, Event) is None, "Request[...] is not an Event"
    request = parser_for(typed_request, Request)
    assert request is not None and request({"email": "x@y.z"}).email == "x@y.z"
    check = parser_for(stricter, Event)
    assert check is not None
    with pytest.raises(PayloadError, match=r"does not fit Stricter: \$\.n: Input should be less"):
        check({"n": 12})
    with pytest.raises(PayloadError, match="does not fit AccountsEventsCreated"):
        parse_as(AccountsEventsCreated, {"id": "x", "email": "a@b.c"})


def test_an_annotation_that_cannot_be_resolved_is_a_clear_error() -> None:
    class Local(BaseModel):
        n: int

    async def handler(event: Event[Local]) -> None: ...

    with pytest.raises(TypeError, match=r"handler .*handler: cannot resolve the annotation"):
        parser_for(handler, Event)
    with pytest.raises(TypeError, match="define the model at module level"):
        Service("declares a handler").consumer("c")(handler)  # at import, not at start


def test_the_codec_judges_a_model_as_the_json_it_stands_for(reference_manifest: Manifest) -> None:
    codec = ContractCodec(wiring_for(reference_manifest, "accounts"))
    created = AccountsEventsCreated(id=uuid.UUID(int=3), email="a@b.c")
    assert codec.encode("accounts.events.created", created) == (
        b'{"id":"00000000-0000-0000-0000-000000000003","email":"a@b.c"}'
    )

    class Loose(BaseModel):
        id: int

    with pytest.raises(PayloadError, match=r"\$\.id: 7 is not of type 'string'"):
        codec.encode("accounts.events.created", Loose(id=7))


def test_the_compiled_verdict_and_jsonschemas_words_agree_on_every_case() -> None:
    """The runtime's verdict is jsonschema-rs's; what it refuses is worded by jsonschema, and a
    value that is not JSON at all (a UUID object) is judged by jsonschema alone."""
    check = PayloadCheck(ORDER)
    assert check.errors(VALID) == []
    assert check.errors({**VALID, "id": "nope", "total": -1}) == [
        "$.id: 'nope' is not a 'uuid'",
        "$.total: -1 is less than the minimum of 0",
    ]
    assert check.errors({**VALID, "id": uuid.UUID(int=1)}) == [
        "$.id: UUID('00000000-0000-0000-0000-000000000001') is not of type 'string'"
    ]
