"""Cross-bus paths on a real nats-server configured by the permission compiler: each declared
path crosses (a request is answered, a consumer on another bus is read and acked, a sourcing
stream fills), and what was not declared does not, even for a user whose own permissions
would allow it: only the imports cross the account boundary.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import nats
import nats.errors
import pytest

from deploykit.jetstream.api import connect
from deploykit.jetstream.desired import consumer_config
from deploykit.jetstream.plan import Plan
from deploykit.jetstream.reconcile import plan, reconcile
from deploykit.laws.authconf import generate_passwords, render_accounts_block
from deploykit.laws.permissions import compile_authorization
from deploykit.local.nats import LocalNats, local_cluster
from deploykit.manifest import naming
from deploykit.manifest.load import load_manifest
from deploykit.manifest.model import Manifest
from deploykit.smoke.checks import catalogue
from deploykit.smoke.context import Context
from deploykit.smoke.results import Outcome, Status
from deploykit.stack.outputs import NatsCredential, NatsOutputs, StackOutputs
from deploykit.testing.polling import retry_async, wait_until_async

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "three-buses" / "deploykit.yaml"
BUSES = ("core", "billing", "analytics")


def anything(bus: str) -> str:
    """A test-only user of `bus` allowed every subject of its account."""
    return f"anything-{bus}"


class Server:
    def __init__(self, manifest: Manifest, cluster: LocalNats, passwords: dict[str, str]) -> None:
        self.manifest, self.cluster, self.passwords = manifest, cluster, passwords

    async def connect(self, user: str) -> nats.NATS:
        return await nats.connect(
            self.cluster.urls,
            user=user,
            password=self.passwords[user],
            inbox_prefix=naming.inbox_prefix(user),
            allow_reconnect=False,
        )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    manifest = load_manifest(EXAMPLE)
    authorization = compile_authorization(manifest)
    passwords = generate_passwords(authorization)
    accounts = render_accounts_block(authorization, passwords)
    for bus in BUSES:
        passwords[anything(bus)] = f"{bus}-password"
        accounts[bus]["users"].append(
            {
                "user": anything(bus),
                "password": passwords[anything(bus)],
                "permissions": {"publish": {"allow": [">"]}, "subscribe": {"allow": [">"]}},
            }
        )
    with local_cluster(tmp_path_factory.mktemp("crossbus"), 1, accounts) as cluster:
        yield Server(manifest, cluster, passwords)


async def _answer(server: Server, subject: str) -> nats.NATS:
    nc = await server.connect("invoices")

    async def reply(msg: nats.aio.msg.Msg) -> None:
        await msg.respond(json.dumps({"invoice": msg.data.decode()}).encode())

    await nc.subscribe(subject, queue="q", cb=reply)
    await nc.flush()
    return nc


def test_a_core_frontend_request_crosses_to_billing_and_is_answered(server: Server) -> None:
    async def run() -> dict:
        responder = await _answer(server, "billing.rpc.invoice")
        gateway = await server.connect("gateway")
        try:
            reply = await gateway.request("billing.rpc.invoice", b"acct-1", timeout=5)
            return json.loads(reply.data)
        finally:
            await gateway.close()
            await responder.close()

    assert asyncio.run(run()) == {"invoice": "acct-1"}


def test_an_undeclared_billing_subject_is_not_reachable_from_core(server: Server) -> None:
    """Even a core user allowed every subject reaches billing only through the imports: a
    responder on a billing subject nobody declared gets nothing, the request has no
    responders; the declared endpoint still answers that user (the import is the account's)."""

    async def run() -> tuple[bool, bytes]:
        responder = await _answer(server, "billing.rpc.secret")
        anything_core = await server.connect(anything("core"))
        try:
            try:
                await anything_core.request("billing.rpc.secret", b"x", timeout=2)
                crossed = True
            except nats.errors.NoRespondersError:
                crossed = False
            await responder.subscribe("billing.rpc.invoice", queue="q", cb=_echo(responder))
            await responder.flush()
            # the new responder's interest reaches the importing account a moment later under
            # load ("no responders" meanwhile): wait for it, bounded
            declared = await retry_async(
                lambda: anything_core.request("billing.rpc.invoice", b"y", timeout=5),
                15,
                "the declared billing endpoint to answer across the import",
                ignoring=(nats.errors.NoRespondersError,),
            )
            return crossed, declared.data
        finally:
            await anything_core.close()
            await responder.close()

    crossed, declared = asyncio.run(run())
    assert not crossed
    assert declared == b"y"


def _echo(nc: nats.NATS):
    async def echo(msg: nats.aio.msg.Msg) -> None:
        await msg.respond(msg.data)

    return echo


def _provisioning(server: Server) -> dict[str, NatsCredential]:
    return {
        bus: NatsCredential(
            account=bus,
            role="provisioning",
            user=naming.provisioning_user(bus),
            password=server.passwords[naming.provisioning_user(bus)],
            inbox_prefix=naming.inbox_prefix(naming.provisioning_user(bus)),
        )
        for bus in server.manifest.buses
    }


async def _define(server: Server) -> None:
    """The reconciler, as each bus's provisioning user: the consumer across buses on the core
    bus, the copy (a source through the imported API) on the analytics bus."""
    await asyncio.to_thread(reconcile, server.cluster.url, _provisioning(server), server.manifest)


async def _plans(server: Server) -> dict[str, Plan]:
    plans = {}
    for bus, credential in _provisioning(server).items():
        conn = await connect(server.cluster.url, credential)
        try:
            plans[bus] = await plan(conn, server.manifest, bus)
        finally:
            await conn.close()
    return plans


def test_events_cross_by_consumer_and_by_copy(server: Server) -> None:
    """ACCOUNTS (core) is read by the billing worker through its queue consumer, imported
    under the core bus's API prefix, and copied (only `accounts.events.created`) into SIGNUPS
    on the analytics bus."""

    async def run() -> tuple[bytes, int, int]:
        await _define(server)
        accounts = await server.connect("accounts")
        try:
            js = accounts.jetstream()
            await js.publish("accounts.events.created", b'{"id": "1"}')
        finally:
            await accounts.close()
        worker = await server.connect("invoicer")
        try:
            js = worker.jetstream(prefix=f"{naming.crossbus_api('core')}")
            sub = await js.pull_subscribe_bind("invoicer", stream="ACCOUNTS")
            (msg,) = await sub.fetch(1, timeout=5)
            await msg.ack_sync(timeout=5)
            data = msg.data
        finally:
            await worker.close()
        admin = await server.connect(anything("core"))
        try:
            info = await admin.jetstream().consumer_info("ACCOUNTS", "invoicer")
            acked = info.ack_floor.stream_seq
        finally:
            await admin.close()
        analytics = await server.connect(naming.smoke_user("analytics"))
        try:

            async def copied() -> int:
                reply = await analytics.request("$JS.API.STREAM.INFO.SIGNUPS", b"", 2)
                return json.loads(reply.data)["state"]["messages"]

            count = await wait_until_async(copied, 10, "the copy of accounts.events.created")
        finally:
            await analytics.close()
        return data, acked, count

    data, acked, count = asyncio.run(run())
    assert data == b'{"id": "1"}'
    assert acked == 1
    assert count == 1
    # applied, the source and the consumer across buses are what was declared: no drift
    plans = asyncio.run(_plans(server))
    assert {bus: p.steps for bus, p in plans.items()} == {bus: () for bus in plans}
    assert "stream SIGNUPS" in plans["analytics"].unchanged


def test_a_consumer_not_declared_across_is_not_reachable(server: Server) -> None:
    """The billing bus imports one consumer of ACCOUNTS; another consumer of that stream, under
    the same prefix, is not there (the request finds no responders)."""

    async def run() -> bool:
        provisioning = await server.connect(naming.provisioning_user("core"))
        try:
            config = {**consumer_config(server.manifest.services["invoicer"].consumes[0], "x")}
            config |= {"name": "other", "durable_name": "other"}
            body = {"stream_name": "ACCOUNTS", "config": config}
            await provisioning.request(
                "$JS.API.CONSUMER.CREATE.ACCOUNTS.other.accounts.events.created",
                json.dumps(body).encode(),
                5,
            )
        finally:
            await provisioning.close()
        billing = await server.connect(anything("billing"))
        prefix = naming.crossbus_api("core")
        try:
            declared = await billing.request(f"{prefix}.CONSUMER.INFO.ACCOUNTS.invoicer", b"", 5)
            assert json.loads(declared.data)["name"] == "invoicer"
            try:
                await billing.request(f"{prefix}.CONSUMER.INFO.ACCOUNTS.other", b"", 2)
            except nats.errors.NoRespondersError:
                return False
            return True
        finally:
            await billing.close()

    assert asyncio.run(run()) is False


def _outputs(server: Server) -> StackOutputs:
    authorization = compile_authorization(server.manifest)
    credentials = {
        user.name: NatsCredential(
            account=authorization.account_of(user.name),
            role=user.role.value,
            service=user.service,
            user=user.name,
            password=server.passwords[user.name],
            inbox_prefix=user.inbox_prefix,
        )
        for user in authorization.users.values()
    }
    nats_outputs = NatsOutputs(urls=server.cluster.urls, credentials=credentials)
    return StackOutputs(target="local", system=server.manifest.system, nats=nats_outputs)


def test_smoke_proves_each_path_and_refuses_its_undeclared_neighbour(server: Server) -> None:
    """The smoke checks of the `crossbus` group, as a deployment's users: every path passes
    while the callee answers; the call fails, naming the cause, while nobody answers."""

    async def run() -> tuple[dict[str, Outcome], Outcome]:
        await _define(server)
        checks = [c for c in catalogue(server.manifest, _outputs(server)) if c.group == "crossbus"]
        ctx = Context(server.manifest, _outputs(server), 30, "test")
        try:
            (call,) = [c for c in checks if c.name.startswith("crossbus.call.")]
            unanswered = await call.run(ctx)
            responder = await _answer(server, "billing.rpc.invoice")
            try:
                outcomes = {c.name: await c.run(ctx) for c in checks}
            finally:
                await responder.close()
        finally:
            await ctx.close()
        return outcomes, unanswered

    outcomes, unanswered = asyncio.run(run())
    assert sorted(outcomes) == [
        "crossbus.call.services.gateway.calls[1]",
        "crossbus.consumer.services.invoicer.consumes[0]",
        "crossbus.refused.services.gateway.calls[1]",
        "crossbus.refused.services.invoicer.consumes[0]",
        "crossbus.refused.streams.SIGNUPS.sources[0]",
        "crossbus.source.streams.SIGNUPS.sources[0]",
    ]
    wrong = {n: o.message for n, o in outcomes.items() if o.status is not Status.PASS}
    assert wrong == {}
    assert unanswered.status is Status.FAIL
    assert "no responders" in unanswered.message
    print("\n" + "\n".join(f"{n}: {o.message}" for n, o in outcomes.items()))


def test_a_source_changed_out_of_band_is_drift_and_apply_puts_it_back(server: Server) -> None:
    async def run() -> tuple[list[str], list[str], str]:
        await _define(server)
        admin = await server.connect(anything("analytics"))
        try:
            reply = await admin.request("$JS.API.STREAM.INFO.SIGNUPS", b"", 5)
            config = json.loads(reply.data)["config"]
            config["sources"][0]["filter_subject"] = "accounts.events.>"
            await admin.request("$JS.API.STREAM.UPDATE.SIGNUPS", json.dumps(config).encode(), 5)
        finally:
            await admin.close()
        drifted = await _plans(server)
        changes = [
            f"{s.action} {s.label}: {', '.join(c.field for c in s.changes)}"
            for s in drifted["analytics"].steps
        ]
        await _define(server)
        after = await _plans(server)
        analytics = await server.connect(anything("analytics"))
        try:
            reply = await analytics.request("$JS.API.STREAM.INFO.SIGNUPS", b"", 5)
            (source,) = json.loads(reply.data)["config"]["sources"]
        finally:
            await analytics.close()
        return changes, [s.label for p in after.values() for s in p.steps], source["filter_subject"]

    changes, remaining, restored = asyncio.run(run())
    assert changes == ["update stream SIGNUPS: sources"]
    assert remaining == []
    assert restored == "accounts.events.created"
