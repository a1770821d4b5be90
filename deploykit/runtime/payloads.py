"""How payloads become bytes and back: JSON, judged by the manifest's contracts.

A `Codec` gets the subject with every value. `ContractCodec` checks each payload against its
subject's contract in deploykit.yaml (from the service's wiring) on emit and on receipt, and
raises `PayloadError` with every breach: an emit that breaks its contract is refused before it
is published, a request that breaks it gets a 400 answer, an event goes to the dead-letter
subject with the reason (or is dropped with an error log where the manifest names none). A
payload that cannot be decoded or does not conform is never retried. A pydantic model is
encoded as its JSON form (`as_json_data`), so it is judged like the dict it stands for; handlers
get models through their annotations (`typed.py`). `Service(codec=...)` takes another codec
(another format).
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from pydantic import BaseModel

from deploykit.manifest.contracts import PayloadCheck
from deploykit.manifest.wiring import Wiring

__all__ = ["Codec", "ContractCodec", "JsonCodec", "PayloadError", "as_json_data"]


class PayloadError(ValueError):
    """A payload that does not decode or does not match its subject's contract."""


def as_json_data(value: Any) -> Any:
    """A model as the JSON value its contract judges (by its JSON names); anything else as is."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    return value


class Codec(Protocol):
    def encode(self, subject: str, value: Any) -> bytes: ...

    def decode(self, subject: str, data: bytes) -> Any: ...


class JsonCodec:
    """UTF-8 JSON; an empty body decodes to None."""

    def encode(self, subject: str, value: Any) -> bytes:
        if isinstance(value, bytes):
            return value
        return _dumps(as_json_data(value))

    def decode(self, subject: str, data: bytes) -> Any:
        if not data:
            return None
        try:
            return json.loads(data)
        except ValueError as exc:
            raise PayloadError(f"not JSON: {exc}") from None


class ContractCodec(JsonCodec):
    """JSON whose payloads must satisfy their subjects' contracts.

    Which part of an endpoint's contract applies depends on the side: a service decodes the
    requests of its own endpoints and encodes their replies; a caller encodes requests and
    decodes replies. Events are judged by their `schema` both ways. Subjects without a contract
    pass unchecked. The schemas are compiled once, when the service starts.
    """

    def __init__(self, wiring: Wiring) -> None:
        answered = set(wiring.endpoints.values())
        self._encode: dict[str, tuple[PayloadCheck, str]] = {}
        self._decode: dict[str, tuple[PayloadCheck, str]] = {}
        for subject, contract in wiring.contracts.items():
            version = contract.get("version", 1)
            if "schema" in contract:
                check = (PayloadCheck(contract["schema"]), f"event contract v{version}")
                self._encode[subject] = self._decode[subject] = check
                continue
            mine = subject in answered
            for part, table in (
                ("request", self._decode if mine else self._encode),
                ("reply", self._encode if mine else self._decode),
            ):
                if part in contract:
                    table[subject] = (PayloadCheck(contract[part]), f"{part} contract v{version}")

    def encode(self, subject: str, value: Any) -> bytes:
        if isinstance(value, bytes):
            return value
        value = as_json_data(value)
        _judge(self._encode.get(subject), subject, value)
        return _dumps(value)

    def decode(self, subject: str, data: bytes) -> Any:
        value = super().decode(subject, data)
        _judge(self._decode.get(subject), subject, value)
        return value


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _judge(check: tuple[PayloadCheck, str] | None, subject: str, value: Any) -> None:
    if check is None:
        return
    errors = check[0].errors(value)
    if errors:
        raise PayloadError(f"{subject} breaks its {check[1]}: {'; '.join(errors)}")
