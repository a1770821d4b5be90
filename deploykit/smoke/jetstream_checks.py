"""Every declared stream, consumer, KV bucket and object store: exists, matches, is replicated.

One info request per object, as the bus's smoke user (who may read every declared object's
info and nothing else). The comparison is the reconciler's own: the object's declared config
and the server's go through `compute_plan`, and the plan's drift is the verdict, so smoke and
`deploykit nats plan` can never disagree about what "matches the declaration" means.
"""

from __future__ import annotations

from deploykit.jetstream.api import CONSUMER_NOT_FOUND, STREAM_NOT_FOUND, ApiError
from deploykit.jetstream.desired import Desired, DesiredState
from deploykit.jetstream.plan import compute_plan
from deploykit.manifest import naming
from deploykit.smoke.calls import js_request
from deploykit.smoke.context import Context
from deploykit.smoke.results import Metric, Outcome, failed, passed
from deploykit.smoke.serverjson import ClusterInfo, ConsumerInfo, StreamInfo
from deploykit.smoke.verdicts import replica_problems

__all__ = ["declared"]


async def declared(ctx: Context, bus: str, obj: Desired) -> Outcome:
    session = await ctx.nats(naming.smoke_user(bus))
    if obj.consumer is None:
        subject = f"STREAM.INFO.{obj.stream}"
    else:
        subject = f"CONSUMER.INFO.{obj.stream}.{obj.consumer}"
    try:
        data = await js_request(ctx, session, subject)
    except ApiError as exc:
        if exc.err_code in (STREAM_NOT_FOUND, CONSUMER_NOT_FOUND):
            return failed(f"{obj.label} is missing: declared on bus {bus}, not on the server")
        raise
    info = (StreamInfo if obj.consumer is None else ConsumerInfo).model_validate(data)
    if obj.consumer is None:
        plan = compute_plan(DesiredState(bus, [obj]), {obj.stream: info.config}, {})
    else:
        plan = compute_plan(DesiredState(bus, [obj]), {}, {obj.stream: {obj.consumer: info.config}})
    drift = [d.render() for d in plan.drift()]
    replicas = int(obj.config.get("num_replicas", 0))
    problems = replica_problems(info.cluster, replicas)
    metrics = _metrics(info)
    if drift or problems:
        what = []
        if drift:
            what.append(f"differs from the declaration: {'; '.join(drift)}")
        if problems:
            what.append(f"replicas: {'; '.join(problems)}")
        return failed(f"{obj.label} {' and '.join(what)}", tuple(drift + problems), *metrics)
    return passed(
        f"matches ({len(obj.config)} fields){_placement(info.cluster, replicas)}{_state(info)}",
        (),
        *metrics,
    )


def _placement(cluster: ClusterInfo | None, replicas: int) -> str:
    if cluster is None or not cluster.leader:
        return ""
    if not cluster.replicas:
        return f"; on {cluster.leader}"
    shown = f"R{replicas}" if replicas else f"R{len(cluster.replicas) + 1}"
    return f"; {shown}, leader {cluster.leader}, replicas current"


def _state(info: StreamInfo | ConsumerInfo) -> str:
    if isinstance(info, StreamInfo):
        return f"; {info.state.messages} messages"
    return f"; {info.num_pending} pending, {info.num_ack_pending} awaiting ack"


def _metrics(info: StreamInfo | ConsumerInfo) -> tuple[Metric, ...]:
    if isinstance(info, StreamInfo):
        return (Metric("messages", info.state.messages), Metric("bytes", info.state.bytes))
    return (Metric("pending", info.num_pending), Metric("ack_pending", info.num_ack_pending))
