"""What a bench run measures and where: the modes, their options, the names it writes.

Everything a run writes is named after its run id, inside the smoke user's own space:
JetStream messages on `deploykit.smoke.bench.<run>.*` (the DEPLOYKIT_SMOKE stream), KV keys
`bench.<run>.*` (the deploykit_smoke bucket), a table `deploykit_bench_<run>` that the run
creates and drops. Core NATS traffic (pub/sub, request/reply) goes to `deploykit.bench.<run>.*`,
a subject no stream may capture: on `deploykit.smoke.>` every core message would be stored.
The cross-bus modes use the subjects and consumers the permission compiler gives bench between
two buses' smoke users (`naming.bench_crossbus`, `naming.bench_consumer`).
"""

from __future__ import annotations

import os
import secrets
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from deploykit.manifest import naming

__all__ = [
    "CORE_PREFIX",
    "SERVICE_NAME",
    "BenchSettings",
    "Mode",
    "Names",
    "Target",
]

CORE_PREFIX = "deploykit.bench"
SERVICE_NAME = "deploykit-bench"


class Mode(StrEnum):
    PUBSUB = "pubsub"
    FANOUT = "fanout"
    SERVICE = "service"
    JS_PUB_SYNC = "js-pub-sync"
    JS_PUB_ASYNC = "js-pub-async"
    JS_PULL = "js-pull"
    JS_ORDERED = "js-ordered"
    KV_PUT = "kv-put"
    KV_GET = "kv-get"
    DB_INSERT = "db-insert"
    DB_SELECT = "db-select"
    SERVICE_CROSSBUS = "service-crossbus"
    JS_PULL_CROSSBUS = "js-pull-crossbus"
    JS_COPY_CROSSBUS = "js-copy-crossbus"

    @property
    def needs_database(self) -> bool:
        return self in (Mode.DB_INSERT, Mode.DB_SELECT)

    @property
    def crosses_buses(self) -> bool:
        return self in (Mode.SERVICE_CROSSBUS, Mode.JS_PULL_CROSSBUS, Mode.JS_COPY_CROSSBUS)


class BenchSettings(BaseModel):
    """Options of one run. A phase ends when its messages are done or its duration is up,
    whichever comes first, so every run ends by itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    modes: tuple[Mode, ...] = tuple(Mode)
    clients: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=256)
    msgs: int = Field(100_000, ge=1)
    duration: float = Field(5.0, gt=0, le=3600)
    size: int = Field(128, ge=0, le=8 * 1024**2)
    subscribers: int | None = Field(None, ge=1, le=256)
    responders: int | None = Field(None, ge=1, le=256)
    requesters: int = Field(16, ge=1, le=10_000)
    window: int = Field(500, ge=1, le=100_000)
    batch: int = Field(500, ge=1, le=10_000)
    keys: int = Field(1000, ge=1, le=1_000_000)
    run: str = Field(default_factory=lambda: secrets.token_hex(4), pattern=r"^[a-z0-9]{1,16}$")

    @property
    def fanout_subscribers(self) -> int:
        return self.subscribers or self.clients

    @property
    def service_responders(self) -> int:
        return self.responders or self.clients


class Names:
    """Every subject, key, consumer and table a run touches, derived from its run id."""

    def __init__(self, run: str) -> None:
        self.run = run
        self.stream = naming.SMOKE_STREAM
        self.bucket = naming.SMOKE_BUCKET
        self.core_all = f"{CORE_PREFIX}.{run}.>"
        self.service = f"{CORE_PREFIX}.{run}.svc"
        self.js_all = f"{naming.BENCH_EVENTS}.{run}.>"
        self.js_publish = f"{naming.BENCH_EVENTS}.{run}.pub"
        self.js_consume = f"{naming.BENCH_EVENTS}.{run}.consume"
        self.consumer = f"bench-{run}"
        self.kv_all = f"$KV.{naming.SMOKE_BUCKET}.bench.{run}.>"
        self.table = f"deploykit_bench_{run}"

    def core(self, pair: int) -> str:
        return f"{CORE_PREFIX}.{self.run}.core.{pair}"

    def fanout(self) -> str:
        return f"{CORE_PREFIX}.{self.run}.fanout"

    def probe(self) -> str:
        return f"{CORE_PREFIX}.{self.run}.probe"

    def crossbus_service(self, bus: str) -> str:
        """The requests `bus`'s smoke user answers, from its own bus and from the others."""
        return f"{naming.bench_crossbus(bus)}.{self.run}.svc"

    @property
    def same_bus_consumer(self) -> str:
        """The pull consumer beside the one read across buses, read on the core bus itself."""
        return f"bench-{self.run}-same"

    def kv_put(self, client: int) -> str:
        """The key prefix of client `client`'s puts (its keys are `<prefix>.<n>`)."""
        return f"bench.{self.run}.put.{client}"

    @property
    def kv_get(self) -> str:
        """The key prefix of the keys seeded for kv-get and the direct gets."""
        return f"bench.{self.run}.get"

    def direct_get(self, key: str) -> str:
        """The request a KV get sends to a bucket that allows direct gets (any replica answers)."""
        return f"$JS.API.DIRECT.GET.KV_{self.bucket}.$KV.{self.bucket}.{key}"


class Target(BaseModel):
    """How a worker process reaches the target: the smoke user's NATS login and a database
    URL. Secrets are SecretStr so that no log line or repr can show them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    urls: tuple[str, ...] = Field(min_length=1)
    user_name: str
    user: str | None = None
    password: SecretStr | None = None
    creds_file: str | None = None
    inbox_prefix: str = "_INBOX"
    database_url: SecretStr | None = None
    database: str | None = None

    def nats_options(self, index: int) -> dict[str, Any]:  # keywords of nats.connect
        """`nats.connect` keywords for client `index`: client i starts at server i mod n, so
        pub/sub pair i shares a server and the clients of a phase spread over the cluster."""
        shift = index % len(self.urls)
        options: dict[str, object] = {
            "servers": [*self.urls[shift:], *self.urls[:shift]],
            "dont_randomize": True,
            "inbox_prefix": self.inbox_prefix.encode(),
            "connect_timeout": 5,
            "reconnect_time_wait": 0.5,
            "max_reconnect_attempts": 2,  # a bench fails fast rather than waits for a server
        }
        if self.user is not None:
            options |= {
                "user": self.user,
                "password": self.password.get_secret_value() if self.password else "",
            }
        if self.creds_file is not None:
            options["user_credentials"] = self.creds_file
        return options
