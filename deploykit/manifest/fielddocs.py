"""The manifest's reference, read off the model: every field's path, type, default and meaning.

The pydantic field descriptions in `model.py` are the only place a field is documented; the
Markdown reference (`deploykit render manifest-docs`, kept as docs/manifest.md) and the field
list of `deploykit validate --help` are rendered from them here, so they cannot drift apart.
"""

from __future__ import annotations

import textwrap
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any, Literal

from annotated_types import Ge, Gt, Le
from pydantic import AfterValidator, BaseModel, BeforeValidator
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from deploykit.manifest.model import Manifest
from deploykit.manifest.subjects import check_name, check_subject
from deploykit.manifest.units import (
    DURATION_HELP,
    SIZE_HELP,
    format_duration,
    parse_duration,
    parse_size,
)

__all__ = ["FieldDoc", "field_docs", "field_list", "markdown"]

_KEEP_TOGETHER = "\0"  # a space that `textwrap` does not break at


@dataclass(frozen=True)
class FieldDoc:
    """One field: where it is (`streams.<name>.max_age`), what it takes, what it means."""

    path: str
    kind: str
    default: str
    description: str


def field_docs(model: type[BaseModel] = Manifest, prefix: str = "") -> Iterator[FieldDoc]:
    """Every field of `model` and of the models inside it, depth first, in declaration order."""
    for attribute, info in model.model_fields.items():
        path = f"{prefix}{info.alias or attribute}"  # the name written in YAML
        annotation = _annotated(info)
        yield FieldDoc(path, _kind(annotation), _default(info, annotation), info.description or "")
        inner, inner_path = _inner_model(annotation, path)
        if inner is not None:
            yield from field_docs(inner, inner_path + ".")


def markdown() -> str:
    """The manifest reference as Markdown: one table per top-level section."""
    intro = (
        "Generated from the manifest's model by `deploykit render manifest-docs`: every field "
        "of `deploykit.yaml` is here. `<name>` stands for a key you choose, `[]` for each item "
        f"of a list. Durations are {DURATION_HELP}; sizes are {SIZE_HELP}. A name is 1 to 64 "
        "letters, digits, `_` or `-`; a subject is a NATS subject (`accounts.events.>`, where "
        "`*` stands for one token and `>` for the rest)."
    )
    lines = ["# deploykit.yaml reference", "", *textwrap.wrap(intro, width=96)]
    for name, info in Manifest.model_fields.items():
        annotation = _annotated(info)
        inner, path = _inner_model(annotation, name)
        lines += ["", f"## {name}", "", _sentence(info.description or "")]
        if inner is None:
            lines += ["", f"Type: `{_kind(annotation)}`, {_default(info, annotation)}."]
            continue
        if inner.__doc__:
            lines += ["", " ".join(inner.__doc__.split())]
        lines += ["", "| field | type | default | meaning |", "|---|---|---|---|"]
        for doc in field_docs(inner, path + "."):
            cells = (f"`{doc.path}`", doc.kind, doc.default, doc.description)
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def field_list(width: int = 76) -> str:
    """Every field name, nested as in the YAML, wrapped to `width`: for `validate --help`."""
    lines: list[str] = []
    for name, info in Manifest.model_fields.items():
        annotation = _annotated(info)
        shape = "1" if name == "version" else _shape(annotation)
        lines += textwrap.wrap(
            f"{name}: {shape}",
            width=width,
            initial_indent="  ",
            subsequent_indent="      ",
            break_on_hyphens=False,
        )
    return "\n".join(lines).replace(_KEEP_TOGETHER, " ")


def _annotated(info: FieldInfo) -> Any:
    """The field's annotation with its validators and constraints, as `Annotated[...]`."""
    if info.metadata:
        return Annotated[(info.annotation, *info.metadata)]
    return info.annotation


def _split(annotation: Any) -> tuple[Any, list[Any]]:
    """(the bare type, the metadata around it), through nested `Annotated`s and `X | None`."""
    metadata: list[Any] = []
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation, *more = typing.get_args(annotation)
            for item in more:  # a nested Field(...) keeps its constraints in its own metadata
                metadata += item.metadata if isinstance(item, FieldInfo) else [item]
        elif origin in (typing.Union, types.UnionType):
            rest = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = rest[0] if len(rest) == 1 else annotation
            if len(rest) != 1:
                return annotation, metadata
        else:
            return annotation, metadata


def _inner_model(annotation: Any, path: str) -> tuple[type[BaseModel] | None, str]:
    """The model a field holds, directly, as a map's values or as a list's items."""
    bare, _ = _split(annotation)
    origin, args = typing.get_origin(bare), typing.get_args(bare)
    if origin is dict:
        inner, _ = _split(args[1])
        return (inner, f"{path}.<name>") if _is_model(inner) else (None, path)
    if origin is list:
        inner, _ = _split(args[0])
        return (inner, f"{path}[]") if _is_model(inner) else (None, path)
    return (bare, path) if _is_model(bare) else (None, path)


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _kind(annotation: Any) -> str:
    bare, metadata = _split(annotation)
    origin, args = typing.get_origin(bare), typing.get_args(bare)
    functions = {getattr(m, "func", None) for m in metadata if isinstance(m, BeforeValidator)}
    functions |= {getattr(m, "func", None) for m in metadata if isinstance(m, AfterValidator)}
    if parse_duration in functions:
        return "duration" + _range(metadata, format_duration)
    if parse_size in functions:
        return "size"
    if check_subject in functions:
        return "subject"
    if check_name in functions:
        return "name"
    if origin is Literal:
        return " | ".join(str(a) for a in args)
    if isinstance(bare, type) and issubclass(bare, Enum):
        return " | ".join(str(member.value) for member in bare)
    if origin is dict:
        return f"map of {_plural(args[1])}"
    if origin is list:
        return f"list of {_plural(args[0])}" + _range(metadata, str)
    if _is_model(bare):
        return "mapping"
    if bare is bool:
        return "true | false"
    if bare is int:
        return "integer" + _range(metadata, str)
    if bare is str:
        return "string"
    return "any YAML value"


def _plural(annotation: Any) -> str:
    kind = _kind(annotation)
    return "mappings" if kind == "mapping" else f"{kind} values" if " | " in kind else f"{kind}s"


def _range(metadata: list[Any], show: Any) -> str:
    low = next((m.ge for m in metadata if isinstance(m, Ge)), None)
    high = next((m.le for m in metadata if isinstance(m, Le)), None)
    above = next((m.gt for m in metadata if isinstance(m, Gt)), None)
    min_length = next((getattr(m, "min_length", None) for m in metadata), None)
    if low is not None and high is not None:
        return f", {show(low)} to {show(high)}"
    if low is not None:
        return f", {show(low)} or more"
    if above is not None:
        return f", more than {show(above)}"
    if min_length:
        return f", at least {min_length}"
    return ""


def _default(info: FieldInfo, annotation: Any) -> str:
    extra = info.json_schema_extra
    if isinstance(extra, dict) and "default_doc" in extra:
        return str(extra["default_doc"])
    if info.is_required():
        return "required"
    value = info.get_default(call_default_factory=True)
    if value is PydanticUndefined or _is_model(type(value)):
        return "see below"
    if value in ({}, [], None):
        return "none"
    if value == "":
        return "empty"
    if isinstance(value, bool):
        return str(value).lower()
    if _kind(annotation).startswith("duration") and value:
        return format_duration(value)
    return f"`{value}`" if isinstance(value, str) else str(value)


def _shape(annotation: Any) -> str:
    """A field's nesting, names only: `{NAME: {bus, subjects (required), ...}}`, `[{...}]`."""
    bare, _ = _split(annotation)
    origin, args = typing.get_origin(bare), typing.get_args(bare)
    if origin is dict and _is_model(_split(args[1])[0]):
        return "{NAME: " + _shape(args[1]) + "}"
    if origin is list and _is_model(_split(args[0])[0]):
        return "[" + _shape(args[0]) + "]"
    if _is_model(bare):
        parts = []
        for attribute, info in bare.model_fields.items():
            name = info.alias or attribute
            inner, _ = _inner_model(_annotated(info), name)
            required = _default(info, _annotated(info)) == "required"
            label = f"{name}{_KEEP_TOGETHER}(required)" if required else name
            parts.append(f"{label}: {_shape(_annotated(info))}" if inner else label)
        return "{" + ", ".join(parts) + "}"
    return _kind(annotation).replace(" | ", "|")


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")
