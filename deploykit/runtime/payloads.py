"""How payloads become bytes and back: plain JSON today.

This is the hook for typed payloads: a `Codec` gets the subject with every value, so a codec
built from the manifest's schemas (one per subject) can validate on emit and on receipt and
raise `PayloadError`; `Service(codec=...)` takes it. A payload that cannot be decoded is never
retried: a request gets a 400 answer, an event goes to the dead-letter subject (or is dropped
with an error log where the manifest names none).
"""

from __future__ import annotations

import json
from typing import Any, Protocol

__all__ = ["Codec", "JsonCodec", "PayloadError"]


class PayloadError(ValueError):
    """A payload that does not decode or does not match its subject's contract."""


class Codec(Protocol):
    def encode(self, subject: str, value: Any) -> bytes: ...

    def decode(self, subject: str, data: bytes) -> Any: ...


class JsonCodec:
    """UTF-8 JSON; an empty body decodes to None."""

    def encode(self, subject: str, value: Any) -> bytes:
        if isinstance(value, bytes):
            return value
        return json.dumps(value, separators=(",", ":")).encode()

    def decode(self, subject: str, data: bytes) -> Any:
        if not data:
            return None
        try:
            return json.loads(data)
        except ValueError as exc:
            raise PayloadError(f"not JSON: {exc}") from None
