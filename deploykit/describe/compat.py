"""Which contract changes between two manifests break whom. Pure.

A payload is written by some services and read by others, and in an event store it is also read
again later: a new consumer replays what old producers wrote. So a change is judged both ways:

- forward: can a reader still on the old schema read what the new one allows? Removing a required
  field, changing a field's type or adding enum values breaks it.
- backward: can a reader on the new schema read what the old one allowed (the stream's history,
  writers not yet upgraded)? Adding a required field, changing a type or narrowing an enum breaks it.

Adding an optional field breaks neither. Each breaking change names the services it breaks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from deploykit.manifest.contracts import Part, schema_of
from deploykit.manifest.model import Manifest
from deploykit.manifest.subjects import collide

__all__ = ["ContractChange", "diff_contracts"]

Direction = Literal["forward", "backward", "safe"]


@dataclass(frozen=True)
class ContractChange:
    subject: str
    part: Part
    path: str  # inside the payload, `$.email`
    what: str
    direction: Direction
    breaks: tuple[str, ...]  # the services that would fail on it

    @property
    def breaking(self) -> bool:
        return self.direction != "safe"


def diff_contracts(old: Manifest, new: Manifest) -> list[ContractChange]:
    """Every difference between the two manifests' contracts, breaking ones first."""
    changes: list[ContractChange] = []
    parts: tuple[Part, ...] = ("schema", "request", "reply")
    for subject in sorted(set(old.contracts) | set(new.contracts)):
        before, after = old.contracts.get(subject), new.contracts.get(subject)
        for part in parts:
            a = schema_of(before, part) if before else None
            b = schema_of(after, part) if after else None
            if a is None and b is None:
                continue
            readers, writers = _parties(new if after else old, subject, part)
            for path, what, direction in _compare(a, b, "$"):
                who = readers if direction == "forward" else writers + readers
                if direction == "safe":
                    who = ()
                changes.append(
                    ContractChange(subject, part, path, what, direction, tuple(sorted(set(who))))
                )
    return sorted(changes, key=lambda c: (not c.breaking, c.subject, c.part, c.path))


def _parties(m: Manifest, subject: str, part: Part) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(readers, writers) of a subject's payload part."""
    if part == "schema":
        writers = tuple(n for n, s in m.services.items() if subject in s.emits)
        readers = tuple(
            n
            for n, s in m.services.items()
            for c in s.consumes
            if c.stream in m.streams
            and any(
                collide(subject, f)
                for f in ([c.filter] if c.filter else m.streams[c.stream].subjects)
            )
        )
        return readers, writers
    owner = next(
        (
            n
            for n, s in m.services.items()
            for e in s.endpoints
            if s.endpoint_subject(n, e) == subject
        ),
        None,
    )
    callers = tuple(
        n
        for n, s in m.services.items()
        for call in s.calls
        if owner and call.split(".")[0] == owner and m.endpoint_subjects().get(call) == subject
    )
    service = (owner,) if owner else ()
    return (service, callers) if part == "request" else (callers, service)


def _types(schema: dict[str, Any]) -> set[str] | None:
    kind = schema.get("type")
    if kind is None:
        return None
    types = {kind} if isinstance(kind, str) else set(kind)
    if "number" in types:
        types.add("integer")
    return types


def _compare(a: Any, b: Any, path: str) -> Iterator[tuple[str, str, Direction]]:
    if not isinstance(a, dict) or not isinstance(b, dict):
        if a is None:
            yield path, "schema added (payloads were unchecked)", "backward"
        elif b is None:
            yield path, "schema removed (payloads are unchecked)", "safe"
        return
    yield from _compare_types(a, b, path)
    yield from _compare_enum(a, b, path)
    yield from _compare_properties(a, b, path)
    if isinstance(a.get("items"), dict) and isinstance(b.get("items"), dict):
        yield from _compare(a["items"], b["items"], f"{path}[]")


def _compare_types(
    a: dict[str, Any], b: dict[str, Any], path: str
) -> Iterator[tuple[str, str, Direction]]:
    ta, tb = _types(a), _types(b)
    if ta == tb:
        return
    what = f"type {sorted(ta or {'any'})} → {sorted(tb or {'any'})}"
    if tb is None or (ta is not None and not tb <= ta):
        yield path, f"{what}: old readers get values they do not expect", "forward"
    if ta is None or (tb is not None and not ta <= tb):
        yield path, f"{what}: values the old schema allowed are refused", "backward"


def _compare_enum(
    a: dict[str, Any], b: dict[str, Any], path: str
) -> Iterator[tuple[str, str, Direction]]:
    ea, eb = a.get("enum"), b.get("enum")
    if ea is None and eb is None:
        return
    old, new = set(map(repr, ea or [])), set(map(repr, eb or []))
    if eb is None or (ea is not None and new - old):
        yield path, f"enum widened by {sorted(new - old) or 'any value'}", "forward"
    if ea is None or old - new:
        yield (
            path,
            f"enum narrowed: {sorted(old - new) or 'to a list'} no longer allowed",
            "backward",
        )


def _compare_properties(
    a: dict[str, Any], b: dict[str, Any], path: str
) -> Iterator[tuple[str, str, Direction]]:
    pa, pb = a.get("properties") or {}, b.get("properties") or {}
    ra, rb = set(a.get("required") or ()), set(b.get("required") or ())
    for name in sorted(set(pa) | set(pb) | ra | rb):
        where = f"{path}.{name}"
        if name in ra and name not in rb:
            gone = "removed" if name not in pb else "no longer required"
            yield where, f"required field {gone}: old readers rely on it", "forward"
        elif name in rb and name not in ra:
            yield where, "field became required: payloads without it are refused", "backward"
        elif name not in pa and name in pb:
            if a.get("additionalProperties") is False:
                yield where, "field added where old readers allow no other fields", "forward"
            else:
                yield where, "optional field added", "safe"
        elif name in pa and name not in pb:
            if b.get("additionalProperties") is False:
                yield where, "optional field removed and no other fields allowed", "backward"
            else:
                yield where, "optional field removed", "safe"
        if name in pa and name in pb:
            yield from _compare(pa[name], pb[name], where)
