"""The compiled permissions, enforced by a real nats-server, role by role.

One nats-server for the module, configured with the rendered accounts block of the reference
manifest. The provisioning users define the streams, consumer and buckets; the `accounts` RPC
service runs as a real nats-py micro service under its own user. Each case then connects as
one user, tries one action, and records whether it worked or the server sent a permissions
violation. The expected outcome is a table (CASES, plus a matrix generated from the manifest)
so that it grows with the rules.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig, KeyValueConfig, ObjectStoreConfig, StreamConfig
from nats.js.errors import KeyNotFoundError
from nats.micro import add_service
from nats.micro.request import Request

from deploykit.laws.permissions import compile_authorization
from deploykit.laws.rules import Capability, granted
from deploykit.manifest import naming
from deploykit.manifest.load import load_manifest
from deploykit.manifest.model import Manifest
from deploykit.manifest.subjects import is_subset
from deploykit.testing.natsusers import NatsUsers, nats_with_users

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = load_manifest(ROOT / "deploykit.yaml")
T = TypeVar("T")
VIOLATION = re.compile(r'nats: permissions violation for (publish|subscription) to "([^"]+)"')


class Loop:
    """An event loop in a thread, so module-scoped clients outlive a single test."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@dataclass
class Env:
    nats: NatsUsers
    loop: Loop
    clients: list[Client] = field(default_factory=list)

    async def connect(self, user: str, errors: asyncio.Queue[str] | None = None) -> Client:
        async def on_error(error: Exception) -> None:
            if errors is not None:
                errors.put_nowait(str(error))

        return await self.nats.connect(user, error_cb=on_error, allow_reconnect=False)

    async def ping(self, service: str) -> dict[str, Any]:
        smoke = await self.connect(naming.smoke_user("core"))
        try:
            reply = await smoke.request(f"$SRV.PING.{service}", b"", timeout=3)
            return json.loads(reply.data)
        finally:
            await smoke.close()


async def _answer(nc: Client) -> None:
    """The `accounts` RPC service: create emits accounts.events.created, then replies."""
    js = nc.jetstream()

    async def create(request: Request) -> None:
        ack = await js.publish("accounts.events.created", request.data)
        await request.respond(json.dumps({"id": ack.seq, "email": "x@example.com"}).encode())

    async def get(request: Request) -> None:
        await request.respond(b'{"id": 1}')

    service = await add_service(nc, name="accounts", version="1.0.0")
    await service.add_endpoint(name="create", subject="accounts.rpc.create", handler=create)
    await service.add_endpoint(name="get", subject="accounts.rpc.get", handler=get)


async def _provision(env: Env, manifest: Manifest) -> None:
    """What the reconciler will do, done here by the provisioning users (R1: one node)."""
    for bus in manifest.buses:
        nc = await env.connect(naming.provisioning_user(bus))
        js = nc.jetstream()
        for name, stream in manifest.streams.items():
            if stream.bus == bus:
                await js.add_stream(StreamConfig(name=name, subjects=stream.subjects))
        for name in (k for k, kv in manifest.kv.items() if kv.bus == bus):
            await js.create_key_value(KeyValueConfig(bucket=name))
        for name in (k for k, o in manifest.object_stores.items() if o.bus == bus):
            await js.create_object_store(name, ObjectStoreConfig(ttl=3600))
        for service in (s for s in manifest.services.values() if s.bus == bus):
            for consume in (c for c in service.consumes if c.mode.value == "queue"):
                config = ConsumerConfig(
                    durable_name=consume.consumer, filter_subject=consume.filter
                )
                await js.add_consumer(consume.stream, config)
        await nc.close()
    smoke = await env.connect(naming.smoke_user(manifest.core_bus))
    js = smoke.jetstream()
    await js.add_stream(StreamConfig(name=naming.SMOKE_STREAM, subjects=[*naming.SMOKE_SUBJECTS]))
    await js.create_key_value(KeyValueConfig(bucket=naming.SMOKE_BUCKET))
    await js.publish("deploykit.smoke.setup", b"{}")
    await smoke.close()
    rpc = await env.connect("accounts")
    env.clients.append(rpc)
    await _answer(rpc)
    gateway = await env.connect("gateway")
    for _ in range(3):
        await gateway.request("accounts.rpc.create", b"{}", timeout=5)
    await gateway.close()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    loop = Loop()
    with nats_with_users(tmp_path_factory.mktemp("permissions"), REFERENCE) as users:
        environment = Env(users, loop)
        try:
            loop.run(_provision(environment, REFERENCE))
            yield environment
        finally:
            for client in environment.clients:
                loop.run(client.close())
            loop.close()


# Actions: each tries one thing as the connected user and raises if it did not work.

Action = Callable[[Env, Client, str], Awaitable[None]]


async def request(env: Env, nc: Client, subject: str) -> None:
    reply = await nc.request(subject, b"{}", timeout=5)
    assert "id" in json.loads(reply.data), reply.data


async def js_publish(env: Env, nc: Client, subject: str) -> None:
    ack = await nc.jetstream().publish(subject, b"{}", timeout=5)
    stored = [
        n for n, s in REFERENCE.streams.items() if any(is_subset(subject, p) for p in s.subjects)
    ]
    assert [ack.stream] == (stored or [naming.SMOKE_STREAM]) and ack.seq > 0


async def publish(env: Env, nc: Client, subject: str) -> None:
    await nc.publish(subject, b"{}")


async def subscribe(env: Env, nc: Client, target: str) -> None:
    subject, _, queue = target.partition(" ")
    await nc.subscribe(subject, queue=queue)


async def fetch(env: Env, nc: Client, target: str) -> None:
    stream, consumer = target.split("/")
    sub = await nc.jetstream().pull_subscribe_bind(consumer, stream)
    (message,) = await sub.fetch(1, timeout=5)
    await message.ack()


async def fanout(env: Env, nc: Client, stream: str) -> None:
    """A fanout instance: its own ephemeral pull consumer, ack none, replayed, then deleted."""
    jsm = nc.jetstream()
    name = naming.fanout_consumer_name("projector", nc._nuid.next().decode())
    config = ConsumerConfig(name=name, ack_policy=AckPolicy.NONE, inactive_threshold=30)
    await jsm.add_consumer(stream, config)
    sub = await jsm.pull_subscribe_bind(name, stream)
    assert len(await sub.fetch(1, timeout=5)) == 1
    await jsm.delete_consumer(stream, name)


async def create_consumer(env: Env, nc: Client, target: str) -> None:
    stream, name = target.split("/")
    await nc.jetstream().add_consumer(stream, ConsumerConfig(name=name))


async def kv_get(env: Env, nc: Client, bucket: str) -> None:
    kv = await nc.jetstream().key_value(bucket)
    with contextlib.suppress(KeyNotFoundError):  # allowed, and the key does not exist
        await kv.get("probe")


async def kv_put(env: Env, nc: Client, bucket: str) -> None:
    kv = await nc.jetstream().key_value(bucket)
    await kv.put("probe", b"1")


async def object_roundtrip(env: Env, nc: Client, bucket: str) -> None:
    store = await nc.jetstream().object_store(bucket)
    await store.put("probe.txt", b"ephemeral")
    assert (await store.get("probe.txt")).data == b"ephemeral"


async def stream_info(env: Env, nc: Client, stream: str) -> None:
    assert (await nc.jetstream().stream_info(stream)).config.name == stream


async def consumer_info(env: Env, nc: Client, target: str) -> None:
    stream, consumer = target.split("/")
    assert (await nc.jetstream().consumer_info(stream, consumer)).name == consumer


async def msg_get(env: Env, nc: Client, stream: str) -> None:
    assert (await nc.jetstream().get_msg(stream, seq=1)).seq == 1


async def define_stream(env: Env, nc: Client, target: str) -> None:
    name, subject = target.split(" ")
    await nc.jetstream().add_stream(StreamConfig(name=name, subjects=[subject]))
    await nc.jetstream().delete_stream(name)


async def srv_ping(env: Env, nc: Client, service: str) -> None:
    reply = await nc.request(f"$SRV.PING.{service}", b"", timeout=5)
    assert json.loads(reply.data)["name"] == service


async def serve(env: Env, nc: Client, name: str) -> None:
    """Register a NATS Service without endpoints (a worker's readiness) and be discovered."""
    service = await add_service(nc, name=name, version="1.0.0")
    await nc.flush()
    try:
        assert (await env.ping(name))["name"] == name
    finally:
        await service.stop()


async def sys_request(env: Env, nc: Client, subject: str) -> None:
    reply = await nc.request(subject, b"", timeout=5)
    assert json.loads(reply.data)["server"]["name"]


@dataclass(frozen=True)
class Case:
    user: str
    action: Action
    target: str
    allowed: bool
    why: str
    refused: str = ""  # the subject (pattern) the violation names; default: the target


ok, no = True, False
# fmt: off
CASES = [
    # frontend: requests to the endpoints it calls, reads its KV bucket, nothing else
    Case("gateway", request, "accounts.rpc.create", ok, "the request reaches the RPC service"),
    Case("gateway", request, "accounts.rpc.get", ok, "it calls accounts.get"),
    Case("gateway", js_publish, "accounts.events.created", no, "frontends push no event"),
    Case("gateway", kv_get, "flags", ok, "it reads flags"),
    Case("gateway", kv_put, "flags", no, "frontends write no state", "$KV.flags.probe"),
    Case("gateway", subscribe, "accounts.rpc.create q", no, "frontends answer nothing", "accounts.rpc.create"),
    Case("gateway", fetch, "ACCOUNTS/welcome", no, "frontends consume no stream", "$JS.API.CONSUMER.MSG.NEXT.ACCOUNTS.welcome"),
    Case("gateway", stream_info, "ACCOUNTS", no, "no JetStream admin", "$JS.API.STREAM.INFO.ACCOUNTS"),
    # rpc: answers its endpoints in the queue group, emits its events, uses its object store
    Case("accounts", request, "accounts.rpc.get", no, "RPC is forbidden inside the application"),
    Case("accounts", js_publish, "accounts.events.created", ok, "it emits it, stored by ACCOUNTS"),
    Case("accounts", js_publish, "accounts.events.welcomed", no, "not one of its emits"),
    Case("accounts", subscribe, "accounts.rpc.create q", ok, "its endpoint in the micro group"),
    Case("accounts", subscribe, "accounts.rpc.create", no, "outside the queue group it would receive every request"),
    Case("accounts", publish, "_INBOX_gateway.forged", no, "it replies only to requests it got"),
    Case("accounts", object_roundtrip, "exports", ok, "it writes exports"),
    Case("accounts", kv_get, "flags", no, "it declares no KV bucket", "$JS.API.STREAM.INFO.KV_flags"),
    Case("accounts", fetch, "ACCOUNTS/welcome", no, "rpc services consume no stream", "$JS.API.CONSUMER.MSG.NEXT.ACCOUNTS.welcome"),
    # queue worker: pulls and acks its consumer, emits from it, is discoverable
    Case("welcome", fetch, "ACCOUNTS/welcome", ok, "its own queue consumer"),
    Case("welcome", js_publish, "accounts.events.welcomed", ok, "it emits from a queue consumer"),
    Case("welcome", request, "accounts.rpc.get", no, "RPC is forbidden inside the application"),
    Case("welcome", serve, "welcome", ok, "readiness through $SRV discovery"),
    Case("welcome", fanout, "ACCOUNTS", no, "it has no fanout consumer", "$JS.API.CONSUMER.CREATE.ACCOUNTS.*"),
    # fanout worker: its own ephemeral consumers, never anyone else's, emits nothing
    Case("projector", fanout, "ACCOUNTS", ok, "replays the stream on its own consumer"),
    Case("projector", js_publish, "accounts.events.created", no, "fanout consumers emit nothing"),
    Case("projector", fetch, "ACCOUNTS/welcome", no, "welcome's messages are not its own", "$JS.API.CONSUMER.MSG.NEXT.ACCOUNTS.welcome"),
    Case("projector", create_consumer, "ACCOUNTS/welcome", no, "it may not redefine welcome", "$JS.API.CONSUMER.CREATE.ACCOUNTS.welcome"),
    Case("projector", serve, "projector", ok, "readiness through $SRV discovery"),
    # smoke: inspects, probes, and writes only its own assets
    Case("smoke-core", srv_ping, "accounts", ok, "the RPC service is discoverable"),
    Case("smoke-core", js_publish, "accounts.events.created", no, "never production data"),
    Case("smoke-core", js_publish, "deploykit.smoke.probe", ok, "its own smoke stream"),
    Case("smoke-core", kv_put, naming.SMOKE_BUCKET, ok, "its own smoke bucket"),
    Case("smoke-core", kv_put, "flags", no, "never production state", "$KV.flags.probe"),
    Case("smoke-core", stream_info, "ACCOUNTS", ok, "read-only JetStream information"),
    Case("smoke-core", consumer_info, "ACCOUNTS/welcome", ok, "read-only consumer information"),
    Case("smoke-core", msg_get, "ACCOUNTS", no, "information, not message content", "$JS.API.STREAM.MSG.GET.ACCOUNTS"),
    Case("smoke-core", msg_get, naming.SMOKE_STREAM, ok, "its own stream's content"),
    Case("smoke-core", request, "accounts.rpc.create", ok, "the create-account probe"),
    Case("smoke-core", subscribe, "accounts.events.created", ok, "the probe's expected event"),
    Case("smoke-core", subscribe, "accounts.events.welcomed", no, "no probe expects it"),
    Case("smoke-core", define_stream, "SNEAKY sneaky.>", no, "it defines no production stream", "$JS.API.STREAM.CREATE.SNEAKY"),
    Case("smoke-analytics", stream_info, "PAGEVIEWS", ok, "read-only, on its own bus"),
    Case("smoke-analytics", stream_info, "ACCOUNTS", no, "another bus is another account", "$JS.API.STREAM.INFO.ACCOUNTS"),
    # provisioning: defines streams and consumers, touches no message
    Case("provisioning-core", define_stream, "SCRATCH scratch.>", ok, "the reconciler's job"),
    Case("provisioning-core", consumer_info, "ACCOUNTS/welcome", ok, "the reconciler's job"),
    Case("provisioning-core", js_publish, "accounts.events.created", no, "no data"),
    Case("provisioning-core", msg_get, "ACCOUNTS", no, "no data", "$JS.API.STREAM.MSG.GET.ACCOUNTS"),
    Case("provisioning-core", fetch, "ACCOUNTS/welcome", no, "no data", "$JS.API.CONSUMER.MSG.NEXT.ACCOUNTS.welcome"),
    Case("provisioning-core", kv_put, "flags", no, "no data", "$KV.flags.probe"),
    # system: server checks only
    Case("system", sys_request, "$SYS.REQ.SERVER.PING", ok, "cluster checks for smoke"),
    Case("system", request, "accounts.rpc.create", no, "nothing outside $SYS.REQ"),
]
# fmt: on


def _matrix(manifest: Manifest) -> list[Case]:
    """Each user publishes each emitted event, and subscribes to its own, gateway's, the shared inbox."""
    authorization = compile_authorization(manifest)
    events = list(dict.fromkeys(s for service in manifest.services.values() for s in service.emits))
    cases = []
    for account in authorization.accounts:
        for user in account.users:
            if account.name in manifest.buses:
                for subject in events if account.name == manifest.core_bus else ["pageviews.x"]:
                    service = manifest.services.get(user.name)
                    allowed = bool(
                        service
                        and subject in service.emits
                        and Capability.EMIT in granted(manifest, user.name)
                    )
                    cases.append(Case(user.name, js_publish, subject, allowed, "emits"))
            other = "_INBOX_accounts.>" if user.name != "accounts" else "_INBOX_gateway.>"
            cases += [
                Case(user.name, subscribe, f"{user.inbox_prefix}.>", ok, "its own inbox"),
                Case(user.name, subscribe, "_INBOX.>", no, "the shared inbox has every reply"),
                Case(user.name, subscribe, other, no, "another user's inbox"),
            ]
    return cases


async def attempt(env: Env, case: Case) -> tuple[str, str]:
    """("allowed", "") when the action worked with no violation, ("refused", message) when
    the server sent a permissions violation; anything else is a failure of the test."""
    errors: asyncio.Queue[str] = asyncio.Queue()
    nc = await env.connect(case.user, errors)
    try:
        action = asyncio.create_task(case.action(env, nc, case.target))
        violation = asyncio.create_task(errors.get())
        done, _ = await asyncio.wait(
            {action, violation}, timeout=10, return_when=asyncio.FIRST_COMPLETED
        )
        if violation in done:
            action.cancel()
            return "refused", violation.result()
        violation.cancel()
        if action not in done:
            return "timed out", ""
        if action.exception() is not None:
            return "failed", repr(action.exception())
        await nc.flush()
        return ("refused", errors.get_nowait()) if not errors.empty() else ("allowed", "")
    finally:
        await nc.close()


def _id(case: Case) -> str:
    verdict = "may" if case.allowed else "may-not"
    return f"{case.user}-{verdict}-{case.action.__name__}-{case.target}"


@pytest.mark.parametrize("case", [*CASES, *_matrix(REFERENCE)], ids=_id)
def test_role_permissions_are_enforced_by_the_server(env: Env, case: Case) -> None:
    outcome, detail = env.loop.run(attempt(env, case))
    if case.allowed:
        assert (outcome, detail) == ("allowed", ""), case.why
    else:
        pattern = (case.refused or case.target.partition(" ")[0]).lower()
        assert outcome == "refused", f"{case.why}: {outcome} {detail}"
        violation = VIOLATION.match(detail)
        assert violation, detail
        assert is_subset(violation.group(2), pattern), f"{case.why}: {detail}"
