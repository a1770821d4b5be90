"""Which changes the server refuses to make in place, and why.

The authority is the server, not its documentation (which disagrees with the code in places):
`tests/integration/test_reconcile.py::test_server_agrees_with_the_table` tries every rule
here, and a representative in-place change for each side of it, against a real nats-server.
A refused field means the object must be deleted and created again (a replace), which destroys
the messages of a stream or the delivery state of a consumer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["consumer_refusal", "refusal", "stream_refusal"]

Rule = Callable[[Any, Any], bool]


def _any_change(old: Any, new: Any) -> bool:
    return bool(old != new)


def _turned_off(old: Any, new: Any) -> bool:
    return bool(old) and not new


def _to_or_from_workqueue(old: Any, new: Any) -> bool:
    return old != new and "workqueue" in (old, new)


def _changed_not_removed(old: Any, new: Any) -> bool:
    """A mirror can be removed (promoting the stream) but never pointed elsewhere or added."""
    return old != new and bool(new)


def _push_pull_switch(old: Any, new: Any) -> bool:
    return bool(old) != bool(new)


_STREAM: dict[str, tuple[Rule, str]] = {
    "name": (_any_change, "a stream cannot be renamed"),
    "storage": (_any_change, "the storage type cannot change"),
    "retention": (_to_or_from_workqueue, "retention cannot change to or from workqueue"),
    "mirror": (_changed_not_removed, "a mirror cannot be added or changed"),
    "sealed": (_turned_off, "a sealed stream cannot be unsealed"),
    "deny_delete": (_turned_off, "deny_delete cannot be turned off"),
    "deny_purge": (_turned_off, "deny_purge cannot be turned off"),
    "allow_msg_ttl": (_turned_off, "per-message TTLs cannot be turned off"),
    "allow_msg_schedules": (_turned_off, "message schedules cannot be turned off"),
    "allow_msg_counter": (_any_change, "the message counter setting cannot change"),
    "persist_mode": (_any_change, "the persist mode cannot change"),
}

_CONSUMER: dict[str, tuple[Rule, str]] = {
    "name": (_any_change, "a consumer cannot be renamed"),
    "durable_name": (_any_change, "a consumer cannot be renamed"),
    "deliver_policy": (_any_change, "the deliver policy cannot change"),
    "opt_start_seq": (_any_change, "the start sequence cannot change"),
    "opt_start_time": (_any_change, "the start time cannot change"),
    "ack_policy": (_any_change, "the ack policy cannot change"),
    "replay_policy": (_any_change, "the replay policy cannot change"),
    "mem_storage": (_any_change, "the storage type cannot change"),
    "idle_heartbeat": (_any_change, "the idle heartbeat cannot change"),
    "flow_control": (_any_change, "flow control cannot change"),
    "max_waiting": (_any_change, "max_waiting cannot change"),
    "deliver_subject": (_push_pull_switch, "a consumer cannot switch between push and pull"),
}


def _check(rules: dict[str, tuple[Rule, str]], field: str, old: Any, new: Any) -> str | None:
    rule = rules.get(field)
    if rule is None:
        return None
    refused, reason = rule
    return reason if refused(old, new) else None


def stream_refusal(field: str, old: Any, new: Any) -> str | None:
    """Why the server refuses to change a stream's `field` from `old` to `new`, else None."""
    return _check(_STREAM, field, old, new)


def consumer_refusal(field: str, old: Any, new: Any) -> str | None:
    """Why the server refuses to change a consumer's `field` from `old` to `new`, else None."""
    return _check(_CONSUMER, field, old, new)


def refusal(kind: str, field: str, old: Any, new: Any) -> str | None:
    """Dispatch on the object kind: a consumer, or anything backed by a stream."""
    if kind == "consumer":
        return consumer_refusal(field, old, new)
    return stream_refusal(field, old, new)
