"""The JetStream dynamic provider against a real nats-server, and the component's resource graph
under Pulumi's mock runtime."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import nats
import pulumi
import pytest
from nats.aio.client import Client
from pulumi.runtime import rpc

from components.jetstream import JetStream, JetStreamProvider
from deploykit.errors import PlanRefused
from deploykit.jetstream import JetStreamApi
from deploykit.jetstream.desired import Desired, DesiredState, stream_config
from deploykit.jetstream.plan import compute_plan
from deploykit.local.nats import LocalNats
from deploykit.manifest.model import Manifest, Stream

S = 1_000_000_000
_ids = itertools.count(1)


def on_server(cluster: LocalNats, body: Callable[[JetStreamApi], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        conn: Client = await nats.connect(cluster.urls)
        try:
            return await body(JetStreamApi(conn))
        finally:
            await conn.close()

    return asyncio.run(main())


def stream_props(cluster: LocalNats, name: str, **changes: Any) -> dict[str, Any]:
    stream = Stream(bus="core", subjects=[f"{name.lower()}.>"], max_age=3600, replicas=1)
    config = stream_config(name, stream.model_copy(update=changes), 1)
    return {
        "connection": {"url": cluster.url, "user": None, "password": None, "creds": None},
        "kind": "stream",
        "stream": name,
        "consumer": None,
        "config": config,
        "allow_destroy": False,
    }


def consumer_props(stream_props: dict[str, Any], **config: Any) -> dict[str, Any]:
    base = {
        "name": "work",
        "durable_name": "work",
        "deliver_policy": "all",
        "ack_policy": "explicit",
        "ack_wait": 30 * S,
    }
    return {**stream_props, "kind": "consumer", "consumer": "work", "config": base | config}


def test_stream_lifecycle(nats_single: LocalNats) -> None:
    name = f"P{next(_ids)}"
    provider = JetStreamProvider()
    props = stream_props(nats_single, name)

    created = provider.create(props)
    assert created.id == name
    assert created.outs["config"] == props["config"]
    assert on_server(nats_single, lambda api: api.stream_info(name))["max_age"] == 3600 * S

    read = provider.read(name, created.outs)
    assert (read.id, read.outs["config"]) == (name, props["config"])
    assert provider.diff(name, read.outs, props).changes is False

    longer = stream_props(nats_single, name, max_age=7200, description="kept longer")
    diff = provider.diff(name, read.outs, longer)
    assert (diff.changes, diff.replaces) == (True, [])
    updated = provider.update(name, read.outs, longer)
    assert updated.outs["config"]["max_age"] == 7200 * S
    assert on_server(nats_single, lambda api: api.stream_info(name))["description"] == (
        "kept longer"
    )

    memory = stream_props(nats_single, name, storage="memory")
    with pytest.raises(PlanRefused, match="set allow_destroy=True"):
        provider.diff(name, updated.outs, memory)
    replace = provider.diff(name, updated.outs, {**memory, "allow_destroy": True})
    assert (replace.changes, replace.replaces, replace.delete_before_replace) == (
        True,
        ["config"],
        True,
    )
    with pytest.raises(PlanRefused, match="refuses storage in place"):
        provider.update(name, updated.outs, memory)

    with pytest.raises(PlanRefused, match="refusing to delete"):
        provider.delete(name, updated.outs)
    assert on_server(nats_single, lambda api: api.stream_info(name)) is not None
    provider.delete(name, {**updated.outs, "allow_destroy": True})
    assert on_server(nats_single, lambda api: api.stream_info(name)) is None
    assert provider.read(name, updated.outs).id is None


def test_refresh_sees_drift_and_import_adopts(nats_single: LocalNats) -> None:
    name = f"P{next(_ids)}"
    provider = JetStreamProvider()
    props = stream_props(nats_single, name)

    async def out_of_band(api: JetStreamApi) -> None:
        await api.create_stream({**props["config"], "max_msgs": 99})

    on_server(nats_single, out_of_band)
    inputs = {k: v for k, v in props.items() if k not in ("kind", "stream", "consumer")}
    imported = provider.read(name, inputs)  # `import_` passes the inputs, not the identity
    assert (imported.id, imported.outs["kind"], imported.outs["stream"]) == (name, "stream", name)
    assert imported.outs["config"]["max_msgs"] == 99
    diff = provider.diff(name, imported.outs, props)
    assert (diff.changes, diff.replaces) == (True, [])
    provider.update(name, imported.outs, props)
    assert on_server(nats_single, lambda api: api.stream_info(name))["max_msgs"] == -1
    provider.delete(name, {**props, "allow_destroy": True})


def test_consumer_lifecycle(nats_single: LocalNats) -> None:
    name = f"P{next(_ids)}"
    provider = JetStreamProvider()
    stream = stream_props(nats_single, name)
    provider.create(stream)
    props = consumer_props(stream)

    created = provider.create(props)
    assert created.id == f"{name}/work"
    slower = consumer_props(stream, ack_wait=60 * S)
    assert provider.diff(created.id, created.outs, slower).replaces == []
    provider.update(created.id, created.outs, slower)
    info = on_server(nats_single, lambda api: api.consumer_info(name, "work"))
    assert info["ack_wait"] == 60 * S

    newest = {**consumer_props(stream, deliver_policy="new"), "allow_destroy": True}
    assert provider.diff(created.id, created.outs, newest).replaces == ["config"]
    imported = provider.read(f"{name}/work", {"connection": props["connection"], "config": {}})
    assert (imported.outs["kind"], imported.outs["consumer"]) == ("consumer", "work")
    provider.delete(name, {**stream, "allow_destroy": True})


def test_pulumi_floats_reach_the_server_as_integers(nats_single: LocalNats) -> None:
    """Pulumi carries numbers as float64: 1h in nanoseconds must not reach Go as 3.6e+12."""
    name = f"P{next(_ids)}"
    provider = JetStreamProvider()
    props = stream_props(nats_single, name)
    floats = {
        **props,
        "config": {
            k: float(v) if isinstance(v, int) and not isinstance(v, bool) else v
            for k, v in props["config"].items()
        },
    }
    created = provider.create(floats)
    assert created.outs["config"]["max_age"] == 3600 * S
    provider.delete(name, {**props, "allow_destroy": True})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("storage", "memory"),
        ("retention", "workqueue"),
        ("retention", "interest"),
        ("max_age", 60 * S),
        ("num_replicas", 3),
        ("description", "x"),
    ],
)
def test_diff_replaces_exactly_when_the_reconciler_would(field: str, value: Any) -> None:
    config = stream_config("X", Stream(bus="core", subjects=["x.>"]), 1)
    new = {**config, field: value}
    desired = DesiredState("core", [Desired("stream", "X", "X", new)])
    (step,) = compute_plan(desired, {"X": config}, {}).steps
    props = {"kind": "stream", "stream": "X", "consumer": None, "connection": {}}
    props |= {"allow_destroy": True}  # without it, a replacement is refused (test above)
    diff = JetStreamProvider().diff("X", {**props, "config": config}, {**props, "config": new})
    assert bool(diff.replaces) is (step.action == "replace")


class Recorder(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        self.resources.append(args)
        return f"{args.name}-id", args.inputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        return {}


def test_component_creates_every_object_of_the_bus(reference_manifest: Manifest) -> None:
    mocks = Recorder()
    asyncio.set_event_loop(asyncio.new_event_loop())  # asyncio.run in other tests closed ours
    pulumi.runtime.set_mocks(mocks, project="deploykit", stack="test", preview=False)
    connection = {"url": "nats://n1:4222", "user": "provisioning-core", "password": "pw"}

    @pulumi.runtime.test
    def build() -> pulumi.Output:
        component = JetStream("core-js", reference_manifest, "core", connection, cluster_size=3)
        objects = component.objects
        assert list(objects) == [
            "stream ACCOUNTS",
            "consumer ACCOUNTS/welcome",
            "stream DEPLOYKIT_SMOKE",
            "kv flags",
            "kv deploykit_smoke",
            "object_store exports",
            "object_store deploykit_smoke",
        ]
        assert [o._protect for o in objects.values()] == [
            True,
            False,
            True,
            False,
            False,
            False,
            False,
        ]

        def check(values: list[Any]) -> None:
            urns, secret = values[:-1], values[-1]
            assert all(
                "deploykit:nats:JetStream$pulumi-python:dynamic/deploykit:" in u for u in urns
            )
            assert secret is True

        async def is_secret() -> bool:
            return await objects["stream ACCOUNTS"].connection.is_secret()

        return pulumi.Output.all(
            *(o.urn for o in objects.values()), pulumi.Output.from_input(is_secret())
        ).apply(check)

    build()
    types = sorted((r.typ, r.name) for r in mocks.resources)
    assert types == sorted(
        [
            ("deploykit:nats:JetStream", "core-js"),
            ("pulumi-python:dynamic/deploykit:Stream", "core-js-stream-ACCOUNTS"),
            ("pulumi-python:dynamic/deploykit:Consumer", "core-js-consumer-ACCOUNTS-welcome"),
            ("pulumi-python:dynamic/deploykit:Stream", "core-js-stream-DEPLOYKIT_SMOKE"),
            ("pulumi-python:dynamic/deploykit:KeyValueBucket", "core-js-kv-flags"),
            ("pulumi-python:dynamic/deploykit:KeyValueBucket", "core-js-kv-deploykit_smoke"),
            ("pulumi-python:dynamic/deploykit:ObjectStoreBucket", "core-js-object-store-exports"),
            (
                "pulumi-python:dynamic/deploykit:ObjectStoreBucket",
                "core-js-object-store-deploykit_smoke",
            ),
        ]
    )
    accounts = next(r.inputs for r in mocks.resources if r.name == "core-js-stream-ACCOUNTS")
    assert accounts["config"]["num_replicas"] == 3
    assert accounts["allow_destroy"] is False
    wire = accounts["connection"]  # what the engine receives: a secret, wrapped as such
    assert wire[rpc._special_sig_key] == rpc._special_secret_sig
    assert wire["value"]["password"] == "pw"
