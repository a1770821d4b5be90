"""Load `deploykit.yaml`: YAML → pydantic model → cross-references, with every problem located.

The only entry point is `load_manifest` (or `parse_manifest` for text already read). Bad input
never escapes as a traceback: it becomes a ManifestError listing `FILE: path: what (allowed)`.
"""

from __future__ import annotations

import difflib
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from deploykit.errors import ManifestError, Problem
from deploykit.manifest.contracts import check_contracts
from deploykit.manifest.model import Manifest
from deploykit.manifest.references import check_references

__all__ = ["DEFAULT_MANIFEST", "load_manifest", "parse_manifest"]

DEFAULT_MANIFEST = "deploykit.yaml"


try:  # libyaml's parser: a fifteenth of the pure-Python one's time on the reference manifest
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # a PyYAML built without libyaml
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]  # the same interface


class _UniqueKeyLoader(_SafeLoader):
    """A SafeLoader that refuses duplicate keys instead of silently keeping the last one."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", mark)
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_manifest(path: str | Path = DEFAULT_MANIFEST) -> Manifest:
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(file, [Problem("", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(file, [Problem("", f"cannot read the file: {exc}")]) from None
    return parse_manifest(text, file)


def parse_manifest(text: str, file: str = DEFAULT_MANIFEST) -> Manifest:
    data = _parse_yaml(text, file)
    data, problems = _read_schema_files(data, Path(file).parent)
    if problems:
        raise ManifestError(file, problems)
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        raise ManifestError(file, [_problem(err) for err in exc.errors()]) from None
    problems = check_references(manifest) + check_contracts(manifest)
    if problems:
        raise ManifestError(file, problems)
    return manifest


def _parse_yaml(text: str, file: str) -> dict[str, Any]:
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        what = exc.problem or exc.context or "invalid YAML"
        raise ManifestError(file, [Problem("", f"YAML syntax error at {where}: {what}")]) from None
    except yaml.YAMLError as exc:
        raise ManifestError(file, [Problem("", f"YAML error: {exc}")]) from None
    if data is None:
        raise ManifestError(
            file, [Problem("", "the file is empty", "a mapping with version, system, buses, ...")]
        )
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise ManifestError(
            file,
            [
                Problem(
                    "", f"the document is a {kind}", "a mapping with version, system, buses, ..."
                )
            ],
        )
    return data


def _read_schema_files(data: dict[str, Any], folder: Path) -> tuple[dict[str, Any], list[Problem]]:
    """A contract's schema may be the path of a JSON or YAML file next to the manifest: read it,
    so the model holds the schema itself and never a path."""
    contracts = data.get("contracts")
    if not isinstance(contracts, dict):
        return data, []
    problems: list[Problem] = []
    resolved: dict[Any, Any] = {}
    for subject, contract in contracts.items():
        if not isinstance(contract, dict):
            resolved[subject] = contract
            continue
        contract = dict(contract)
        for part in ("schema", "request", "reply"):
            ref = contract.get(part)
            if isinstance(ref, str):
                contract[part], problem = _schema_file(folder / ref, f"contracts.{subject}.{part}")
                problems += [problem] if problem else []
        resolved[subject] = contract
    return {**data, "contracts": resolved}, problems


def _schema_file(path: Path, field: str) -> tuple[Any, Problem | None]:
    try:
        schema = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, Problem(
            field, f"schema file {path} not found", "a path relative to the manifest"
        )
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        return None, Problem(field, f"cannot read schema file {path}: {exc}")
    if not isinstance(schema, dict):
        return None, Problem(field, f"schema file {path} holds no mapping", "a JSON Schema object")
    return schema, None


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]":
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def _problem(err: Any) -> Problem:
    loc = tuple(err["loc"])
    kind = err["type"]
    path = _path(loc)
    if kind == "missing":
        return Problem(path, "is required")
    if kind == "extra_forbidden":
        fields = _fields_at(loc[:-1])
        hint = difflib.get_close_matches(str(loc[-1]), fields, n=1)
        allowed = f"did you mean {hint[0]!r}? " if hint else ""
        return Problem(path, "is not a known field", f"{allowed}allowed: {', '.join(fields)}")
    if "[key]" in loc:
        return Problem(path, f"the name {err.get('input')!r} is not valid", _clean(err["msg"]))
    if kind in ("literal_error", "enum"):
        return Problem(path, f"{err.get('input')!r} is not allowed", _clean(err["msg"]))
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return Problem(path, f"expected a mapping, got {_kind(err.get('input'))}")
    if kind == "list_type":
        return Problem(path, f"expected a list, got {_kind(err.get('input'))}")
    return Problem(path, _clean(err["msg"]))


def _clean(message: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message.replace("Input should be", "should be")


def _kind(value: object) -> str:
    names = {dict: "a mapping", list: "a list", str: "a string", int: "a number", float: "a number"}
    if value is None:
        return "nothing (null)"
    return names.get(type(value), type(value).__name__)


def _fields_at(loc: tuple[int | str, ...]) -> list[str]:
    """The field names of the model that sits at `loc`, to tell the user what is allowed."""
    annotation: Any = Manifest
    for part in loc:
        model = _model_in(annotation)
        if model is not None and isinstance(part, str) and part in model.model_fields:
            annotation = model.model_fields[part].annotation
            continue
        args = typing.get_args(_unwrap(annotation))
        if not args:
            return []
        annotation = args[-1]
    model = _model_in(annotation)
    return [f.alias or n for n, f in model.model_fields.items()] if model else []


def _unwrap(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _unwrap(inner[0]) if inner else annotation
    return annotation


def _model_in(annotation: Any) -> type[BaseModel] | None:
    bare = _unwrap(annotation)
    return bare if isinstance(bare, type) and issubclass(bare, BaseModel) else None
