"""A small checker for request bodies, so each fake writes its reference's schemas as data.

The shapes mirror OpenAPI's (type, required, nullable, minimum, maximum, pattern, enum,
additionalProperties). Unknown keys are refused even where a real server might ignore them:
a key the server ignores is a setting the client believes it made, which is the bug a fake
is there to catch.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "Spec",
    "anything",
    "array",
    "boolean",
    "integer",
    "mapping",
    "number",
    "obj",
    "problems",
    "string",
]

Spec = dict[str, Any]


def obj(props: Mapping[str, Spec], required: Sequence[str] = (), *, nullable: bool = False) -> Spec:
    return {"type": "object", "props": dict(props), "required": list(required), "null": nullable}


def mapping(values: Spec, *, nullable: bool = False) -> Spec:
    """An object with any keys (OpenAPI `additionalProperties`)."""
    return {"type": "map", "values": values, "null": nullable}


def string(
    *, nullable: bool = False, pattern: str | None = None, enum: Sequence[str] = (),
    max_length: int | None = None, min_length: int = 0,
) -> Spec:  # fmt: skip
    return {
        "type": "string", "null": nullable, "pattern": pattern, "enum": list(enum),
        "max": max_length, "min": min_length,
    }  # fmt: skip


def integer(
    *, nullable: bool = False, minimum: int | None = None, maximum: int | None = None
) -> Spec:
    return {"type": "integer", "null": nullable, "min": minimum, "max": maximum}


def number(
    *, nullable: bool = False, minimum: float | None = None, maximum: float | None = None
) -> Spec:
    return {"type": "number", "null": nullable, "min": minimum, "max": maximum}


def anything() -> Spec:
    """Any JSON value (a GraphQL `JSON` scalar)."""
    return {"type": "any", "null": True}


def boolean(*, nullable: bool = False) -> Spec:
    return {"type": "boolean", "null": nullable}


def array(items: Spec, *, nullable: bool = False) -> Spec:
    return {"type": "array", "items": items, "null": nullable}


def problems(value: Any, spec: Spec, path: str = "") -> list[str]:
    """What is wrong with `value` against `spec`, each as `path: what`; empty when it fits."""
    where = path or "(body)"
    if value is None:
        return [] if spec["null"] else [f"{where}: must not be null"]
    kind = spec["type"]
    if kind == "any":
        return []
    if kind == "object":
        if not isinstance(value, dict):
            return [f"{where}: must be an object"]
        found = [
            f"{path}.{k}".lstrip(".") + ": unknown field" for k in value if k not in spec["props"]
        ]
        found += [
            f"{path}.{k}".lstrip(".") + ": required" for k in spec["required"] if k not in value
        ]
        for key, sub in spec["props"].items():
            if key in value:
                found += problems(value[key], sub, f"{path}.{key}".lstrip("."))
        return found
    if kind == "map":
        if not isinstance(value, dict):
            return [f"{where}: must be an object"]
        return [
            p
            for k, v in value.items()
            for p in problems(v, spec["values"], f"{path}.{k}".lstrip("."))
        ]
    if kind == "array":
        if not isinstance(value, list):
            return [f"{where}: must be an array"]
        return [p for i, v in enumerate(value) for p in problems(v, spec["items"], f"{where}[{i}]")]
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{where}: must be a boolean"]
    if kind in ("integer", "number"):
        numeric = int if kind == "integer" else (int, float)
        if isinstance(value, bool) or not isinstance(value, numeric):
            return [
                f"{where}: must be an {kind}" if kind == "integer" else f"{where}: must be a number"
            ]
        if spec["min"] is not None and value < spec["min"]:
            return [f"{where}: must be at least {spec['min']}"]
        if spec["max"] is not None and value > spec["max"]:
            return [f"{where}: must be at most {spec['max']}"]
        return []
    if not isinstance(value, str):
        return [f"{where}: must be a string"]
    if spec["enum"] and value not in spec["enum"]:
        return [f"{where}: must be one of {', '.join(spec['enum'])}"]
    if spec["pattern"] and not re.fullmatch(spec["pattern"], value):
        return [f"{where}: must match {spec['pattern']}"]
    if len(value) < spec["min"] or (spec["max"] is not None and len(value) > spec["max"]):
        return [f"{where}: length must be {spec['min']}..{spec['max'] or ''}"]
    return []
