"""What the runner asks of a worker process and what the worker answers, over a pipe.

    runner → worker   Job, then "go"; ("expect", n) to a subscriber; "stop" to a responder;
                      None to end the process
    worker → runner   ("ready", index) once connected and subscribed; ("progress", index, n)
                      a few times a second; ("done", index, Tally)

A worker is ready before any clock starts, and every worker of a phase starts on the same
"go", so the phase's span covers the load and not the connecting.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from deploykit.bench.stats import Timed

__all__ = ["Job", "Role", "Tally"]


class Role(StrEnum):
    PUBLISH = "publish"
    SUBSCRIBE = "subscribe"
    RESPOND = "respond"
    REQUEST = "request"
    JS_PUBLISH = "js-publish"
    JS_PUBLISH_ASYNC = "js-publish-async"
    JS_PULL = "js-pull"
    JS_ORDERED = "js-ordered"
    KV_PUT = "kv-put"
    KV_GET = "kv-get"
    DB_INSERT = "db-insert"
    DB_SELECT = "db-select"


class Job(BaseModel):
    """One client's part of a phase. `count` is its most operations, `duration` its most
    seconds; `subject` is a subject, key prefix or table depending on the role."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Role
    index: int
    count: int
    duration: float
    size: int = 0
    subject: str = ""
    stream: str = ""
    consumer: str = ""
    api: str = ""  # the JetStream API prefix, when not the account's own `$JS.API`
    bucket: str = ""
    concurrency: int = 1
    keys: int = 0


class Tally(BaseModel):
    """What one client did: operations completed, errors (with the first message), the
    latency of each operation in seconds, packed (see stats.pack), and whether its duration
    ran out before its count (`cut`)."""

    model_config = ConfigDict(extra="forbid")

    role: Role
    index: int
    count: int = 0
    errors: int = 0
    error: str = ""
    start: float = 0.0
    end: float = 0.0
    latencies: bytes = b""
    cut: bool = False

    def timed(self) -> Timed:
        return Timed(count=self.count, start=self.start, end=self.end)
