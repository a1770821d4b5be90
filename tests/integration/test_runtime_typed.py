"""Typed models on the runtime, on a real nats-server: a consumer annotated `Event[Model]` gets
models, its model emits are stored as the contract's JSON, an endpoint takes and returns models,
a caller parses the reply into one, and an event that breaks its contract never reaches the
typed handler (it is dead-lettered with the reason)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
import pytest
from nats.js.api import ConsumerConfig, StreamConfig

from deploykit.local.nats import LocalNats
from deploykit.local.ports import free_ports
from deploykit.manifest.load import parse_manifest
from deploykit.manifest.wiring import wiring_for
from deploykit.runtime import Event, Request, Service
from deploykit.runtime.codegen import load_models
from deploykit.runtime.settings import Exporter, Settings
from deploykit.testing.polling import wait_until_async

pytestmark = pytest.mark.integration

MANIFEST = parse_manifest(
    """
version: 1
system: ty
buses: {core: {}}
streams:
  TY: {subjects: ["ty.>"], replicas: 1, max_age: 1d, backup: true, duplicate_window: 2m}
services:
  tywork:
    role: worker
    consumes:
      - {stream: TY, consumer: work, mode: queue, filter: ty.in, max_deliver: 2, dead_letter: ty.dead}
    emits: [ty.out]
  tyrpc:
    role: rpc
    endpoints: {price: {subject: tyrpc.price}}
  tyweb:
    role: frontend
    calls: [tyrpc.price]
contracts:
  ty.in:
    schema:
      type: object
      required: [id, at, qty]
      properties:
        id: {type: string, format: uuid}
        at: {type: string, format: date-time}
        qty: {type: integer, minimum: 1}
  ty.out:
    schema:
      type: object
      required: [id, total]
      properties: {id: {type: string, format: uuid}, total: {type: number}}
  tyrpc.price:
    request: {type: object, required: [qty], properties: {qty: {type: integer}}}
    reply: {type: object, required: [total], properties: {total: {type: number}}}
""",
    "typed.yaml",
)
MODELS = load_models(
    {
        subject: contract.model_dump(by_alias=True, exclude_none=True)
        for subject, contract in MANIFEST.contracts.items()
    }
)
TyIn = MODELS["TyIn"]
TyOut = MODELS["TyOut"]
TyrpcPriceRequest = MODELS["TyrpcPriceRequest"]
TyrpcPriceReply = MODELS["TyrpcPriceReply"]


async def fresh_stream(url: str) -> None:
    nc = await nats.connect(url)
    js = nc.jetstream()
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await js.delete_stream("TY")
    await js.add_stream(StreamConfig(name="TY", subjects=["ty.>"], duplicate_window=120))
    config = ConsumerConfig(durable_name="work", filter_subject="ty.in", max_deliver=2)
    await js.add_consumer("TY", config)
    await nc.close()


def settings(url: str, name: str) -> Settings:
    return Settings(
        service=name,
        nats_urls=[url],
        inbox_prefix=f"_INBOX_{name}",
        wiring=wiring_for(MANIFEST, name),
        exporter=Exporter.NONE,
        port=free_ports(1)[0] if name == "tyweb" else None,
    )


async def stored(js: Any, subject: str) -> list[Any]:
    info = await js.stream_info("TY")
    found = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg("TY", seq)
        if msg.subject == subject:
            found.append(msg)
    return found


def test_the_runtime_hands_typed_models_over_and_stores_what_they_serialise(
    nats_single: LocalNats,
) -> None:
    seen: list[Any] = []
    worker, rpc, web = Service("typed worker"), Service("typed rpc"), Service("typed frontend")

    @worker.consumer("work")
    async def work(event: Event[TyIn]) -> None:
        seen.append(event.data)
        total = event.data.qty * 2.5
        event.emit("ty.out", TyOut(id=event.data.id, total=total), id=f"out-{event.data.id}")

    @rpc.endpoint("price")
    async def price(request: Request[TyrpcPriceRequest]) -> Any:
        return TyrpcPriceReply(total=request.data.qty * 2.5)

    async def scenario() -> None:
        url = nats_single.url
        await fresh_stream(url)
        stop = asyncio.Event()
        serving = [
            asyncio.create_task(service.serve(settings(url, name), stop))
            for service, name in ((worker, "tywork"), (rpc, "tyrpc"), (web, "tyweb"))
        ]
        nc = await nats.connect(url)
        try:
            for service in (worker, rpc, web):
                await asyncio.wait_for(service.ready.wait(), 20)
            js = nc.jetstream()
            good = {"id": str(uuid.uuid4()), "at": "2026-12-06T07:00:00+01:00", "qty": 3}
            await js.publish(
                "ty.in", json.dumps({"id": "not-a-uuid", "at": "x", "qty": 3}).encode()
            )
            await js.publish("ty.in", json.dumps(good).encode())

            outs = await wait_until_async(lambda: stored(js, "ty.out"), 15, "the typed emit")
            assert json.loads(outs[0].data) == {"id": good["id"], "total": 7.5}
            assert len(seen) == 1, "the event that breaks the contract never reached the handler"
            assert isinstance(seen[0], TyIn) and seen[0].id == uuid.UUID(good["id"])
            assert seen[0].at == datetime(2026, 12, 6, 6, 0, tzinfo=UTC)
            assert seen[0].at.utcoffset() == timedelta(hours=1)
            dead = await wait_until_async(lambda: stored(js, "ty.dead"), 15, "the dead letter")
            reason = (dead[0].headers or {})["Deploykit-Error"]
            assert reason.startswith("payload: ty.in breaks its event contract v1: "), reason
            assert "$.id: 'not-a-uuid' is not a 'uuid'" in reason, reason

            reply = await web.request(
                "tyrpc.price", TyrpcPriceRequest(qty=4), reply=TyrpcPriceReply
            )
            assert isinstance(reply, TyrpcPriceReply) and reply.total == 10.0
            raw = await nc.request("tyrpc.price", b'{"qty": 2}', timeout=5)
            assert json.loads(raw.data) == {"total": 5.0}
        finally:
            await nc.close()
            stop.set()
            await asyncio.gather(*serving)

    asyncio.run(asyncio.wait_for(scenario(), 60))
