"""Compile the manifest into NATS authorization: accounts, users and their permissions.

One account per bus (JetStream enabled) and the system account, each bus with the exports and
imports its cross-bus paths need (`exports.py`); per bus one user per service
and deploykit's own `smoke-<bus>`, `provisioning-<bus>` and `backup-<bus>` users, and an
`archiver-<bus>` user where the SQL copy (`backup.sql`) has streams (see `naming.py`). What a
service may do comes from `laws.granted`, so a capability the lint refuses is never granted.
Every user reads replies on its own inbox prefix only; a shared `_INBOX.>` would let any user
read every reply.

The result holds no secret: `authconf.py` renders it with passwords for nats-server, or as a
neutral document for hosted NATS.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from deploykit.laws import natsapi
from deploykit.laws.exports import Links, bench_links, compile_links
from deploykit.laws.rules import Capability, callable_endpoints, granted, refused_paths
from deploykit.manifest import naming
from deploykit.manifest.crossbus import PathKind
from deploykit.manifest.model import Access, ConsumeMode, Manifest, Role

__all__ = [
    "Account",
    "Authorization",
    "Permissions",
    "User",
    "UserRole",
    "compile_authorization",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UserRole(StrEnum):
    FRONTEND = "frontend"
    RPC = "rpc"
    WORKER = "worker"
    SMOKE = "smoke"
    PROVISIONING = "provisioning"
    BACKUP = "backup"
    ARCHIVER = "archiver"
    SYSTEM = "system"


class Permissions(_Frozen):
    """Allow and deny lists; an empty allow list allows nothing (the renderers make it so)."""

    publish_allow: tuple[str, ...] = ()
    publish_deny: tuple[str, ...] = ()
    subscribe_allow: tuple[str, ...] = ()
    subscribe_deny: tuple[str, ...] = ()
    allow_responses: bool = False


class User(_Frozen):
    name: str
    role: UserRole
    service: str | None = None
    inbox_prefix: str
    permissions: Permissions


class Account(_Frozen):
    name: str
    jetstream: bool
    users: tuple[User, ...]
    links: Links = Links()


class Authorization(_Frozen):
    system: str
    system_account: str
    accounts: tuple[Account, ...]

    @property
    def users(self) -> dict[str, User]:
        return {user.name: user for account in self.accounts for user in account.users}

    def account_of(self, user: str) -> str:
        return next(a.name for a in self.accounts for u in a.users if u.name == user)


def compile_authorization(manifest: Manifest) -> Authorization:
    links = compile_links(manifest)
    archived = manifest.sql_archived()
    accounts = [
        Account(
            name=naming.account(bus),
            jetstream=True,
            links=links[bus],
            users=(
                *(_service_user(manifest, n) for n, s in manifest.services.items() if s.bus == bus),
                _smoke_user(manifest, bus),
                _provisioning_user(manifest, bus),
                _backup_user(bus),
                *((_archiver_user(bus, archived[bus]),) if bus in archived else ()),
            ),
        )
        for bus in manifest.buses
    ]
    system = Account(name=naming.SYSTEM_ACCOUNT, jetstream=False, users=(_system_user(),))
    return Authorization(
        system=manifest.system,
        system_account=naming.SYSTEM_ACCOUNT,
        accounts=(*accounts, system),
    )


def _inbox(user: str) -> str:
    return f"{naming.inbox_prefix(user)}.>"


def _user(name: str, role: UserRole, permissions: Permissions, service: str | None = None) -> User:
    return User(
        name=name,
        role=role,
        service=service,
        inbox_prefix=naming.inbox_prefix(name),
        permissions=permissions,
    )


def _state(manifest: Manifest, name: str) -> list[str]:
    """KV and object-store subjects: written only when the service may write state."""
    service = manifest.services[name]
    writes = Capability.WRITE in granted(manifest, name)
    subjects: list[str] = []
    for bucket, access in service.kv.items():
        write = writes and access is Access.WRITE
        subjects += natsapi.kv_write(bucket) if write else natsapi.kv_read(bucket)
    for store, access in service.object_stores.items():
        write = writes and access is Access.WRITE
        subjects += natsapi.object_write(store) if write else natsapi.object_read(store)
    return subjects


def _consumers(manifest: Manifest, name: str) -> tuple[list[str], list[str]]:
    """Pull rights on its queue consumers, own-consumer rights on its fanout streams, and
    denials that keep a fanout instance off every other declared consumer of those streams
    (and from redefining or deleting its own queue consumers there: the reconciler's)."""
    service = manifest.services[name]
    allow: list[str] = []
    deny: list[str] = []
    fanout_streams: list[str] = []
    refused = refused_paths(manifest)
    for index, consume in enumerate(service.consumes):
        if f"services.{name}.consumes[{index}]" in refused:
            continue
        if consume.mode is ConsumeMode.QUEUE:
            bus = manifest.streams[consume.stream].bus
            api = natsapi.API if bus == service.bus else naming.crossbus_api(bus)
            allow += natsapi.pull(consume.stream, consume.consumer, api)
            if consume.dead_letter:
                allow.append(consume.dead_letter)
        elif consume.stream not in fanout_streams:
            fanout_streams.append(consume.stream)
            allow += natsapi.own_consumers(consume.stream)
    for stream in fanout_streams:
        for other_name, other in manifest.services.items():
            for consume in other.consumes:
                if consume.stream != stream or consume.mode is not ConsumeMode.QUEUE:
                    continue
                if other_name == name:
                    deny += natsapi.consumer_redefinition(stream, consume.consumer)
                else:
                    deny += natsapi.consumer_takeover(stream, consume.consumer)
    return allow, deny


def _service_user(manifest: Manifest, name: str) -> User:
    service = manifest.services[name]
    can = granted(manifest, name)
    publish = [manifest.endpoint_subjects()[call] for call in callable_endpoints(manifest, name)]
    subscribe: list[str] = []
    deny: list[str] = []
    if Capability.ANSWER in can:
        subscribe += [
            natsapi.queue_subscription(service.endpoint_subject(name, endpoint))
            for endpoint in service.endpoints
        ]
    if Capability.CONSUME in can:
        allow, deny = _consumers(manifest, name)
        publish += allow
    if Capability.EMIT in can:
        publish += service.emits
    publish += _state(manifest, name)
    responds = service.role is not Role.FRONTEND
    if responds:
        subscribe += natsapi.service_responder(name)
    subscribe.append(_inbox(name))
    permissions = Permissions(
        publish_allow=_unique(publish),
        publish_deny=_unique(deny),
        subscribe_allow=_unique(subscribe),
        allow_responses=responds,
    )
    return _user(name, UserRole(service.role.value), permissions, service=name)


def _events(manifest: Manifest, bus: str) -> list[str]:
    return [s for stream in manifest.streams.values() if stream.bus == bus for s in stream.subjects]


def _production_data(manifest: Manifest, bus: str) -> list[str]:
    """Subjects that write the bus's production data: its events, KV keys and objects."""
    return [
        *_events(manifest, bus),
        *(f"$KV.{b}.>" for b, kv in manifest.kv.items() if kv.bus == bus),
        *(f"$O.{b}.>" for b, store in manifest.object_stores.items() if store.bus == bus),
    ]


def _smoke_user(manifest: Manifest, bus: str) -> User:
    """Looks at everything on its bus, sends the probes, and writes only its own assets."""
    name = naming.smoke_user(bus)
    endpoints = manifest.endpoint_subjects()
    on_bus = [
        p for p in manifest.probes if manifest.services[p.request.endpoint.split(".")[0]].bus == bus
    ]
    publish = [
        *natsapi.ACCOUNT_INSPECT,
        natsapi.SERVICE_DISCOVERY,
        *(endpoints[p.request.endpoint] for p in on_bus),
        *(
            s
            for n, st in manifest.streams.items()
            if st.bus == bus
            for s in natsapi.stream_inspect(n)
        ),
        *(
            s
            for b, kv in manifest.kv.items()
            if kv.bus == bus
            for s in natsapi.stream_inspect(natsapi.kv_stream(b))
        ),
        *(
            s
            for b, store in manifest.object_stores.items()
            if store.bus == bus
            for s in natsapi.stream_inspect(natsapi.object_stream(b))
        ),
    ]
    if bus == manifest.core_bus:
        publish += [
            *naming.SMOKE_SUBJECTS,
            *natsapi.stream_owner(naming.SMOKE_STREAM),
            f"$KV.{naming.SMOKE_BUCKET}.>",
            *natsapi.stream_owner(natsapi.kv_stream(naming.SMOKE_BUCKET)),
            f"$O.{naming.SMOKE_OBJECT_STORE}.>",
            *natsapi.stream_owner(natsapi.object_stream(naming.SMOKE_OBJECT_STORE)),
        ]
    events = [p.expect.event for p in on_bus if p.expect.event]
    subscribe = [*events, _inbox(name)]
    if bus == manifest.core_bus:  # deploykit bench: core traffic that no stream stores
        publish += naming.BENCH_SUBJECTS
        subscribe += [*naming.BENCH_SUBJECTS, *natsapi.service_responder(naming.BENCH_SERVICE)]
    bench_publish, bench_subscribe = _bench_crossings(manifest, bus)
    permissions = Permissions(
        publish_allow=_unique(publish + bench_publish),
        publish_deny=_unique(_production_data(manifest, bus)),
        subscribe_allow=_unique(subscribe + bench_subscribe),
        allow_responses=bus == manifest.core_bus or bool(bench_subscribe),
    )
    return _user(name, UserRole.SMOKE, permissions)


def _bench_crossings(manifest: Manifest, bus: str) -> tuple[list[str], list[str]]:
    """What `deploykit bench` needs of a smoke user across buses (`exports.bench_links`): the
    caller's side requests the other bus's bench subjects or pulls its bench consumer; the
    called side answers its own bench subjects as the bench service, and requests them too
    (the same-bus figure beside the crossing one); both sides of a copy own a bench copy
    stream (the core bus's is the same-bus figure)."""
    publish: list[str] = []
    subscribe: list[str] = []
    for path in bench_links(manifest):
        if path.kind is PathKind.CALL and path.subject:
            if bus in (path.importer, path.exporter):
                publish.append(path.subject)
            if bus == path.exporter:
                subscribe += [path.subject, *natsapi.service_responder(naming.BENCH_SERVICE)]
        elif path.kind is PathKind.CONSUMER and bus == path.importer:
            assert path.stream and path.consumer
            publish += natsapi.pull(path.stream, path.consumer, naming.crossbus_api(path.exporter))
        elif path.kind is PathKind.SOURCE and bus in (path.importer, path.exporter):
            publish += natsapi.stream_owner(naming.BENCH_COPY_STREAM)
    return publish, subscribe


def _provisioning_user(manifest: Manifest, bus: str) -> User:
    """Defines streams, consumers, buckets; reads and writes no message."""
    name = naming.provisioning_user(bus)
    permissions = Permissions(
        publish_allow=natsapi.JETSTREAM_ADMIN,
        publish_deny=_unique([*_events(manifest, bus), *natsapi.JETSTREAM_DATA]),
        subscribe_allow=(_inbox(name),),
    )
    return _user(name, UserRole.PROVISIONING, permissions)


def _backup_user(bus: str) -> User:
    """Reads every stream of its bus (ordered consumers, direct gets) to back it up, and
    publishes restores to `deploykit.restore.>`; it defines and deletes nothing (the bus's
    provisioning user creates and removes restored streams) and writes no live subject."""
    name = naming.backup_user(bus)
    permissions = Permissions(
        publish_allow=_unique(
            [
                *natsapi.ACCOUNT_INSPECT,
                *natsapi.stream_inspect("*"),
                *natsapi.ordered_read("*"),
                f"{naming.RESTORE_PREFIX}.>",
            ]
        ),
        subscribe_allow=(_inbox(name),),
    )
    return _user(name, UserRole.BACKUP, permissions)


def _archiver_user(bus: str, streams: list[str]) -> User:
    """Pulls from and acks its durable consumer on each archived stream, and answers NATS Service
    discovery (readiness); it defines nothing and reads or writes no other subject."""
    name = naming.archiver_user(bus)
    permissions = Permissions(
        publish_allow=_unique(
            [s for stream in streams for s in natsapi.pull(stream, naming.ARCHIVE_CONSUMER)]
        ),
        subscribe_allow=(*natsapi.service_responder(name), _inbox(name)),
        allow_responses=True,
    )
    return _user(name, UserRole.ARCHIVER, permissions)


def _system_user() -> User:
    """Server and cluster checks (`$SYS.REQ.SERVER.PING`, JSZ) for smoke; no JetStream."""
    permissions = Permissions(
        publish_allow=(natsapi.SYSTEM_REQUESTS,), subscribe_allow=(_inbox(naming.SYSTEM_USER),)
    )
    return _user(naming.SYSTEM_USER, UserRole.SYSTEM, permissions)


def _unique(subjects: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(subjects))
