"""Typed payloads: a handler that annotates `Event[Model]` or `Request[Model]` gets `data` parsed
into `Model`; a model given to `emit`, returned as a reply or sent as a request is serialised.

The contract (JSON Schema) judges the payload first, as for every handler; the model is the
typed view of what passed. A payload that passes the schema but not the model (a hand-written
model stricter than the contract) is a `PayloadError` like any other. `ContractModel` is the
base of the models `deploykit contracts models` generates.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    SerializerFunctionWrapHandler,
    TypeAdapter,
    ValidationError,
    model_serializer,
)

from deploykit.manifest.contracts import json_path
from deploykit.runtime.payloads import PayloadError

__all__ = ["ContractModel", "Parser", "parse_as", "parser_for"]

Parser = Callable[[Any], Any]
M = TypeVar("M")


class ContractModel(BaseModel):
    """A payload as a model. Fields the schema does not name are kept (a newer producer's
    optional fields pass through). A field that is None is left out when serialised, as JSON
    Schema wants an absent key rather than a null, unless its schema allows null
    (`__nullable__`, attribute names) and it was given: so a payload round-trips as it came."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    __nullable__: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _without_absent(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        given = self.model_fields_set
        absent = {
            key
            for name, info in type(self).model_fields.items()
            if getattr(self, name) is None and (name not in self.__nullable__ or name not in given)
            for key in (name, info.alias)
        }
        return {k: v for k, v in data.items() if k not in absent} if absent else data


def parser_for(handler: Callable[..., Any], wrapper: type) -> Parser | None:
    """What turns decoded data into the type the handler's first parameter names
    (`wrapper[Model]`); None when it names none (`wrapper`, `wrapper[Any]`, no annotation)."""
    parameters = list(inspect.signature(handler).parameters.values())
    if not parameters:
        return None
    try:
        annotation = typing.get_type_hints(handler).get(parameters[0].name)
    except (NameError, TypeError) as exc:
        raise TypeError(
            f"handler {handler.__qualname__}: cannot resolve the annotation of "
            f"{parameters[0].name!r} ({exc}); define the model at module level"
        ) from None
    if typing.get_origin(annotation) is not wrapper:
        return None
    (target,) = typing.get_args(annotation)
    if target is Any:
        return None
    return lambda data: parse_as(target, data)


def parse_as(target: type[M], data: Any) -> M:
    """`data` parsed into `target` (a reply, an event), or `PayloadError` saying why not."""
    try:
        adapter: TypeAdapter[M] = _adapter(typing.cast(Any, target))  # any type is a cache key
        return adapter.validate_python(data)
    except ValidationError as exc:
        problems = "; ".join(f"{json_path(e['loc'])}: {e['msg']}" for e in exc.errors())
        name = getattr(target, "__name__", repr(target))
        raise PayloadError(f"does not fit {name}: {problems}") from None


@functools.cache
def _adapter(target: Any) -> TypeAdapter[Any]:
    """One validator per type, built on first use."""
    return TypeAdapter(target)
