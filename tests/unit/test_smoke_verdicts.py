"""The pure judgements of `deploykit smoke`: server answers in, exact verdicts out."""

from __future__ import annotations

import json

import pytest

from deploykit.smoke.results import Metric, Status
from deploykit.smoke.serverjson import AccountInfo, ClusterInfo, JszReply, ServiceInfo
from deploykit.smoke.verdicts import (
    Standby,
    correlates,
    human_bytes,
    judge_account,
    judge_meta,
    judge_replication,
    judge_reply,
    judge_service,
    permission_refusal,
    replica_problems,
)

NS = 1_000_000_000


def peer(name: str, current: bool = True, offline: bool = False, active: float = 0.2, lag: int = 0):
    return {
        "name": name,
        "current": current,
        "offline": offline,
        "active": int(active * NS),
        "lag": lag,
    }


def meta(leader: str | None, *peers: dict) -> ClusterInfo:
    return ClusterInfo.model_validate({"name": "acme", "leader": leader, "replicas": list(peers)})


def test_a_healthy_meta_cluster_passes_with_its_leader_and_peer_count() -> None:
    outcome = judge_meta(meta("acme-1", peer("acme-2"), peer("acme-3")), 3)
    assert outcome.status is Status.PASS
    assert outcome.message == "3 peers led by acme-1, every peer current"
    assert outcome.metrics == (
        Metric("peers", 3),
        Metric("peers_offline", 0),
        Metric("peers_lag", 0),
    )


@pytest.mark.parametrize(
    ("cluster", "expect", "message"),
    [
        (
            meta("acme-1", peer("acme-2"), peer("acme-3", current=False, offline=True)),
            3,
            "meta cluster led by acme-1: acme-3 offline",
        ),
        (
            meta("acme-1", peer("acme-2", active=12.5), peer("acme-3")),
            3,
            "meta cluster led by acme-1: acme-2 last seen 12.5s ago",
        ),
        (
            meta("acme-1", peer("acme-2", lag=500), peer("acme-3")),
            3,
            "meta cluster led by acme-1: acme-2 500 operations behind",
        ),
        (meta("acme-1", peer("acme-2")), 3, "meta cluster led by acme-1: 2 peers of 3 expected"),
        (meta(None), 3, "the JetStream meta cluster has no leader"),
        (None, 3, "the server reports no JetStream meta cluster (is JetStream clustered?)"),
    ],
)
def test_an_unhealthy_meta_cluster_fails_naming_the_peer(
    cluster: ClusterInfo | None, expect: int, message: str
) -> None:
    outcome = judge_meta(cluster, expect)
    assert outcome.status is Status.FAIL
    assert outcome.message == message


def test_a_peer_applying_its_last_few_operations_is_current() -> None:
    cluster = meta("acme-1", peer("acme-2", current=False, lag=42), peer("acme-3"))
    assert judge_meta(cluster, 3).status is Status.PASS


def test_jsz_reply_of_nats_server_parses() -> None:
    """The shape nats-server 2.15 sends for `$SYS.REQ.SERVER.PING.JSZ` (recorded, trimmed)."""
    reply = JszReply.model_validate_json(
        json.dumps(
            {
                "server": {"name": "acme-1", "cluster": "acme", "ver": "2.15.1"},
                "data": {
                    "server_id": "NC7Y",
                    "memory": 0,
                    "meta_cluster": {
                        "name": "acme",
                        "leader": "acme-1",
                        "peer": "xsNaM3b2",
                        "replicas": [
                            {"name": "acme-2", "current": True, "active": 13756014, "peer": "D"},
                            {"name": "acme-3", "current": True, "active": 13272294, "peer": "R"},
                        ],
                        "cluster_size": 3,
                    },
                },
            }
        )
    )
    assert reply.data and judge_meta(reply.data.meta_cluster, 3).status is Status.PASS


def test_replica_problems_of_streams_and_consumers() -> None:
    healthy = meta("acme-1", peer("acme-2"), peer("acme-3"))
    assert replica_problems(healthy, 3) == []
    assert replica_problems(None, 3) == []  # not clustered
    assert replica_problems(meta(None), 1) == []  # R1: nothing to replicate
    assert replica_problems(meta(None), 3) == ["no leader"]
    assert replica_problems(meta("acme-1", peer("acme-2", offline=True)), 3) == [
        "2 of 3 replicas",
        "replica acme-2 offline",
    ]
    # a replica catching up with the last few messages is healthy (nats server check jetstream)
    catching_up = meta("acme-1", peer("acme-2", current=False, lag=7), peer("acme-3"))
    assert replica_problems(catching_up, 3) == []
    assert replica_problems(meta("acme-1", peer("acme-2", lag=201), peer("acme-3")), 0) == [
        "replica acme-2 201 operations behind"
    ]
    assert replica_problems(meta("acme-1", peer("acme-2", active=6), peer("acme-3")), 3) == [
        "replica acme-2 last seen 6.0s ago"
    ]


def test_account_usage_fails_at_ninety_percent_of_a_limit() -> None:
    fine = AccountInfo.model_validate({"storage": 2048, "streams": 6, "consumers": 2})
    assert judge_account("core", fine).message == (
        "JetStream enabled on bus core: 6 streams, 2 consumers, 2.0 KiB stored"
    )
    full = AccountInfo.model_validate(
        {"storage": 95, "streams": 9, "limits": {"max_storage": 100, "max_streams": 10}}
    )
    outcome = judge_account("core", full)
    assert outcome.status is Status.FAIL
    assert outcome.message == (
        "JetStream on bus core is nearly full: storage 95/100 (95%), streams 9/10 (90%)"
    )


def info(instance: str, **endpoints: str) -> ServiceInfo:
    return ServiceInfo.model_validate(
        {
            "name": "accounts",
            "id": instance,
            "endpoints": [
                {"name": n, "subject": s, "queue_group": "q"} for n, s in endpoints.items()
            ],
        }
    )


DECLARED = {"create": "accounts.rpc.create", "get": "accounts.rpc.get"}


def test_an_rpc_service_with_its_instances_and_endpoints_passes() -> None:
    instances = [info("a", **DECLARED), info("b", **DECLARED)]
    outcome = judge_service("accounts", "rpc", 2, DECLARED, instances, 2)
    assert outcome.status is Status.PASS
    assert outcome.message == (
        "2 instance(s) discovered (at least 2 declared), endpoints create, get, all answer PING"
    )
    assert outcome.metrics == (Metric("instances", 2),)


@pytest.mark.parametrize(
    ("instances", "pinged", "message"),
    [
        ([], 0, "rpc service accounts: 0 of 1 instance(s) in NATS Service discovery"),
        (
            [info("a", create="accounts.rpc.create")],
            1,
            "rpc service accounts: instance a has no endpoint get (accounts.rpc.get)",
        ),
        (
            [info("a", create="accounts.create", get="accounts.rpc.get")],
            1,
            "rpc service accounts: instance a: endpoint create answers on accounts.create, "
            "declared accounts.rpc.create",
        ),
        ([info("a", **DECLARED)], 0, "rpc service accounts: only 0 of 1 instance(s) answered PING"),
    ],
)
def test_an_rpc_service_fails_naming_what_is_missing(
    instances: list[ServiceInfo], pinged: int, message: str
) -> None:
    outcome = judge_service("accounts", "rpc", 1, DECLARED, instances, pinged)
    assert outcome.status is Status.FAIL
    assert outcome.message == message


def test_a_worker_needs_only_its_instances() -> None:
    outcome = judge_service("welcome", "worker", 1, {}, [info("w")], 1)
    assert outcome.message == "1 instance(s) discovered (at least 1 declared), all answer PING"


def test_reply_keys_and_values() -> None:
    expect = {"id": None, "email": "a@example.com"}
    reply, problems = judge_reply(b'{"id": 1, "email": "a@example.com"}', None, expect)
    assert reply == {"id": 1, "email": "a@example.com"} and problems == []
    assert judge_reply(b'{"email": "b@example.com"}', {}, expect)[1] == [
        "the reply has no key 'id'",
        "reply 'email' is 'b@example.com', expected 'a@example.com'",
    ]
    assert judge_reply(b"[1]", {}, expect) == (None, ["the reply is not a JSON object: b'[1]'"])
    assert judge_reply(b"nope", {}, expect) == (None, ["the reply is not JSON: b'nope'"])
    error = {"Nats-Service-Error": "database unavailable", "Nats-Service-Error-Code": "503"}
    assert judge_reply(b"", error, expect) == (
        None,
        ["the service answered error 503: database unavailable"],
    )


def test_an_event_correlates_with_the_reply_by_shared_keys_then_by_message_id() -> None:
    reply = {"id": "42", "email": "a@example.com"}
    keys = ["id", "email"]
    assert correlates(reply, keys, b'{"id": "42", "email": "a@example.com", "x": 1}', None)
    assert not correlates(reply, keys, b'{"id": "41", "email": "z@example.com"}', None)
    assert correlates(reply, keys, b"opaque", {"Nats-Msg-Id": "42"})
    assert not correlates(reply, keys, b"opaque", {"Nats-Msg-Id": "other"})
    assert correlates(reply, keys, b"opaque", None)  # nothing to compare: any event


def test_permission_refusal_is_found_for_the_exact_subject() -> None:
    errors = [
        'Error: nats: permissions violation for publish to "accounts.events.created"',
        'Error: nats: permissions violation for subscription to "x.y"',
    ]
    assert permission_refusal(errors, "accounts.events.created") == (
        "permissions violation for publish to 'accounts.events.created'"
    )
    assert permission_refusal(errors, "x.y") == "permissions violation for subscription to 'x.y'"
    assert permission_refusal(errors, "accounts.events") is None
    # nats-py lowercases the server's error: a subject with capitals is still found
    lowered = ['nats: permissions violation for publish to "$js.api.consumer.info.s.c"']
    assert permission_refusal(lowered, "$JS.API.CONSUMER.INFO.S.C") is not None


def test_replication_streaming_with_lag_passes_and_a_missing_standby_fails() -> None:
    streaming = [Standby("replica1", "streaming", 0.25, 128)]
    outcome = judge_replication(streaming, [("replica 1", True)])
    assert outcome.status is Status.PASS
    assert outcome.message == "1 standby(s) streaming: replica1 lag 0.250s (128 bytes)"
    assert outcome.metrics == (Metric("replay_lag_seconds", 0.25, "s"), Metric("lag_bytes", 128))

    catching_up = [Standby("replica1", "catchup", None, None)]
    outcome = judge_replication(catching_up, [("replica 1", True), ("replica 2", False)])
    assert outcome.status is Status.FAIL
    assert outcome.message == (
        "replica 2 is not a standby (not in recovery); "
        "0 of 2 standby(s) streaming (primary reports replica1: catchup)"
    )


def test_human_bytes() -> None:
    assert [human_bytes(n) for n in (0, 1023, 1024, 5 * 1024**2, 3 * 1024**4)] == [
        "0 B",
        "1023 B",
        "1.0 KiB",
        "5.0 MiB",
        "3072.0 GiB",
    ]
