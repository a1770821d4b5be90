"""Pure judgements: what the servers answered → pass or fail, with a message naming the cause.

The checks fetch; these functions decide. A raft peer (of the meta cluster, a stream or a
consumer) is current when it is online, was heard from within `SEEN_CRITICAL` seconds and is
at most `LAG_CRITICAL` operations behind its leader: the thresholds of
`nats server check jetstream`. The server's own `current` flag is not used: it flickers off
while the peer applies the last few operations, such as the consumer a concurrent round trip
creates, and a smoke check must not fail on that. Account usage fails at `USAGE_CRITICAL` of
a limit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from deploykit.manifest.contracts import payload_errors
from deploykit.smoke.results import Metric, Outcome, failed, passed
from deploykit.smoke.serverjson import AccountInfo, ClusterInfo, PeerInfo, ServiceInfo

__all__ = [
    "LAG_CRITICAL",
    "SEEN_CRITICAL",
    "USAGE_CRITICAL",
    "Standby",
    "breaches",
    "correlates",
    "human_bytes",
    "judge_account",
    "judge_meta",
    "judge_replication",
    "judge_reply",
    "judge_service",
    "millis",
    "permission_refusal",
    "replica_problems",
]

SEEN_CRITICAL = 5.0  # seconds since a raft peer was last heard from
LAG_CRITICAL = 200  # operations a raft peer may be behind its leader
USAGE_CRITICAL = 0.9  # share of an account limit
_NS = 1e9
_VIOLATION = re.compile(r'permissions violation for (publish|subscription) to "([^"]+)"', re.I)


def millis(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _peer_problems(peers: Iterable[PeerInfo]) -> list[str]:
    problems = []
    for peer in peers:
        if peer.offline:
            problems.append(f"{peer.name} offline")
        elif peer.active / _NS > SEEN_CRITICAL:
            problems.append(f"{peer.name} last seen {peer.active / _NS:.1f}s ago")
        elif peer.lag > LAG_CRITICAL:
            problems.append(f"{peer.name} {peer.lag} operations behind")
    return problems


def judge_meta(meta: ClusterInfo | None, expect: int) -> Outcome:
    """The JetStream meta cluster as its leader sees it (what `nats server check meta` checks)."""
    if meta is None:
        return failed("the server reports no JetStream meta cluster (is JetStream clustered?)")
    if not meta.leader:
        return failed("the JetStream meta cluster has no leader")
    peers = len(meta.replicas) + 1
    problems = [] if peers == expect else [f"{peers} peers of {expect} expected"]
    problems += _peer_problems(meta.replicas)
    metrics = (
        Metric("peers", peers),
        Metric("peers_offline", sum(p.offline for p in meta.replicas)),
        Metric("peers_lag", max((p.lag for p in meta.replicas), default=0)),
    )
    if problems:
        return failed(f"meta cluster led by {meta.leader}: {'; '.join(problems)}", (), *metrics)
    return passed(f"{peers} peers led by {meta.leader}, every peer current", (), *metrics)


def replica_problems(cluster: ClusterInfo | None, replicas: int) -> list[str]:
    """What is wrong with a stream's or consumer's raft group of `replicas` (0: not counted)."""
    if cluster is None or replicas == 1:
        return []
    if not cluster.leader:
        return ["no leader"]
    known = len(cluster.replicas) + 1
    problems = [f"{known} of {replicas} replicas"] if replicas and known < replicas else []
    return problems + [f"replica {p}" for p in _peer_problems(cluster.replicas)]


def judge_account(bus: str, info: AccountInfo) -> Outcome:
    """JetStream is enabled for the bus's account and no limit is nearly used up."""
    usage = [
        ("storage", info.storage, info.limits.max_storage),
        ("memory", info.memory, info.limits.max_memory),
        ("streams", info.streams, info.limits.max_streams),
        ("consumers", info.consumers, info.limits.max_consumers),
    ]
    full = [
        f"{what} {used}/{limit} ({used / limit:.0%})"
        for what, used, limit in usage
        if limit > 0 and used / limit >= USAGE_CRITICAL
    ]
    metrics = (
        Metric("storage_bytes", info.storage),
        Metric("streams", info.streams),
        Metric("consumers", info.consumers),
    )
    if full:
        return failed(f"JetStream on bus {bus} is nearly full: {', '.join(full)}", (), *metrics)
    return passed(
        f"JetStream enabled on bus {bus}: {info.streams} streams, {info.consumers} consumers, "
        f"{human_bytes(info.storage)} stored",
        (),
        *metrics,
    )


def judge_service(
    name: str,
    role: str,
    expected: int,
    endpoints: Mapping[str, str],
    infos: Sequence[ServiceInfo],
    pinged: int,
) -> Outcome:
    """Discovery found at least `expected` instances, each with the declared endpoints (rpc)."""
    ids = {i.id for i in infos}
    problems = []
    if len(ids) < expected:
        problems.append(f"{len(ids)} of {expected} instance(s) in NATS Service discovery")
    if role == "rpc":
        for info in infos:
            answered = {e.name: e.subject for e in info.endpoints}
            for endpoint, subject in endpoints.items():
                if endpoint not in answered:
                    problems.append(f"instance {info.id} has no endpoint {endpoint} ({subject})")
                elif answered[endpoint] != subject:
                    problems.append(
                        f"instance {info.id}: endpoint {endpoint} answers on "
                        f"{answered[endpoint]}, declared {subject}"
                    )
    if ids and pinged < len(ids):
        problems.append(f"only {pinged} of {len(ids)} instance(s) answered PING")
    metrics = (Metric("instances", len(ids)),)
    if problems:
        return failed(f"{role} service {name}: {'; '.join(dict.fromkeys(problems))}", (), *metrics)
    declared = f", endpoints {', '.join(endpoints)}" if role == "rpc" and endpoints else ""
    return passed(
        f"{len(ids)} instance(s) discovered (at least {expected} declared){declared}, "
        f"all answer PING",
        (),
        *metrics,
    )


def breaches(payload: Any, schema: dict[str, Any], contract: str) -> list[str]:
    """What in a payload breaks its contract, one problem per violation."""
    return [f"breaks the {contract}: {error}" for error in payload_errors(schema, payload)]


def judge_reply(
    data: bytes, headers: Mapping[str, str] | None, expect: Mapping[str, Any]
) -> tuple[dict[str, Any] | None, list[str]]:
    """The reply as JSON and what is wrong with it: a service error, a missing or wrong key.

    An expected value of None means "any value"; any other value must be equal.
    """
    headers = headers or {}
    if "Nats-Service-Error" in headers:
        code = headers.get("Nats-Service-Error-Code", "?")
        return None, [f"the service answered error {code}: {headers['Nats-Service-Error']}"]
    try:
        reply = json.loads(data)
    except ValueError:
        return None, [f"the reply is not JSON: {data[:80]!r}"]
    if not isinstance(reply, dict):
        return None, [f"the reply is not a JSON object: {data[:80]!r}"]
    problems = []
    for key, value in expect.items():
        if key not in reply:
            problems.append(f"the reply has no key {key!r}")
        elif value is not None and reply[key] != value:
            problems.append(f"reply {key!r} is {reply[key]!r}, expected {value!r}")
    return reply, problems


def correlates(
    reply: Mapping[str, Any],
    keys: Iterable[str],
    data: bytes,
    headers: Mapping[str, str] | None,
) -> bool:
    """Whether an event was caused by the probe's request, judged against its reply.

    An event whose JSON shares expected reply keys must agree on them; otherwise one whose
    `Nats-Msg-Id` is a value of the reply matches; with nothing to compare, any event does.
    """
    try:
        event = json.loads(data)
    except ValueError:
        event = None
    shared = [k for k in keys if k in reply and isinstance(event, dict) and k in event]
    if shared and isinstance(event, dict):
        return all(event[k] == reply[k] for k in shared)
    msg_id = (headers or {}).get("Nats-Msg-Id")
    values = {str(v) for v in reply.values() if isinstance(v, str | int)}
    if msg_id is not None and values:
        return msg_id in values
    return True


def permission_refusal(errors: Iterable[str], subject: str) -> str | None:
    """The server's permissions violation for `subject` among a connection's errors, if any.
    nats-py lowercases the server's error text, so subjects compare without case."""
    for error in errors:
        match = _VIOLATION.search(error)
        if match and match.group(2).lower() == subject.lower():
            return f"permissions violation for {match.group(1)} to {subject!r}"
    return None


@dataclass(frozen=True)
class Standby:
    """One row of `pg_stat_replication` on the primary."""

    name: str
    state: str
    replay_lag: float | None
    lag_bytes: int | None


def judge_replication(standbys: Sequence[Standby], replicas: Sequence[tuple[str, bool]]) -> Outcome:
    """Every replica URL is in recovery and the primary streams to at least as many standbys.

    `replicas` is (label, in recovery) per replica URL of the outputs.
    """
    problems = [f"{label} is not a standby (not in recovery)" for label, rec in replicas if not rec]
    streaming = [s for s in standbys if s.state == "streaming"]
    if len(streaming) < len(replicas):
        states = ", ".join(f"{s.name or '?'}: {s.state}" for s in standbys) or "none"
        problems.append(
            f"{len(streaming)} of {len(replicas)} standby(s) streaming (primary reports {states})"
        )
    lag = max((s.replay_lag or 0.0 for s in streaming), default=0.0)
    lag_bytes = max((s.lag_bytes or 0 for s in streaming), default=0)
    metrics = (Metric("replay_lag_seconds", lag, "s"), Metric("lag_bytes", lag_bytes))
    if problems:
        return failed("; ".join(problems), (), *metrics)
    shown = ", ".join(
        f"{s.name or '?'} lag {s.replay_lag or 0.0:.3f}s ({s.lag_bytes or 0} bytes)"
        for s in streaming
    )
    return passed(f"{len(streaming)} standby(s) streaming: {shown}", (), *metrics)
