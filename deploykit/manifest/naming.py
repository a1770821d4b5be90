"""Names deploykit derives from the manifest, and the runtime conventions apps follow.

One place decides them, because the permission compiler, the JetStream reconciler, the apps,
`dev`, `smoke` and `bench` must all agree:

- Each bus is a NATS account of the same name; the system account is `SYS`.
- Each service connects as the user named like the service, in its bus's account, with the
  inbox prefix `_INBOX_<user>` (replies to it can only be read by it).
- Per bus, deploykit adds a `smoke-<bus>` user (read-only on production assets) and a
  `provisioning-<bus>` user (JetStream admin, used by the reconciler) and a `backup-<bus>`
  user (reads every stream of its bus, publishes restores to `deploykit.restore.>`). With
  `backup.sql`, each bus with streams marked `backup: true` also has an `archiver-<bus>` user
  that only pulls from and acks the durable consumer `ARCHIVE_CONSUMER` on those streams, and
  the archiver writes to the database `ARCHIVE_DATABASE` as the role `ARCHIVE_ROLE`. The system account
  has one user, `system`, for server and cluster checks (`$SYS.REQ.>`).
- On the core bus, deploykit adds its own smoke assets: stream `DEPLOYKIT_SMOKE` on
  `deploykit.smoke.>`, KV bucket and object store `deploykit_smoke`; only the smoke user writes them.
  The core bus's smoke user may also publish, subscribe and answer on `deploykit.bench.>` (core
  NATS, stored by no stream) and run the `deploykit-bench` service: `deploykit bench` measures
  with it. Subjects under `deploykit.>` belong to the kit.
- A `queue` consumer is one durable pull consumer, named as declared, created by the reconciler
  and shared by every instance of the service.
- A `fanout` consumer is one ephemeral pull consumer per instance, created by the instance
  itself, named `<consumer>-<instance id>` (ack none, deliver all when it warms up, inactive
  threshold `FANOUT_INACTIVE_THRESHOLD`); the reconciler leaves those alone.
- Every `rpc` and `worker` instance registers a NATS Service (micro) named like the service
  (rpc: with its endpoints; worker: no endpoints, registered only once warm-up is done), so
  `$SRV.PING.<service>` discovery is the readiness signal; a frontend serves `GET /healthz`.
- Across buses (accounts), what one bus uses of another is imported under the kit's subjects:
  the other bus's JetStream API as `deploykit.bus.<bus>.API` (`crossbus_api`), and the events a
  sourcing stream copies arrive on `deploykit.deliver.<bus>.<stream>` (`source_deliver`).
  Endpoint subjects cross under their own names.
- `deploykit bench` crosses the same pairs of buses as the manifest's paths, between the two
  buses' smoke users only: requests to `deploykit.bench.crossbus.<bus>.>` (`bench_crossbus`)
  are answered by `<bus>`'s smoke user, and a bus that consumes the core bus's events pulls the
  core smoke stream through the durable `deploykit-bench-<bus>` (`bench_consumer`); a bus that
  copies core events gets its smoke user's own copy, stream `DEPLOYKIT_BENCH_COPY`
  (`BENCH_COPY_STREAM`), made and removed by each run (the core bus has one too, the baseline).
- Apps read their settings from the environment, see `service_env`.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "ARCHIVE_CONSUMER",
    "ARCHIVE_DATABASE",
    "ARCHIVE_OWNER",
    "ARCHIVE_ROLE",
    "BENCH_COPY_STREAM",
    "BENCH_CROSSBUS",
    "BENCH_EVENTS",
    "BENCH_SERVICE",
    "BENCH_SUBJECTS",
    "FANOUT_INACTIVE_THRESHOLD",
    "RESTORE_PREFIX",
    "SMOKE_BUCKET",
    "SMOKE_OBJECT_STORE",
    "SMOKE_STREAM",
    "SMOKE_SUBJECTS",
    "SYSTEM_ACCOUNT",
    "SYSTEM_USER",
    "account",
    "archive_url",
    "archiver_user",
    "backup_user",
    "bench_consumer",
    "bench_crossbus",
    "crossbus_api",
    "deploykit_users",
    "fanout_consumer_name",
    "inbox_prefix",
    "provisioning_user",
    "restore_subjects",
    "service_env",
    "smoke_user",
    "source_deliver",
]

SYSTEM_ACCOUNT = "SYS"
SYSTEM_USER = "system"
SMOKE_STREAM = "DEPLOYKIT_SMOKE"
SMOKE_SUBJECTS = ("deploykit.smoke.>",)
SMOKE_BUCKET = "deploykit_smoke"
SMOKE_OBJECT_STORE = "deploykit_smoke"
BENCH_SUBJECTS = ("deploykit.bench.>",)  # core NATS only: no stream may capture them
BENCH_SERVICE = "deploykit-bench"
BENCH_CROSSBUS = "deploykit.bench.crossbus"
BENCH_COPY_STREAM = "DEPLOYKIT_BENCH_COPY"
BENCH_EVENTS = "deploykit.smoke.bench"  # what bench stores in the smoke stream, per run below
FANOUT_INACTIVE_THRESHOLD = 30.0  # seconds; an instance gone this long loses its consumer


RESTORE_PREFIX = "deploykit.restore"
ARCHIVE_CONSUMER = "deploykit-archiver"  # durable, on every stream the SQL copy keeps
ARCHIVE_DATABASE = "deploykit_archive"
ARCHIVE_OWNER = "deploykit_archive_owner"  # owns the table; cannot log in
ARCHIVE_ROLE = "deploykit_archiver"  # the archiver's login: INSERT and SELECT, nothing more


def account(bus: str) -> str:
    return bus


def inbox_prefix(user: str) -> str:
    return f"_INBOX_{user}"


def smoke_user(bus: str) -> str:
    return f"smoke-{bus}"


def provisioning_user(bus: str) -> str:
    return f"provisioning-{bus}"


def backup_user(bus: str) -> str:
    return f"backup-{bus}"


def archiver_user(bus: str) -> str:
    """The archiver's NATS user on `bus`; also the name of its process and NATS Service."""
    return f"archiver-{bus}"


def restore_subjects(stream: str) -> str:
    """What a restore publishes to: a restored stream stores `deploykit.restore.<stream>.<s>` as
    `<s>` (a subject transform), so it never captures the live stream's subjects."""
    return f"{RESTORE_PREFIX}.{stream}.>"


def crossbus_api(bus: str) -> str:
    """The prefix under which another bus imports `bus`'s JetStream API (never `$JS.API`, which
    is the importing bus's own)."""
    return f"deploykit.bus.{bus}.API"


def bench_crossbus(bus: str) -> str:
    """Where `deploykit bench` sends requests that `bus`'s smoke user answers, from any bus
    that calls an endpoint of `bus` (and from `bus` itself, the same-bus figure beside them)."""
    return f"{BENCH_CROSSBUS}.{bus}"


def bench_consumer(bus: str) -> str:
    """The durable consumer on the core smoke stream that `bus`'s bench pulls across."""
    return f"deploykit-bench-{bus}"


def source_deliver(bus: str, stream: str) -> str:
    """Where the events that `stream` on `bus` copies from another bus are delivered."""
    return f"deploykit.deliver.{bus}.{stream}"


def deploykit_users(buses: Iterable[str], archived: Iterable[str] = ()) -> list[str]:
    """The NATS users deploykit adds besides one per service (names are unique per server);
    `archived`: the buses that have an archiver (`Manifest.sql_archived`)."""
    users = (smoke_user, provisioning_user, backup_user)
    return [
        *(u(bus) for bus in buses for u in users),
        *(archiver_user(bus) for bus in archived),
        SYSTEM_USER,
    ]


def fanout_consumer_name(consumer: str, instance: str) -> str:
    return f"{consumer}-{instance}"


def service_env(
    service: str,
    nats_url: str,
    user: str,
    password: str,
    database_url: str | None = None,
    port: int | None = None,
    wiring: str | None = None,
) -> dict[str, str]:
    """The environment a service process gets, on every target (local, Railway, Kubernetes).
    `wiring` is `deploykit.manifest.wiring.wiring_for(...)` as JSON: what the runtime reads."""
    env = {
        "DEPLOYKIT_SERVICE": service,
        "NATS_URL": nats_url,
        "NATS_USER": user,
        "NATS_PASSWORD": password,
        "NATS_INBOX_PREFIX": inbox_prefix(user),
    }
    if wiring:
        env["DEPLOYKIT_WIRING"] = wiring
    if database_url:
        env["DATABASE_URL"] = database_url
    if port:
        env["PORT"] = str(port)
    return env


def archive_url(host: str, port: int, password: str) -> str:
    """The archive database as the archiver's login."""
    return f"postgresql://{ARCHIVE_ROLE}:{password}@{host}:{port}/{ARCHIVE_DATABASE}"
