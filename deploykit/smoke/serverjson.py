"""The servers' JSON that smoke reads, as pydantic models: only the fields it judges.

Unknown fields are ignored (servers add fields in new versions); a missing field takes the
value the server means when it omits one. Durations are nanoseconds, as the server sends them.
Sources: nats-server 2.15 `server/monitor.go` (JSInfo, MetaClusterInfo), `jetstream_api.go`
(stream/consumer info, account info) and ADR-32 (micro ping/info responses).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AccountInfo",
    "ApiErrorBody",
    "ClusterInfo",
    "ConsumerInfo",
    "JetStreamInfo",
    "JszReply",
    "PeerInfo",
    "ServiceEndpoint",
    "ServiceInfo",
    "StreamInfo",
]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ApiErrorBody(_Lenient):
    code: int = 0
    err_code: int = 0
    description: str = ""


class PeerInfo(_Lenient):
    """A raft peer as the group's leader sees it; `active` is ns since it was last heard from."""

    name: str
    offline: bool = False
    active: int = 0
    lag: int = 0


class ClusterInfo(_Lenient):
    """The raft group of the meta layer, a stream or a consumer (replicas exclude the leader)."""

    name: str | None = None
    leader: str | None = None
    replicas: list[PeerInfo] = Field(default_factory=list)
    cluster_size: int | None = None


class JetStreamInfo(_Lenient):
    """`/jsz` on a monitor port, or the `data` of a `$SYS.REQ.SERVER.PING.JSZ` reply."""

    server_id: str = ""
    meta_cluster: ClusterInfo | None = None


class _ServerName(_Lenient):
    name: str = ""


class JszReply(_Lenient):
    server: _ServerName = Field(default_factory=_ServerName)
    data: JetStreamInfo | None = None
    error: ApiErrorBody | None = None


class _StreamState(_Lenient):
    messages: int = 0
    bytes: int = 0
    consumer_count: int = 0


class StreamInfo(_Lenient):
    config: dict[str, Any]
    state: _StreamState = Field(default_factory=_StreamState)
    cluster: ClusterInfo | None = None


class ConsumerInfo(_Lenient):
    config: dict[str, Any]
    num_pending: int = 0
    num_ack_pending: int = 0
    num_waiting: int = 0
    cluster: ClusterInfo | None = None


class _AccountLimits(_Lenient):
    max_memory: int = -1
    max_storage: int = -1
    max_streams: int = -1
    max_consumers: int = -1


class AccountInfo(_Lenient):
    memory: int = 0
    storage: int = 0
    streams: int = 0
    consumers: int = 0
    limits: _AccountLimits = Field(default_factory=_AccountLimits)


class ServiceEndpoint(_Lenient):
    name: str
    subject: str
    queue_group: str | None = None


class ServiceInfo(_Lenient):
    """An `io.nats.micro.v1.info_response` (PING replies have the same identity fields)."""

    name: str
    id: str
    version: str = ""
    endpoints: list[ServiceEndpoint] = Field(default_factory=list)
