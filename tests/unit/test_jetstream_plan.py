"""The pure middle of the reconciler: desired configs, the diff and the plan, on exact output."""

from __future__ import annotations

import json

import pytest

from deploykit.errors import PlanRefused
from deploykit.jetstream.apply import check_allowed
from deploykit.jetstream.desired import (
    Desired,
    DesiredState,
    consumer_config,
    declared_streams,
    desired_state,
    kv_config,
    object_store_config,
)
from deploykit.jetstream.immutable import consumer_refusal, stream_refusal
from deploykit.jetstream.plan import Change, Drift, compute_plan, diff_config, update_body
from deploykit.manifest.load import parse_manifest
from deploykit.manifest.model import Manifest

S = 1_000_000_000

MANIFEST = """
version: 1
system: shop
buses:
  core: {core: true}
  analytics: {}
streams:
  ORDERS:
    subjects: ["orders.>"]
    description: orders
    max_age: 30d
    duplicate_window: 1m
  CLICKS:
    bus: analytics
    subjects: ["clicks.>"]
    replicas: 1
kv:
  carts: {history: 3, ttl: 1h}
object_stores:
  invoices: {max_age: 1d, max_bytes: 1MiB}
services:
  billing:
    role: worker
    consumes:
      - {stream: ORDERS, consumer: billing, mode: queue, filter: orders.placed, ack_wait: 10s}
      - {stream: ORDERS, consumer: feed, mode: fanout}
"""


@pytest.fixture(scope="module")
def manifest() -> Manifest:
    return parse_manifest(MANIFEST)


def served(config: dict) -> dict:
    """A config as the server returns it: empty fields omitted, defaults and metadata added."""
    out = {k: v for k, v in config.items() if v not in ("", [], {}, None)}
    return {
        **out,
        "sealed": False,
        "compression": "none",
        "metadata": {"_nats.ver": "2.15.1", "_nats.level": "5", "_nats.req.level": "0"},
    }


def state_of(desired: DesiredState) -> tuple[dict, dict]:
    streams, consumers = {}, {}
    for obj in desired.objects:
        if obj.consumer is None:
            streams[obj.stream] = served(obj.config)
        else:
            consumers.setdefault(obj.stream, {})[obj.consumer] = served(obj.config)
    return streams, consumers


def test_stream_config_is_the_server_json(manifest: Manifest) -> None:
    desired = desired_state(manifest, "core", cluster_size=3)
    orders = next(o for o in desired.objects if o.name == "ORDERS")
    assert orders.config == {
        "name": "ORDERS",
        "description": "orders",
        "subjects": ["orders.>"],
        "retention": "limits",
        "storage": "file",
        "num_replicas": 3,
        "max_age": 30 * 86400 * S,
        "max_bytes": -1,
        "max_msgs": -1,
        "max_msg_size": -1,
        "discard": "old",
        "duplicate_window": 60 * S,
    }
    assert desired.warnings == []


def test_kv_and_object_store_are_streams_with_nats_go_settings(manifest: Manifest) -> None:
    assert kv_config("carts", manifest.kv["carts"], 1) == {
        "name": "KV_carts",
        "description": "",
        "subjects": ["$KV.carts.>"],
        "retention": "limits",
        "storage": "file",
        "num_replicas": 1,
        "max_age": 3600 * S,
        "max_bytes": -1,
        "max_msg_size": -1,
        "max_msgs_per_subject": 3,
        "discard": "new",
        "duplicate_window": 120 * S,
        "allow_rollup_hdrs": True,
        "deny_delete": True,
        "allow_direct": True,
    }
    assert object_store_config("invoices", manifest.object_stores["invoices"], 1) == {
        "name": "OBJ_invoices",
        "description": "",
        "subjects": ["$O.invoices.C.>", "$O.invoices.M.>"],
        "retention": "limits",
        "storage": "file",
        "num_replicas": 1,
        "max_age": 86400 * S,
        "max_bytes": 1024**2,
        "discard": "new",
        "allow_rollup_hdrs": True,
        "allow_direct": True,
    }


def test_a_short_ttl_shortens_the_duplicate_window(manifest: Manifest) -> None:
    kv = manifest.kv["carts"].model_copy(update={"ttl": 30.0})
    assert kv_config("carts", kv, 1)["duplicate_window"] == 30 * S


def test_only_queue_consumers_are_declared_as_durable_pull_consumers(manifest: Manifest) -> None:
    consume = manifest.services["billing"].consumes[0]
    assert consumer_config(consume, "billing") == {
        "name": "billing",
        "durable_name": "billing",
        "description": "queue consumer of service billing",
        "deliver_policy": "all",
        "ack_policy": "explicit",
        "replay_policy": "instant",
        "ack_wait": 10 * S,
        "max_deliver": 5,
        "max_ack_pending": 1000,
        "filter_subject": "orders.placed",
    }
    desired = desired_state(manifest, "core", cluster_size=3)
    assert [o.label for o in desired.objects] == [
        "stream ORDERS",
        "consumer ORDERS/billing",
        "stream DEPLOYKIT_SMOKE",
        "kv carts",
        "kv deploykit_smoke",
        "object_store invoices",
        "object_store deploykit_smoke",
    ]


def test_smoke_assets_live_only_on_the_core_bus(manifest: Manifest) -> None:
    labels = [o.label for o in desired_state(manifest, "analytics", cluster_size=3).objects]
    assert labels == ["stream CLICKS"]
    assert declared_streams(manifest) == {
        "ORDERS": "core",
        "DEPLOYKIT_SMOKE": "core",
        "KV_carts": "core",
        "KV_deploykit_smoke": "core",
        "OBJ_invoices": "core",
        "OBJ_deploykit_smoke": "core",
        "CLICKS": "analytics",
    }


def test_replicas_are_capped_at_the_cluster_size_with_a_warning(manifest: Manifest) -> None:
    desired = desired_state(manifest, "core", cluster_size=1)
    assert {o.config.get("num_replicas") for o in desired.objects if o.consumer is None} == {1}
    assert desired.warnings == [
        "stream ORDERS: replicas 3 capped at the cluster size 1",
        "stream DEPLOYKIT_SMOKE: replicas 3 capped at the cluster size 1",
        "kv carts: replicas 3 capped at the cluster size 1",
        "kv deploykit_smoke: replicas 3 capped at the cluster size 1",
    ]
    assert desired_state(manifest, "core", cluster_size=None).warnings == []


def test_an_empty_server_gets_everything_created_in_order(manifest: Manifest) -> None:
    plan = compute_plan(desired_state(manifest, "core", 3), {}, {})
    assert [(s.action, s.label) for s in plan.steps] == [
        ("create", "stream ORDERS"),
        ("create", "consumer ORDERS/billing"),
        ("create", "stream DEPLOYKIT_SMOKE"),
        ("create", "kv carts"),
        ("create", "kv deploykit_smoke"),
        ("create", "object_store invoices"),
        ("create", "object_store deploykit_smoke"),
    ]
    assert plan.has_changes
    assert plan.destructive == ()
    assert plan.drift()[:2] == [
        Drift("stream ORDERS", "exists", True, False),
        Drift("consumer ORDERS/billing", "exists", True, False),
    ]


def test_server_filled_fields_and_metadata_are_not_drift(manifest: Manifest) -> None:
    desired = desired_state(manifest, "core", 3)
    streams, consumers = state_of(desired)
    plan = compute_plan(desired, streams, consumers)
    assert plan.steps == ()
    assert not plan.has_changes
    assert plan.drift() == []
    assert len(plan.unchanged) == 7


def test_subject_order_is_not_drift() -> None:
    declared = {"subjects": ["a.>", "b.>"]}
    assert diff_config("stream", declared, {"subjects": ["b.>", "a.>"]}) == []


def test_a_mutable_change_is_an_update_listing_old_and_new(manifest: Manifest) -> None:
    desired = desired_state(manifest, "core", 3)
    streams, consumers = state_of(desired)
    streams["ORDERS"] |= {"max_age": 7 * 86400 * S, "description": "old"}
    consumers["ORDERS"]["billing"]["ack_wait"] = 30 * S
    plan = compute_plan(desired, streams, consumers)
    assert [(s.action, s.label, s.changes) for s in plan.steps] == [
        (
            "update",
            "stream ORDERS",
            (
                Change("description", "old", "orders"),
                Change("max_age", 7 * 86400 * S, 30 * 86400 * S),
            ),
        ),
        ("update", "consumer ORDERS/billing", (Change("ack_wait", 30 * S, 10 * S),)),
    ]
    assert plan.destructive == ()
    assert [c.render() for c in plan.steps[0].changes] == [
        "description: 'old' → 'orders'",
        "max_age: 1w → 30d",
    ]
    assert plan.drift() == [
        Drift("stream ORDERS", "description", "orders", "old"),
        Drift("stream ORDERS", "max_age", 30 * 86400 * S, 7 * 86400 * S),
        Drift("consumer ORDERS/billing", "ack_wait", 10 * S, 30 * S),
    ]


def test_an_immutable_change_is_a_replace_and_recreates_the_consumers(manifest: Manifest) -> None:
    desired = desired_state(manifest, "core", 3)
    streams, consumers = state_of(desired)
    streams["ORDERS"]["storage"] = "memory"
    plan = compute_plan(desired, streams, consumers)
    replace, create = plan.steps
    assert (replace.action, replace.label, replace.destroys_data) == (
        "replace",
        "stream ORDERS",
        True,
    )
    assert replace.changes == (
        Change("storage", "memory", "file", "the storage type cannot change"),
    )
    assert replace.note == (
        "the storage type cannot change: replacing destroys every message in it"
    )
    assert (create.action, create.label, create.note) == (
        "create",
        "consumer ORDERS/billing",
        "its stream is replaced",
    )
    assert plan.destructive == (replace,)


@pytest.mark.parametrize(
    ("old", "new", "action"),
    [("limits", "interest", "update"), ("limits", "workqueue", "replace")],
)
def test_retention_changes_in_place_unless_workqueue(
    manifest: Manifest, old: str, new: str, action: str
) -> None:
    desired = desired_state(manifest, "analytics", 3)
    desired = DesiredState(
        "analytics",
        [Desired("stream", "CLICKS", "CLICKS", {**desired.objects[0].config, "retention": new})],
    )
    streams = {"CLICKS": served({**desired.objects[0].config, "retention": old})}
    assert [s.action for s in compute_plan(desired, streams, {}).steps] == [action]


def test_a_consumer_deliver_policy_change_is_a_replace(manifest: Manifest) -> None:
    desired = desired_state(manifest, "core", 3)
    streams, consumers = state_of(desired)
    consumers["ORDERS"]["billing"]["deliver_policy"] = "new"
    (step,) = compute_plan(desired, streams, consumers).steps
    assert (step.action, step.note) == (
        "replace",
        "the deliver policy cannot change: replacing destroys its delivery state",
    )


def test_undeclared_objects_are_reported_or_pruned(manifest: Manifest) -> None:
    desired = desired_state(manifest, "core", 3)
    streams, consumers = state_of(desired)
    streams |= {"OLD": served({"name": "OLD"}), "KV_gone": {}, "CLICKS": {}}
    consumers["ORDERS"]["stale"] = served({"name": "stale", "durable_name": "stale"})
    kept = compute_plan(desired, streams, consumers, frozenset({"CLICKS"}))
    assert kept.steps == ()
    assert [u.label for u in kept.undeclared] == ["kv gone", "stream OLD", "consumer ORDERS/stale"]

    pruned = compute_plan(desired, streams, consumers, frozenset({"CLICKS"}), prune=True)
    assert [(s.action, s.label, s.undeclared) for s in pruned.steps] == [
        ("delete", "consumer ORDERS/stale", True),
        ("delete", "kv gone", True),
        ("delete", "stream OLD", True),
    ]
    assert pruned.undeclared == ()
    assert pruned.drift() == []


def test_a_refused_plan_names_every_step_that_was_not_allowed(manifest: Manifest) -> None:
    desired = desired_state(manifest, "core", 3)
    streams, consumers = state_of(desired)
    streams["ORDERS"]["storage"] = "memory"
    streams["OLD"] = served({"name": "OLD"})
    plan = compute_plan(desired, streams, consumers, prune=True)
    with pytest.raises(PlanRefused) as refused:
        check_allowed(plan, allow_destroy=False, prune=False)
    assert str(refused.value).splitlines() == [
        "bus core: the plan was refused and nothing was changed:",
        "  delete stream OLD: not declared (allow with --prune)",
        "  delete stream OLD: not declared in the manifest (allow with --allow-destroy)",
        "  replace stream ORDERS: the storage type cannot change: replacing destroys every "
        "message in it (allow with --allow-destroy)",
    ]
    with pytest.raises(PlanRefused):
        check_allowed(plan, allow_destroy=True, prune=False)
    check_allowed(plan, allow_destroy=True, prune=True)


def test_an_update_keeps_unmanaged_fields_and_drops_server_metadata() -> None:
    actual = {
        "name": "X",
        "max_age": 1,
        "max_msgs_per_subject": 7,
        "metadata": {"_nats.ver": "2.15.1", "team": "billing"},
    }
    assert update_body({"name": "X", "max_age": 2}, actual) == {
        "name": "X",
        "max_age": 2,
        "max_msgs_per_subject": 7,
        "metadata": {"team": "billing"},
    }
    assert "metadata" not in update_body({"name": "X"}, {"metadata": {"_nats.level": "5"}})


def test_plan_json_is_plain_data(manifest: Manifest) -> None:
    desired = desired_state(manifest, "core", 3)
    streams, consumers = state_of(desired)
    streams["ORDERS"]["max_age"] = 0
    data = json.loads(json.dumps(compute_plan(desired, streams, consumers).to_json()))
    assert data["changes"] is True
    assert data["steps"] == [
        {
            "action": "update",
            "kind": "stream",
            "name": "ORDERS",
            "stream": "ORDERS",
            "consumer": None,
            "destroys_data": False,
            "undeclared": False,
            "changes": [{"field": "max_age", "old": 0, "new": 30 * 86400 * S, "refused": None}],
            "note": "",
        }
    ]


@pytest.mark.parametrize(
    ("field", "old", "new", "refused"),
    [
        ("storage", "file", "memory", True),
        ("retention", "limits", "interest", False),
        ("retention", "interest", "workqueue", True),
        ("deny_delete", False, True, False),
        ("deny_delete", True, False, True),
        ("mirror", {"name": "A"}, None, False),
        ("max_age", 1, 2, False),
    ],
)
def test_stream_table(field: str, old: object, new: object, refused: bool) -> None:
    assert (stream_refusal(field, old, new) is not None) is refused


@pytest.mark.parametrize(
    ("field", "old", "new", "refused"),
    [
        ("deliver_subject", "", "push.x", True),
        ("deliver_subject", "push.x", "push.y", False),
        ("ack_wait", 1, 2, False),
        ("max_waiting", 512, 10, True),
    ],
)
def test_consumer_table(field: str, old: object, new: object, refused: bool) -> None:
    assert (consumer_refusal(field, old, new) is not None) is refused
