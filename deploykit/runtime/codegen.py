"""Typed models from the message contracts: the source of a Python module of pydantic models,
one per contract part, for handlers to annotate (`Event[Model]`, `Request[Model]`) and emit.

Names come from the subject: `accounts.events.created` → `AccountsEventsCreated`, an endpoint's
parts `AccountsRpcCreateRequest` and `...Reply`, a nested object `<Parent><Property>`, an
array's items `<Parent><Property>Item`. What maps onto Python types is modelled: `type` (and
type lists with null), `properties`/`required`, `additionalProperties`, `items`, `enum`,
`const`, `anyOf`/`oneOf`, the formats `uuid`, `date-time` and `date`, and the numeric, length
and size bounds. Anything else (`allOf`, `not`, `$ref`, `pattern`, ...) is typed `Any` or left
to the contract, which the runtime still applies to every payload before the model: the model
is the typed view of a payload that passed, not a second judge. The output is deterministic
(the committed module is compared with a fresh one) and formatted as `ruff format` would.
"""

from __future__ import annotations

import json
import keyword
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from deploykit.manifest.model import Manifest

__all__ = ["class_name", "load_models", "manifest_models", "models_source"]

_PARTS = (("schema", ""), ("request", "Request"), ("reply", "Reply"))
_FORMATS = {"uuid": "UUID", "date-time": "AwareDatetime", "date": "date"}
_BOUNDS = {
    "string": {"minLength": "min_length", "maxLength": "max_length"},
    "integer": {
        "minimum": "ge",
        "maximum": "le",
        "exclusiveMinimum": "gt",
        "exclusiveMaximum": "lt",
        "multipleOf": "multiple_of",
    },
    "array": {"minItems": "min_length", "maxItems": "max_length"},
    "object": {},
    "boolean": {},
}
_BOUNDS["number"] = _BOUNDS["integer"]
_SCALARS = {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}
_IMPORTS = {  # name → the import line it needs, in the order isort puts them
    "date": "from datetime import date",
    "Annotated": "from typing import Annotated",
    "Any": "from typing import Any",
    "Literal": "from typing import Literal",
    "UUID": "from uuid import UUID",
    "AwareDatetime": "from pydantic import AwareDatetime",
    "ConfigDict": "from pydantic import ConfigDict",
    "Field": "from pydantic import Field",
}
# Names a field may not take: the module's own imports and builtins it uses (a field named
# `date` would hide the type `date` from the fields after it), and pydantic's attributes.
_TAKEN = {*_IMPORTS, "ContractModel", "str", "int", "float", "bool", "list", "dict", "None"}


def class_name(subject: str, part: str = "schema") -> str:
    """The model's name for a subject's contract part (`*` reads Any, `>` All)."""
    words = [{"*": "Any", ">": "All"}.get(t, t) for t in subject.split(".")]
    return _camel(" ".join(words)) + dict(_PARTS)[part]


def manifest_models(manifest: Manifest, source: str) -> str:
    """The module of every contract in the manifest; `source` names its file in the docstring."""
    contracts = {
        subject: contract.model_dump(by_alias=True, exclude_none=True, exclude={"description"})
        for subject, contract in manifest.contracts.items()
    }
    return models_source(contracts, source)


def models_source(contracts: Mapping[str, Mapping[str, Any]], source: str) -> str:
    """The module for `contracts` (subject → {version, schema | request, reply}), generated
    from the file `source`."""
    writer = _Writer()
    for subject in sorted(contracts):
        contract = contracts[subject]
        for part, _ in _PARTS:
            if part in contract:
                kind = "event" if part == "schema" else part
                doc = f"{subject}: the {kind} contract v{contract.get('version', 1)}."
                writer.top(class_name(subject, part), contract[part], doc)
    return writer.module(source)


def load_models(contracts: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The models of `contracts` built in memory (what the generated module would hold)."""
    module = types.ModuleType("deploykit_contract_models")
    source = models_source(contracts, "a manifest")
    exec(compile(source, module.__name__, "exec", dont_inherit=True), module.__dict__)
    return {name: getattr(module, name) for name in module.__all__}


@dataclass
class _Writer:
    blocks: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    used: set[str] = field(default_factory=set)
    root: str = ""

    def top(self, name: str, schema: Any, doc: str) -> None:
        self.root = name
        if _is_model(schema):
            self.model(name, schema, doc)
            return
        annotation, bounds = self.type_of(schema, name)
        self.blocks.append(f"{self.unique(name)} = {self.constrained(annotation, bounds)}\n")

    def model(self, name: str, schema: dict[str, Any], doc: str) -> str:
        name = self.unique(name)
        required = set(schema.get("required", []))
        lines: list[str] = []
        nullable: list[str] = []
        fields: set[str] = set()
        for key, sub in schema.get("properties", {}).items():
            attr = _attribute(key, fields)
            annotation, bounds = self.type_of(sub, name + _camel(key))
            if annotation.endswith("None") or annotation == "Any":
                nullable.append(attr)
            kwargs = [f"{k}={_py(v)}" for k, v in bounds.items()]
            if attr != key:
                kwargs.insert(0, f"alias={_py(key)}")
            if key not in required:
                if not annotation.endswith("| None") and annotation != "Any":
                    annotation += " | None"
                kwargs.insert(0, "None")
            lines.append(f"    {attr}: {annotation}{self.default(kwargs)}")
        head = [f"class {name}(ContractModel):", f'    """{doc}"""', ""]
        if schema.get("additionalProperties") is False:
            self.used.add("ConfigDict")
            head.append('    model_config = ConfigDict(extra="forbid", populate_by_name=True)')
        if nullable:
            head.append(f"    __nullable__ = frozenset({{{', '.join(map(_py, nullable))}}})")
        if len(head) > 3:
            head.append("")
        body = head + lines if lines or len(head) > 3 else head[:2]
        self.blocks.append("\n".join(line for line in body).rstrip("\n") + "\n")
        return name

    def default(self, kwargs: list[str]) -> str:
        if kwargs == ["None"]:
            return " = None"
        if not kwargs:
            return ""
        self.used.add("Field")
        return f" = Field({', '.join(kwargs)})"

    def type_of(self, schema: Any, hint: str) -> tuple[str, dict[str, Any]]:
        """(annotation, bounds for `Field`) of one schema; nested models are written first."""
        if not isinstance(schema, dict) or not schema:
            return self.any(), {}
        if "const" in schema:
            return self.literal([schema["const"]]) or self.any(), {}
        if "enum" in schema:
            return self.literal(schema["enum"]) or self.any(), {}
        members = schema.get("anyOf", schema.get("oneOf"))
        if isinstance(members, list) and members:
            parts = [
                self.constrained(*self.type_of(m, f"{hint}{i}")) for i, m in enumerate(members)
            ]
            return _union(parts), {}
        if any(k in schema for k in ("allOf", "not", "$ref", "if")):
            return self.any(), {}
        kinds = schema.get("type", _implied(schema))
        kinds = [kinds] if isinstance(kinds, str) else list(kinds or [])
        typed = [self.base(k, schema, hint) for k in kinds if k != "null" and k in _BOUNDS]
        if not typed:
            return ("None" if kinds == ["null"] else self.any()), {}
        nullable = " | None" if "null" in kinds else ""
        if len(typed) == 1:
            return typed[0][0] + nullable, typed[0][1]
        return _union([self.constrained(*t) for t in typed]) + nullable, {}

    def base(self, kind: str, schema: dict[str, Any], hint: str) -> tuple[str, dict[str, Any]]:
        bounds = {v: schema[k] for k, v in _BOUNDS[kind].items() if k in schema}
        if kind == "object":
            if _is_model(schema):
                return self.model(hint, schema, f"Part of {self.root}."), {}
            values = schema.get("additionalProperties")
            value = self.constrained(*self.type_of(values, hint + "Value"))
            return f"dict[str, {value}]", {}
        if kind == "array":
            items = self.constrained(*self.type_of(schema.get("items"), hint + "Item"))
            return f"list[{items}]", bounds
        name = _FORMATS.get(schema.get("format", "")) if kind == "string" else None
        if name:
            self.used.add(name)
            return name, {}
        return _SCALARS[kind], bounds

    def constrained(self, annotation: str, bounds: dict[str, Any]) -> str:
        if not bounds:
            return annotation
        self.used.update({"Annotated", "Field"})
        kwargs = ", ".join(f"{k}={_py(v)}" for k, v in bounds.items())
        return f"Annotated[{annotation}, Field({kwargs})]"

    def literal(self, values: list[Any]) -> str | None:
        if not values or not all(v is None or type(v) in (str, int, bool) for v in values):
            return None
        self.used.add("Literal")
        shown = [_py(v) for v in values if v is not None]
        literal = f"Literal[{', '.join(shown)}]" if shown else "None"
        return literal + (" | None" if shown and None in values else "")

    def any(self) -> str:
        self.used.add("Any")
        return "Any"

    def unique(self, name: str) -> str:
        base, n = name, 1
        while name in self.names:
            n += 1
            name = f"{base}{n}"
        self.names.append(name)
        return name

    def module(self, source: str) -> str:
        lines = [
            f'"""Typed models of the message contracts in {source}.',
            "",
            "Generated by `deploykit contracts models`; do not edit: change the contracts and",
            "generate again. The runtime checks each payload against its contract before a",
            "handler gets it as one of these (`Event[Model]`, `Request[Model]`).",
            '"""',
            "",
        ]
        lines += _imports(self.used)
        lines += ["", "__all__ = ["]
        lines += [f'    "{name}",' for name in sorted(self.names)]
        lines += ["]", ""]
        return "\n".join(lines) + "".join(f"\n\n{block}" for block in self.blocks)


def _imports(used: set[str]) -> list[str]:
    groups: dict[str, list[str]] = {}
    for name in sorted(used & set(_IMPORTS), key=str.lower):
        module = _IMPORTS[name].split(" ")[1]
        groups.setdefault(module, []).append(name)
    stdlib = [
        f"from {m} import {', '.join(n)}" for m, n in sorted(groups.items()) if m != "pydantic"
    ]
    lines = [*stdlib, ""] if stdlib else []
    if "pydantic" in groups:
        lines += [f"from pydantic import {', '.join(groups['pydantic'])}", ""]
    return [*lines, "from deploykit.runtime.typed import ContractModel"]


def _is_model(schema: Any) -> bool:
    return (
        isinstance(schema, dict)
        and isinstance(schema.get("properties"), dict)
        and schema.get("type", "object") == "object"
        and not any(k in schema for k in ("anyOf", "oneOf", "allOf", "not", "$ref", "if"))
    )


def _implied(schema: dict[str, Any]) -> str | None:
    if "properties" in schema or "additionalProperties" in schema:
        return "object"
    return "array" if "items" in schema else None


def _union(parts: list[str]) -> str:
    unique = list(dict.fromkeys(parts))
    return "Any" if "Any" in unique else " | ".join(unique)


def _py(value: Any) -> str:
    """A literal as `ruff format` writes it (strings in double quotes)."""
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else repr(value)


def _camel(text: str) -> str:
    words = re.split(r"[^0-9A-Za-z]+", text)
    name = "".join(w[:1].upper() + w[1:] for w in words if w)
    return f"M{name}" if not name or name[0].isdigit() else name


def _attribute(key: str, taken: set[str]) -> str:
    """A Python name for the JSON property `key` (its alias when they differ)."""
    name = re.sub(r"\W", "_", key).lstrip("_") or "field"
    if name[0].isdigit():
        name = f"f_{name}"
    if keyword.iskeyword(name) or name in _TAKEN or hasattr(BaseModel, name):
        name += "_"
    base, n = name, 1
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    taken.add(name)
    return name
