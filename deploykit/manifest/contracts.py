"""Message contracts: the JSON Schema of each subject's payload, checked and applied. Pure.

A contract is declared once per subject (`contracts:` in the manifest): `schema` for an event,
`request` and `reply` for an RPC endpoint. The checks here run when the manifest is loaded
(the schemas are valid JSON Schema, each contract names a subject that something emits or
answers, the probes' payloads satisfy them); `payload_errors` is what producers, consumers and
smoke use to judge one payload.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

import jsonschema_rs

from deploykit.errors import Problem
from deploykit.manifest.subjects import collide

if TYPE_CHECKING:  # a running service judges payloads without the manifest's models
    from jsonschema.validators import Draft202012Validator

    from deploykit.manifest.model import Contract, Manifest

__all__ = [
    "Part",
    "PayloadCheck",
    "check_contracts",
    "contract_for",
    "json_path",
    "payload_errors",
    "schema_of",
]

Part = Literal["schema", "request", "reply"]
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def schema_of(contract: Contract, part: Part) -> dict[str, Any] | None:
    return contract.schema_ if part == "schema" else getattr(contract, part)


def contract_for(manifest: Manifest, subject: str) -> Contract | None:
    return manifest.contracts.get(subject)


def payload_errors(schema: dict[str, Any], payload: Any) -> list[str]:
    """One payload judged once; code that judges many builds a `PayloadCheck` instead."""
    return PayloadCheck(schema).errors(payload)


def check_contracts(m: Manifest) -> list[Problem]:
    broken = list(_schemas(m))
    if broken:  # a payload can only be judged by a schema that is itself valid
        return [*broken, *_subjects(m)]
    return [*_subjects(m), *_probe_payloads(m)]


def _schemas(m: Manifest) -> Iterator[Problem]:
    import jsonschema

    for subject, contract in m.contracts.items():
        parts: tuple[Part, ...] = ("schema", "request", "reply")
        for part in parts:
            schema = schema_of(contract, part)
            if schema is None:
                continue
            try:
                jsonschema.Draft202012Validator.check_schema(schema)
            except jsonschema.SchemaError as exc:
                where = json_path(exc.absolute_path)
                yield Problem(
                    f"contracts.{subject}.{part}",
                    f"not a valid JSON Schema at {where}: {exc.message}",
                    "JSON Schema draft 2020-12",
                )


def _subjects(m: Manifest) -> Iterator[Problem]:
    endpoints = set(m.endpoint_subjects().values())
    emitted = {s for service in m.services.values() for s in service.emits}
    stored = {s for stream in m.streams.values() for s in stream.subjects}
    for subject, contract in m.contracts.items():
        path = f"contracts.{subject}"
        is_event = contract.schema_ is not None
        is_rpc = contract.request is not None or contract.reply is not None
        if is_event and is_rpc:
            yield Problem(path, "gives both `schema` and `request`/`reply`", _KINDS)
        elif not (is_event or is_rpc):
            yield Problem(path, "gives no schema", _KINDS)
        elif is_rpc and subject not in endpoints:
            yield Problem(
                path,
                "has request/reply schemas but no endpoint answers on this subject",
                _known(endpoints),
            )
        elif is_event and not any(collide(subject, e) for e in emitted | stored):
            yield Problem(
                path,
                "has an event schema but no service emits this subject and no stream stores it",
                _known(emitted | stored),
            )


def _probe_payloads(m: Manifest) -> Iterator[Problem]:
    subjects = m.endpoint_subjects()
    for i, probe in enumerate(m.probes):
        contract = m.contracts.get(subjects.get(probe.request.endpoint, ""))
        if contract is None or contract.request is None:
            continue
        for error in payload_errors(contract.request, probe.request.payload):
            yield Problem(
                f"probes[{i}].request.payload",
                f"does not satisfy the request contract of {probe.request.endpoint}: {error}",
            )


_KINDS = "an event has `schema`; an RPC endpoint has `request` and/or `reply`"


def _known(subjects: set[str]) -> str:
    return f"declared: {', '.join(sorted(subjects)) or 'none'}"


def json_path(path: Any) -> str:
    parts = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
    return f"${parts}"


class PayloadCheck:
    """A compiled schema: build it once (at start-up), then judge every payload with it.

    The verdict is jsonschema-rs's (the same draft and formats, compiled to native code: about
    a microsecond for a typical event where the pure-Python validator takes a hundred, which a
    consumer would spend on every message); a payload it refuses is described by jsonschema,
    whose messages name the path and what is allowed, imported and built only then (a service
    that is never sent a bad payload does not spend the fifth of a second of CPU it takes)."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self._schema = schema
        self._described: Draft202012Validator | None = None
        try:
            self._fast: Any = jsonschema_rs.Draft202012Validator(schema, validate_formats=True)
        except (jsonschema_rs.ValidationError, ValueError):  # a schema it cannot compile
            self._fast = None

    def errors(self, payload: Any) -> list[str]:
        """Every way `payload` breaks the schema, as `$.path: message`; empty when it conforms."""
        if self._fast is not None:
            try:
                if self._fast.is_valid(payload):
                    return []
            except (ValueError, TypeError):  # not a JSON value (jsonschema says what is wrong)
                pass
        found = sorted(self._describer().iter_errors(payload), key=lambda e: list(e.absolute_path))
        if found or self._fast is None:
            return [f"{json_path(e.absolute_path)}: {e.message}" for e in found]
        return [
            f"{json_path(e.instance_path)}: {e.message}" for e in self._fast.iter_errors(payload)
        ]

    def _describer(self) -> Draft202012Validator:
        if self._described is None:
            from jsonschema.validators import Draft202012Validator

            self._described = Draft202012Validator(
                self._schema, format_checker=Draft202012Validator.FORMAT_CHECKER
            )
        return self._described
