"""JetStream definitions as Pulumi resources, over the same reconciler as `deploykit nats`.

A dynamic provider (`JetStreamProvider`) serves four resources: `Stream`, `Consumer`,
`KeyValueBucket` and `ObjectStoreBucket`. Their `config` input is the server JSON that
`deploykit.jetstream.desired` builds, and their state is what the server holds for those
fields, so:

- `diff` asks `deploykit.jetstream.plan.diff_config`, the reconciler's own comparison, and
  reports a replacement exactly when the reconciler would (a change the server refuses in
  place); without `allow_destroy` it refuses the replacement then and there, so `pulumi
  preview` and `pulumi up` stop with the reason before anything changes;
- `create` adopts an object that already exists (the declared fields laid over it, as
  `deploykit nats apply` does): this is how an existing stream comes under a stack, because
  Pulumi's dynamic-provider plugin cannot import (it reads the provider from the state, which
  an import does not have yet);
- `read` projects the server's config onto the declared fields: `pulumi refresh` shows drift;
- `update` sends the server's own config with the declared fields laid over it (consumers
  with action "update", so a failed update never replaces one);
- `delete` (also the first half of a replace) refuses unless `allow_destroy` is true.

The `JetStream` component creates every object of one bus from the manifest, streams
protected (`protect=True`) by default. Connection details are secret inputs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypedDict, TypeVar

import pulumi
from pulumi.dynamic import (
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

from deploykit.errors import ConfigError, PlanRefused
from deploykit.jetstream.api import JetStreamApi, connect
from deploykit.jetstream.desired import Desired, Kind, desired_state
from deploykit.jetstream.plan import diff_config, update_body
from deploykit.manifest.model import Manifest
from deploykit.manifest.naming import inbox_prefix, provisioning_user
from deploykit.stack.outputs import NatsCredential

__all__ = [
    "Connection",
    "Consumer",
    "JetStream",
    "JetStreamDefinitions",
    "JetStreamProvider",
    "KeyValueBucket",
    "ObjectStoreBucket",
    "Stream",
]

T = TypeVar("T")
_IDENTITY = ("kind", "stream", "consumer")


class Connection(TypedDict, total=False):
    """How the provider reaches the account of one bus (a provisioning user)."""

    url: str
    user: str | None
    password: str | None
    creds: str | None
    ca: str | None
    inbox_prefix: str | None


def _ints(value: Any) -> Any:
    """Pulumi carries numbers as floats; the server wants its integers (durations) back."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return value


def _run(props: dict[str, Any], work: Callable[[JetStreamApi], Awaitable[T]]) -> T:
    """Connect with the resource's connection, do `work`, close: one call, one connection."""
    conn_props = props.get("connection") or {}
    if not conn_props.get("url"):
        raise ConfigError("the JetStream resource has no connection url")
    credential = None
    if conn_props.get("user") or conn_props.get("creds"):
        user = conn_props.get("user")
        credential = NatsCredential(
            account="",
            role="provisioning",
            user=user,
            password=conn_props.get("password"),
            creds=conn_props.get("creds"),
            # a provisioning user may read replies only on its own inbox prefix
            inbox_prefix=conn_props.get("inbox_prefix")
            or (inbox_prefix(user) if user else "_INBOX"),
        )

    async def session() -> T:
        conn = await connect(conn_props["url"], credential, conn_props.get("ca"))
        try:
            return await work(JetStreamApi(conn))
        finally:
            await conn.close()

    return asyncio.run(session())


def _identity(id_: str, props: dict[str, Any]) -> tuple[Kind, str, str | None]:
    """(kind, stream, consumer) from the state, or from an import id."""
    if props.get("stream"):
        return props["kind"], props["stream"], props.get("consumer")
    stream, _, consumer = id_.partition("/")
    if consumer:
        return "consumer", stream, consumer
    kind: Kind = "kv" if stream.startswith("KV_") else "stream"
    return ("object_store" if stream.startswith("OBJ_") else kind), stream, None


def _id(stream: str, consumer: str | None) -> str:
    return f"{stream}/{consumer}" if consumer else stream


def _project(declared: dict[str, Any], actual: dict[str, Any]) -> dict[str, Any]:
    """The server's values of the declared fields (the plan's zero-value rule for omitted ones)."""
    changed = {c.field: c.old for c in diff_config("stream", declared, actual)}
    return {k: changed.get(k, v) for k, v in declared.items()}


async def _info(api: JetStreamApi, stream: str, consumer: str | None) -> dict[str, Any] | None:
    if consumer is None:
        return await api.stream_info(stream)
    return await api.consumer_info(stream, consumer)


class JetStreamProvider(ResourceProvider):
    """CRUD for any JetStream object; the resource's `kind` says which."""

    serialize_as_secret_always = False  # holds no secret: the connection is a secret input

    def create(self, props: dict[str, Any]) -> CreateResult:
        """Create the object, or adopt it if it exists (as `deploykit nats apply` does).

        Adoption is how an existing object comes under the stack: the dynamic-provider plugin
        cannot import (`import_` and `pulumi import` call `read` without the serialized
        provider), so the declared config is applied in place, and a change the server refuses
        in place is refused here as in `update`.
        """
        kind, stream, consumer = _identity("", props)
        config = _ints(props["config"])
        label = _id(stream, consumer)

        async def work(api: JetStreamApi) -> dict[str, Any]:
            actual = await _info(api, stream, consumer)
            if actual is not None:
                return await _update(api, kind, label, stream, consumer, config, actual)
            if consumer is None:
                return await api.create_stream(config)
            return await api.create_consumer(stream, config, "create")

        actual = _run(props, work)
        return CreateResult(label, {**props, "config": _project(config, actual)})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        kind, stream, consumer = _identity(id_, props)
        actual = _run(props, lambda api: _info(api, stream, consumer))
        if actual is None:
            return ReadResult(None, {})
        declared = _ints(props.get("config") or {})
        outs = {**props, "kind": kind, "stream": stream, "consumer": consumer}
        return ReadResult(id_, {**outs, "config": _project(declared, actual)})

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        """The reconciler's comparison; a replacement without `allow_destroy` is refused here,
        so `pulumi preview` says why before anything runs (and not only `protect`'s message)."""
        kind = news.get("kind", olds.get("kind"))
        changes = diff_config(
            kind, _ints(news.get("config") or {}), _ints(olds.get("config") or {})
        )
        replaces = [k for k in _IDENTITY if olds.get(k) != news.get(k)]
        refused = [c for c in changes if c.refused]
        if refused:
            replaces.append("config")
        if replaces and not news.get("allow_destroy"):
            why = (
                f"the server refuses {refused[0].field} in place ({refused[0].refused})"
                if refused
                else f"its {replaces[0]} changed"
            )
            raise PlanRefused(
                f"{kind} {id_}: {why}, so it would be deleted and created again, destroying "
                "its data: set allow_destroy=True on the resource to allow it"
            )
        other = any(olds.get(k) != news.get(k) for k in ("connection", "allow_destroy"))
        return DiffResult(
            changes=bool(changes or replaces or other),
            replaces=replaces,
            delete_before_replace=True,
        )

    def update(self, id_: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        kind, stream, consumer = _identity(id_, news)
        config = _ints(news["config"])

        async def work(api: JetStreamApi) -> dict[str, Any]:
            actual = await _info(api, stream, consumer)
            if actual is None:
                raise ConfigError(f"{kind} {id_} is gone from the server: run `pulumi refresh`")
            return await _update(api, kind, id_, stream, consumer, config, actual)

        actual = _run(news, work)
        return UpdateResult({**news, "config": _project(config, actual)})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        kind, stream, consumer = _identity(id_, props)
        if not props.get("allow_destroy"):
            raise PlanRefused(
                f"{kind} {id_}: refusing to delete it (and its data): "
                "set allow_destroy=True on the resource to allow it"
            )

        async def work(api: JetStreamApi) -> None:
            if await _info(api, stream, consumer) is None:
                return
            if consumer is None:
                await api.delete_stream(stream)
            else:
                await api.delete_consumer(stream, consumer)

        _run(props, work)


async def _update(
    api: JetStreamApi,
    kind: Kind,
    label: str,
    stream: str,
    consumer: str | None,
    config: dict[str, Any],
    actual: dict[str, Any],
) -> dict[str, Any]:
    """Lay the declared config over the server's in place; refused if the server would refuse."""
    refused = [c for c in diff_config(kind, config, actual) if c.refused]
    if refused:
        raise PlanRefused(
            f"{kind} {label}: the server refuses {refused[0].field} in place "
            f"({refused[0].refused}); run `pulumi refresh` to plan a replacement"
        )
    body = update_body(config, actual)
    if consumer is None:
        return await api.update_stream(body)
    return await api.create_consumer(stream, body, "update")


_PROVIDER = JetStreamProvider()


class _JetStreamObject(Resource):
    config: pulumi.Output[dict[str, Any]]
    stream: pulumi.Output[str]
    _kind: Kind

    def __init__(
        self,
        name: str,
        *,
        connection: pulumi.Input[Connection],
        config: dict[str, Any],
        stream: pulumi.Input[str],
        consumer: str | None = None,
        allow_destroy: bool = False,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "connection": pulumi.Output.secret(connection),
            "kind": self._kind,
            "stream": stream,
            "consumer": consumer,
            "config": config,
            "allow_destroy": allow_destroy,
        }
        secret = pulumi.ResourceOptions(additional_secret_outputs=["connection"])
        super().__init__(_PROVIDER, name, props, pulumi.ResourceOptions.merge(secret, opts))


class Stream(_JetStreamObject, module="deploykit", name="Stream"):
    _kind = "stream"


class Consumer(_JetStreamObject, module="deploykit", name="Consumer"):
    _kind = "consumer"


class KeyValueBucket(_JetStreamObject, module="deploykit", name="KeyValueBucket"):
    _kind = "kv"


class ObjectStoreBucket(_JetStreamObject, module="deploykit", name="ObjectStoreBucket"):
    _kind = "object_store"


_RESOURCES: dict[Kind, type[_JetStreamObject]] = {
    "stream": Stream,
    "consumer": Consumer,
    "kv": KeyValueBucket,
    "object_store": ObjectStoreBucket,
}


class JetStream(pulumi.ComponentResource):
    """Every JetStream object of one bus, from the manifest: streams, consumers, KV, stores."""

    objects: dict[str, _JetStreamObject]

    def __init__(
        self,
        name: str,
        manifest: Manifest,
        bus: str,
        connection: pulumi.Input[Connection],
        *,
        cluster_size: int | None,
        allow_destroy: bool = False,
        protect_streams: bool = True,
        retain_on_delete: bool = False,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("deploykit:nats:JetStream", name, {}, opts)
        self._name = name
        # A component's depends_on does not reach its children: pass it on, so that nothing
        # talks to NATS before what the caller waits for (e.g. the metal cluster's health gates).
        self._depends_on = list(opts.depends_on or []) if opts else []
        self._connection = pulumi.Output.secret(connection)
        self._allow_destroy = allow_destroy
        self._protect_streams = protect_streams
        self._retain = retain_on_delete
        desired = desired_state(manifest, bus, cluster_size)
        self._warn(desired.warnings)
        self.objects = {}
        for obj in desired.objects:
            self.objects[obj.label] = self._create(obj)
        self.register_outputs(
            {
                "bus": bus,
                "objects": sorted(self.objects),
                "streams": sorted(o.stream for o in desired.objects if o.consumer is None),
            }
        )

    def _warn(self, warnings: list[str]) -> None:
        for warning in warnings:
            pulumi.log.warn(warning, resource=self)

    def _create(self, obj: Desired) -> _JetStreamObject:
        """One child; a stream is protected by default. A consumer takes its stream's name from
        the stream resource's output: the server deletes a stream's consumers with it, so when
        the stream is replaced the engine must replace them too, and it does so only for
        resources whose inputs come from the replaced one (`depends_on` is not enough)."""
        stream: pulumi.Input[str] = obj.stream
        if obj.consumer is not None:
            stream = self.objects[f"stream {obj.stream}"].stream
        opts = pulumi.ResourceOptions(
            parent=self,
            depends_on=list(self._depends_on),
            protect=self._protect_streams and obj.kind == "stream",
            retain_on_delete=self._retain or None,
        )
        child = f"{self._name}-{obj.kind.replace('_', '-')}-{obj.name.replace('/', '-')}"
        return _RESOURCES[obj.kind](
            child,
            connection=self._connection,
            config=obj.config,
            stream=stream,
            consumer=obj.consumer,
            allow_destroy=self._allow_destroy,
            opts=opts,
        )


class JetStreamDefinitions(pulumi.ComponentResource):
    """Every bus's JetStream objects, each bus reconciled as its own `provisioning-<bus>` user.

    `credentials` maps NATS users to the fields of `NatsCredential` (as the stack outputs
    carry them); only the provisioning users' are read, and they stay secret.
    """

    buses: dict[str, JetStream]

    def __init__(
        self,
        name: str,
        manifest: Manifest,
        urls: list[str],
        cluster_size: int | None,
        credentials: pulumi.Input[dict[str, dict[str, Any]]],
        ca_certificate: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
        *,
        keep_data: bool | None = None,
    ) -> None:
        """`keep_data`: None, streams protected and deletes refused (the default); True, every
        object left on the servers when it leaves the program or the stack is destroyed (the
        metal tier without `destroyData`); False, objects deleted with their data."""
        super().__init__("deploykit:nats:JetStreamDefinitions", name, {}, opts)
        secret = pulumi.Output.secret(pulumi.Output.all(credentials, ca_certificate))
        self.buses = {
            bus: JetStream(
                f"{name}-{bus}",
                manifest,
                bus,
                secret.apply(
                    lambda both, b=bus: _connection(urls, both[0][provisioning_user(b)], both[1])
                ),
                cluster_size=cluster_size,
                allow_destroy=keep_data is False,
                protect_streams=keep_data is None,
                retain_on_delete=keep_data is True,
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=list(opts.depends_on or []) if opts else []
                ),
            )
            for bus in manifest.buses
        }
        self.register_outputs({"buses": sorted(self.buses)})


def _connection(urls: list[str], credential: dict[str, Any], ca: str | None) -> Connection:
    return Connection(
        url=",".join(urls),
        user=credential.get("user"),
        password=credential.get("password"),
        creds=credential.get("creds"),
        ca=ca,
        inbox_prefix=credential.get("inbox_prefix"),
    )
