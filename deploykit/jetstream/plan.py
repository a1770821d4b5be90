"""The plan: a pure function of the declared configs and the server's actual JSON.

Per object, one step: create, update in place (each changed field, old and new), replace (a
change the server refuses in place: delete and create again, destroying data), delete (an
object on the server that the manifest does not declare, only when pruning), or nothing.

Only declared fields are compared. A field the server omits is read as its zero value (the
server's JSON omits empty fields), so "" and a missing description are the same, and
server-set metadata (`_nats.*`) is never looked at because deploykit declares no metadata.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from deploykit.jetstream.desired import Desired, DesiredState, Kind
from deploykit.jetstream.immutable import refusal
from deploykit.manifest.units import format_duration

__all__ = [
    "Action",
    "Change",
    "Drift",
    "Plan",
    "Step",
    "Undeclared",
    "compute_plan",
    "diff_config",
    "update_body",
]

Action = Literal["create", "update", "replace", "delete"]
_UNORDERED = frozenset({"subjects", "filter_subjects"})
_DURATIONS = frozenset(
    {"max_age", "duplicate_window", "ack_wait", "inactive_threshold", "idle_heartbeat"}
)


@dataclass(frozen=True)
class Change:
    """One declared field whose server value differs; `refused` says why it needs a replace."""

    field: str
    old: Any
    new: Any
    refused: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"field": self.field, "old": self.old, "new": self.new, "refused": self.refused}

    def render(self) -> str:
        return f"{self.field}: {_show(self.field, self.old)} → {_show(self.field, self.new)}"


@dataclass(frozen=True)
class Step:
    """One thing apply will do. `actual` is the server config the step was planned against."""

    action: Action
    kind: Kind
    name: str
    stream: str
    consumer: str | None = None
    config: dict[str, Any] | None = None
    actual: dict[str, Any] | None = None
    changes: tuple[Change, ...] = ()
    note: str = ""
    undeclared: bool = False

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}"

    @property
    def destroys_data(self) -> bool:
        return self.action in ("replace", "delete")

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "kind": self.kind,
            "name": self.name,
            "stream": self.stream,
            "consumer": self.consumer,
            "destroys_data": self.destroys_data,
            "undeclared": self.undeclared,
            "changes": [c.to_json() for c in self.changes],
            "note": self.note,
        }


@dataclass(frozen=True)
class Undeclared:
    """An object on the server that the manifest does not declare, kept because not pruning."""

    kind: Kind
    name: str
    stream: str
    consumer: str | None = None

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}"


@dataclass(frozen=True)
class Drift:
    """One way a declared object differs from the server: a field, or `exists` when missing."""

    object: str
    field: str
    declared: Any
    actual: Any

    def render(self) -> str:
        """`field: declared X, actual Y` with durations as people write them; or `missing`."""
        if self.field == "exists":
            return "missing: declared, not on the server"
        declared, actual = _show(self.field, self.declared), _show(self.field, self.actual)
        return f"{self.field}: declared {declared}, actual {actual}"


@dataclass(frozen=True)
class Plan:
    bus: str
    steps: tuple[Step, ...]
    unchanged: tuple[str, ...] = ()
    undeclared: tuple[Undeclared, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def has_changes(self) -> bool:
        return bool(self.steps)

    @property
    def destructive(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.destroys_data)

    def drift(self) -> list[Drift]:
        """How the server differs from every declared object (undeclared objects aside)."""
        out: list[Drift] = []
        for step in self.steps:
            if step.undeclared:
                continue
            if step.action == "create":
                out.append(Drift(step.label, "exists", True, False))
            out.extend(Drift(step.label, c.field, c.new, c.old) for c in step.changes)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "bus": self.bus,
            "changes": self.has_changes,
            "steps": [s.to_json() for s in self.steps],
            "unchanged": list(self.unchanged),
            "undeclared": [
                {"kind": u.kind, "name": u.name, "stream": u.stream, "consumer": u.consumer}
                for u in self.undeclared
            ],
            "warnings": list(self.warnings),
        }


def _zero(value: Any) -> Any:
    """What the server means when it omits a field of this type."""
    return type(value)() if isinstance(value, str | bool | int | float | list | dict) else None


def _normal(name: str, value: Any) -> Any:
    if name == "sources" and isinstance(value, list):
        return sorted(map(_source_key, value))
    return sorted(value) if name in _UNORDERED and isinstance(value, list) else value


def _source_key(source: dict[str, Any]) -> tuple[str, str, str, str]:
    """The fields of a source deploykit declares; the server adds others (start sequence...)."""
    external = source.get("external") or {}
    return (
        source.get("name", ""),
        source.get("filter_subject", ""),
        external.get("api", ""),
        external.get("deliver", ""),
    )


def diff_config(kind: Kind, declared: dict[str, Any], actual: dict[str, Any]) -> list[Change]:
    """Every declared field whose server value differs, with the server's refusal if any."""
    changes = []
    for name, new in declared.items():
        old = actual.get(name, _zero(new))
        if _normal(name, old) != _normal(name, new):
            changes.append(Change(name, old, new, refusal(kind, name, old, new)))
    return changes


def update_body(declared: dict[str, Any], actual: dict[str, Any]) -> dict[str, Any]:
    """The full config for an update: the server's own, with the declared fields laid over it.

    Starting from the server's JSON keeps every field deploykit does not manage as it is;
    server-set metadata is dropped, the server writes it again.
    """
    body = {**actual, **declared}
    metadata = {k: v for k, v in (body.get("metadata") or {}).items() if not k.startswith("_nats.")}
    if metadata:
        body["metadata"] = metadata
    else:
        body.pop("metadata", None)
    return body


def _kind_of(stream: str) -> Kind:
    if stream.startswith("KV_"):
        return "kv"
    if stream.startswith("OBJ_"):
        return "object_store"
    return "stream"


def _display(stream: str) -> str:
    kind = _kind_of(stream)
    return stream.removeprefix("KV_") if kind == "kv" else stream.removeprefix("OBJ_")


def _step_for(obj: Desired, actual: dict[str, Any] | None, parent_replaced: bool) -> Step | None:
    create = Step("create", obj.kind, obj.name, obj.stream, obj.consumer, config=obj.config)
    if actual is None or parent_replaced:
        return replace(create, note="its stream is replaced" if actual is not None else "")
    changes = tuple(diff_config(obj.kind, obj.config, actual))
    if not changes:
        return None
    refused = [c.refused for c in changes if c.refused]
    if refused:
        what = "its delivery state" if obj.kind == "consumer" else "every message in it"
        note = f"{'; '.join(dict.fromkeys(refused))}: replacing destroys {what}"
        return replace(create, action="replace", actual=actual, changes=changes, note=note)
    return replace(create, action="update", actual=actual, changes=changes)


def compute_plan(
    desired: DesiredState,
    streams: dict[str, dict[str, Any]],
    consumers: dict[str, dict[str, dict[str, Any]]],
    declared_elsewhere: frozenset[str] = frozenset(),
    *,
    prune: bool = False,
) -> Plan:
    """The steps that take the server (`streams`, durable `consumers` by stream) to `desired`.

    Streams in `declared_elsewhere` belong to another bus of the manifest (which may share the
    account, as on an unauthenticated dev server): never reported, never pruned. Undeclared
    objects become delete steps when `prune`, otherwise they are listed in `undeclared`.
    """
    steps: list[Step] = []
    unchanged: list[str] = []
    replaced: set[str] = set()
    for obj in desired.objects:
        if obj.consumer is None:
            actual = streams.get(obj.stream)
        else:
            actual = consumers.get(obj.stream, {}).get(obj.consumer)
        step = _step_for(obj, actual, obj.consumer is not None and obj.stream in replaced)
        if step is None:
            unchanged.append(obj.label)
            continue
        if step.action == "replace" and obj.consumer is None:
            replaced.add(obj.stream)
        steps.append(step)

    declared = {o.stream for o in desired.objects if o.consumer is None}
    declared_consumers = {(o.stream, o.consumer) for o in desired.objects if o.consumer}
    undeclared: list[Undeclared] = []
    for stream in sorted(streams):
        if stream in declared_elsewhere:
            continue
        if stream not in declared:
            undeclared.append(Undeclared(_kind_of(stream), _display(stream), stream))
            continue
        if stream in replaced:
            continue
        for name in sorted(consumers.get(stream, {})):
            if (stream, name) not in declared_consumers:
                undeclared.append(Undeclared("consumer", f"{stream}/{name}", stream, name))

    deletes: list[Step] = []
    if prune:
        for u in undeclared:
            note = "not declared in the manifest"
            deletes.append(
                Step("delete", u.kind, u.name, u.stream, u.consumer, note=note, undeclared=True)
            )
        undeclared = []
    # consumers are deleted before streams, and both before anything is created or updated,
    # so that a declared stream can take over the subjects of a pruned one.
    deletes.sort(key=lambda s: s.consumer is None)
    return Plan(
        desired.bus,
        (*deletes, *steps),
        tuple(unchanged),
        tuple(undeclared),
        tuple(desired.warnings),
    )


def _show(name: str, value: Any) -> str:
    if name in _DURATIONS and isinstance(value, int):
        return format_duration(value / 1_000_000_000)
    if isinstance(value, str):
        return repr(value)
    return str(value)
