"""The subjects of NATS's own APIs that a permission has to grant, operation by operation.

Each function names the subjects one client operation uses, as nats-py 2.x sends them and
nats-server 2.15 answers them (recorded with a wildcard subscriber in the same account):

- JetStream publish: the event subject, with a reply on the client's inbox (the PubAck).
- Pull consumer: `CONSUMER.INFO.<s>.<c>` to bind, `CONSUMER.MSG.NEXT.<s>.<c>` to fetch,
  `$JS.ACK.<s>.<c>.>` to ack (the ack subject is the delivered message's reply).
- Named consumer create: `CONSUMER.CREATE.<s>.<name>`, plus `.<filter>` when it filters;
  `add_consumer` with only `durable_name` uses the legacy `CONSUMER.DURABLE.CREATE.<s>.<c>`.
- KV `get`: `STREAM.INFO.KV_<b>` to open the bucket, then `STREAM.MSG.GET.KV_<b>`, or
  `DIRECT.GET.KV_<b>.$KV.<b>.<key>` when the bucket allows direct gets. Put and delete
  publish to `$KV.<b>.<key>`.
- Object store `get`: `STREAM.INFO.OBJ_<b>`, `STREAM.MSG.GET.OBJ_<b>` (the meta entry),
  `STREAM.NAMES` (to find the stream of the chunks), an ordered consumer created with
  `CONSUMER.CREATE.OBJ_<b>` (flow control on `$JS.FC.OBJ_<b>.>`). `put` publishes to
  `$O.<b>.C.<nuid>` and `$O.<b>.M.<name>` and purges old chunks with `STREAM.PURGE.OBJ_<b>`.
- NATS Services (micro, ADR-32): each instance subscribes to `$SRV.<VERB>`,
  `$SRV.<VERB>.<name>` and `$SRV.<VERB>.<name>.<id>` for PING, INFO and STATS, and its
  endpoints in the queue group `q`.
"""

from __future__ import annotations

__all__ = [
    "ACCOUNT_INSPECT",
    "API",
    "JETSTREAM_ADMIN",
    "JETSTREAM_DATA",
    "MICRO_QUEUE_GROUP",
    "SERVICE_DISCOVERY",
    "SYSTEM_REQUESTS",
    "consumer_redefinition",
    "consumer_takeover",
    "kv_read",
    "kv_stream",
    "kv_write",
    "object_read",
    "object_stream",
    "object_write",
    "ordered_read",
    "own_consumers",
    "pull",
    "queue_subscription",
    "service_responder",
    "stream_inspect",
    "stream_owner",
]

API = "$JS.API"
MICRO_QUEUE_GROUP = "q"
SERVICE_DISCOVERY = "$SRV.>"
SYSTEM_REQUESTS = "$SYS.REQ.>"
_SERVICE_VERBS = ("PING", "INFO", "STATS")

ACCOUNT_INSPECT = (f"{API}.INFO", f"{API}.STREAM.LIST", f"{API}.STREAM.NAMES")
"""Account-wide read-only JetStream information."""

JETSTREAM_ADMIN = (
    f"{API}.INFO",
    f"{API}.STREAM.LIST",
    f"{API}.STREAM.NAMES",
    f"{API}.STREAM.CREATE.*",
    f"{API}.STREAM.UPDATE.*",
    f"{API}.STREAM.DELETE.*",
    f"{API}.STREAM.INFO.*",
    f"{API}.CONSUMER.CREATE.*",
    f"{API}.CONSUMER.CREATE.*.*",
    f"{API}.CONSUMER.CREATE.*.*.>",
    f"{API}.CONSUMER.DURABLE.CREATE.*.*",
    f"{API}.CONSUMER.DELETE.*.*",
    f"{API}.CONSUMER.INFO.*.*",
    f"{API}.CONSUMER.LIST.*",
    f"{API}.CONSUMER.NAMES.*",
)
"""What a reconciler needs to define streams, consumers, KV buckets and object stores."""

JETSTREAM_DATA = (
    "$KV.>",
    "$O.>",
    f"{API}.STREAM.MSG.>",
    f"{API}.STREAM.PURGE.>",
    f"{API}.DIRECT.>",
    f"{API}.CONSUMER.MSG.>",
    "$JS.ACK.>",
)
"""Subjects that read, write or remove stored messages, as opposed to defining streams."""


def kv_stream(bucket: str) -> str:
    return f"KV_{bucket}"


def object_stream(bucket: str) -> str:
    return f"OBJ_{bucket}"


def queue_subscription(subject: str, group: str = MICRO_QUEUE_GROUP) -> str:
    """A subscribe permission that only admits members of the queue group (`subject group`)."""
    return f"{subject} {group}"


def service_responder(name: str) -> tuple[str, ...]:
    """What a NATS Service named `name` subscribes to so that `$SRV` discovery finds it."""
    return tuple(
        subject
        for verb in _SERVICE_VERBS
        for subject in (f"$SRV.{verb}", f"$SRV.{verb}.{name}", f"$SRV.{verb}.{name}.*")
    )


_OPERATIONS: dict[str, tuple[str, ...]] = {
    "pull": (
        "{api}.CONSUMER.INFO.{stream}.{consumer}",
        "{api}.CONSUMER.MSG.NEXT.{stream}.{consumer}",
        "$JS.ACK.{stream}.{consumer}.>",
    ),
    "own_consumers": (
        "{api}.CONSUMER.CREATE.{stream}.*",
        "{api}.CONSUMER.CREATE.{stream}.*.>",
        "{api}.CONSUMER.INFO.{stream}.*",
        "{api}.CONSUMER.MSG.NEXT.{stream}.*",
        "{api}.CONSUMER.DELETE.{stream}.*",
    ),
    "consumer_redefinition": (
        "{api}.CONSUMER.CREATE.{stream}.{consumer}",
        "{api}.CONSUMER.CREATE.{stream}.{consumer}.>",
        "{api}.CONSUMER.DELETE.{stream}.{consumer}",
    ),
    "consumer_takeover": (
        "{api}.CONSUMER.CREATE.{stream}.{consumer}",
        "{api}.CONSUMER.CREATE.{stream}.{consumer}.>",
        "{api}.CONSUMER.MSG.NEXT.{stream}.{consumer}",
        "{api}.CONSUMER.DELETE.{stream}.{consumer}",
    ),
    "get": (
        "{api}.STREAM.INFO.{stream}",
        "{api}.STREAM.MSG.GET.{stream}",
        "{api}.DIRECT.GET.{stream}",
        "{api}.DIRECT.GET.{stream}.>",
    ),
    "ordered_read": (
        "{api}.STREAM.NAMES",
        "{api}.CONSUMER.CREATE.{stream}",
        "{api}.CONSUMER.INFO.{stream}.*",
        "{api}.CONSUMER.DELETE.{stream}.*",
        "$JS.FC.{stream}.>",
    ),
    "stream_inspect": (
        "{api}.STREAM.INFO.{stream}",
        "{api}.CONSUMER.LIST.{stream}",
        "{api}.CONSUMER.NAMES.{stream}",
        "{api}.CONSUMER.INFO.{stream}.*",
    ),
    "stream_owner": (
        "{api}.STREAM.*.{stream}",
        "{api}.STREAM.MSG.*.{stream}",
        "{api}.DIRECT.GET.{stream}",
        "{api}.DIRECT.GET.{stream}.>",
        "{api}.CONSUMER.*.{stream}",
        "{api}.CONSUMER.*.{stream}.>",
        "{api}.CONSUMER.DURABLE.CREATE.{stream}.*",
        "{api}.CONSUMER.MSG.NEXT.{stream}.*",
        "$JS.ACK.{stream}.>",
        "$JS.FC.{stream}.>",
    ),
}
"""The subjects of each operation, as templates over the API prefix, stream and consumer."""


def _subjects(operation: str, stream: str, consumer: str = "", api: str = API) -> tuple[str, ...]:
    return tuple(
        t.format(api=api, stream=stream, consumer=consumer) for t in _OPERATIONS[operation]
    )


def pull(stream: str, consumer: str, api: str = API) -> tuple[str, ...]:
    """Bind to, fetch from and acknowledge one existing pull consumer; `api` is the JetStream
    API prefix it is reached under (another bus's, imported, for a consumer across buses)."""
    return _subjects("pull", stream, consumer, api)


def own_consumers(stream: str) -> tuple[str, ...]:
    """Create, fetch from and delete named consumers of one's own on a stream (no acks)."""
    return _subjects("own_consumers", stream)


def consumer_redefinition(stream: str, consumer: str) -> tuple[str, ...]:
    """What `own_consumers` would otherwise allow on a durable consumer the reconciler owns:
    creating (redefining) and deleting it."""
    return _subjects("consumer_redefinition", stream, consumer)


def consumer_takeover(stream: str, consumer: str) -> tuple[str, ...]:
    """What `own_consumers` would otherwise allow on somebody else's consumer."""
    return _subjects("consumer_takeover", stream, consumer)


def ordered_read(stream: str) -> tuple[str, ...]:
    """An ordered consumer: ephemeral, created and replaced by the reader, flow-controlled."""
    return _subjects("ordered_read", stream)


def kv_read(bucket: str) -> tuple[str, ...]:
    return _subjects("get", kv_stream(bucket))


def kv_write(bucket: str) -> tuple[str, ...]:
    return (*kv_read(bucket), f"$KV.{bucket}.>", f"{API}.STREAM.PURGE.{kv_stream(bucket)}")


def object_read(bucket: str) -> tuple[str, ...]:
    stream = object_stream(bucket)
    return (*_subjects("get", stream), *ordered_read(stream))


def object_write(bucket: str) -> tuple[str, ...]:
    stream = object_stream(bucket)
    return (*object_read(bucket), f"$O.{bucket}.>", f"{API}.STREAM.PURGE.{stream}")


def stream_inspect(stream: str) -> tuple[str, ...]:
    """Read-only information about a stream and its consumers; no message content."""
    return _subjects("stream_inspect", stream)


def stream_owner(stream: str) -> tuple[str, ...]:
    """Every JetStream API right on one stream: define, read, consume, purge and delete it."""
    return _subjects("stream_owner", stream)
