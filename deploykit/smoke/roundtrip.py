"""Round trips through JetStream on deploykit's own assets, never on production data.

As the core bus's smoke user, on `DEPLOYKIT_SMOKE`, KV `deploykit_smoke` and object store
`deploykit_smoke` (see `naming`): publish and consume back with an acknowledgement; a KV
compare-and-set sequence; an object put, get and delete. Each uses names unique to the run and
removes what it wrote (message, consumer, key history, object) whatever the outcome. The
undo steps are registered before each write, by names unique to the run, so a run cut off by
its timeout removes a write it did not see acknowledged; only the chunks of an object whose
`put` was cut off before its metadata was written stay, until the store's max age (a day).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext
from nats.js.errors import ServiceUnavailableError

from deploykit.jetstream.publish import SETTLE_TIMEOUT, publish_settled
from deploykit.manifest import naming
from deploykit.smoke.context import Context, NatsSession
from deploykit.smoke.results import CheckFailed, Metric, Outcome, passed
from deploykit.smoke.verdicts import millis

__all__ = ["key_value", "object_store", "stream"]

OBJECT_SIZE = 300 * 1024  # three chunks of nats-py's 128 KiB


def _prefix() -> str:
    return naming.SMOKE_SUBJECTS[0].removesuffix(".>")


@dataclass
class _Attempt:
    """The step a check is at (named in its failure) and the steps that undo what it wrote."""

    session: NatsSession
    js: JetStreamContext
    step: str = ""
    undo: list[Callable[[], Awaitable[object]]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def passed(self, done: str) -> Outcome:
        """`done`, then how long the round trip took, its undo included."""
        took = time.monotonic() - self.started
        return passed(f"{done} in {millis(took)}", (), Metric("roundtrip_seconds", took, "s"))

    def failure(self, exc: BaseException) -> CheckFailed:
        if isinstance(exc, nats.js.errors.NoStreamResponseError | ServiceUnavailableError):
            why = "no stream answered (503 no responders)"
        elif isinstance(exc, nats.js.errors.APIError):
            why = f"{exc.description} (error {exc.err_code})"
        elif isinstance(exc, nats.errors.TimeoutError | TimeoutError):
            refusals = [e for e in self.session.errors if "permissions violation" in e.lower()]
            why = f"no answer in time{f' ({refusals[-1]})' if refusals else ''}"
        else:
            why = f"{type(exc).__name__} {exc}".strip()
        return CheckFailed(f"{self.step}: {why}")


@contextlib.asynccontextmanager
async def _attempt(ctx: Context) -> AsyncIterator[_Attempt]:
    """Run a round trip as the core bus's smoke user: a NATS error fails it naming the step;
    what it wrote is undone, last first, whatever the outcome. A failed undo fails a check
    that otherwise passed."""
    session = await ctx.nats(naming.smoke_user(ctx.manifest.core_bus))
    attempt = _Attempt(session, session.client.jetstream(timeout=ctx.budget(3.0)))
    problems = []
    try:
        yield attempt
    except (nats.errors.Error, TimeoutError) as exc:
        raise attempt.failure(exc) from None
    finally:
        for undo in reversed(attempt.undo):
            try:
                await undo()
            except (nats.errors.Error, TimeoutError) as exc:
                problems.append(f"{type(exc).__name__} {exc}".strip())
    if problems:
        raise CheckFailed(f"could not remove what the check wrote: {'; '.join(problems)}")


async def stream(ctx: Context) -> Outcome:
    subject = f"{_prefix()}.{ctx.run_id}"
    payload = f"deploykit smoke {ctx.run_id}".encode()
    name = f"smoke-{ctx.run_id}"
    async with _attempt(ctx) as attempt:
        js = attempt.js
        attempt.undo.append(lambda: js.purge_stream(naming.SMOKE_STREAM, subject=subject))
        attempt.step = f"publish to {subject}"
        ack = await publish_settled(
            js, subject, payload, timeout=ctx.budget(SETTLE_TIMEOUT), stream=naming.SMOKE_STREAM
        )
        config = ConsumerConfig(
            name=name,
            filter_subject=subject,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            inactive_threshold=60.0,
            num_replicas=1,
            mem_storage=True,
        )
        attempt.undo.append(lambda: _delete_consumer(js, name))
        attempt.step = f"create consumer {naming.SMOKE_STREAM}/{name}"
        await js.add_consumer(naming.SMOKE_STREAM, config)
        attempt.step = f"fetch from {naming.SMOKE_STREAM}/{name}"
        sub = await js.pull_subscribe_bind(consumer=name, stream=naming.SMOKE_STREAM)
        try:
            msg = await _fetch_one(ctx, sub)
        except nats.errors.TimeoutError:
            raise CheckFailed(
                f"published {subject} (seq {ack.seq}) but could not fetch it back"
            ) from None
        finally:
            await sub.unsubscribe()
        if msg.data != payload:
            raise CheckFailed(f"fetched {msg.data[:60]!r} from {subject}, published {payload!r}")
        attempt.step = f"acknowledge seq {ack.seq}"
        await msg.ack_sync(timeout=ctx.budget(3.0))
        info = await js.consumer_info(naming.SMOKE_STREAM, name)
        if info.ack_floor is None or info.ack_floor.stream_seq != ack.seq:
            raise CheckFailed(f"the acknowledgement of seq {ack.seq} was not recorded")
    return attempt.passed(
        f"published to {subject} (stream {ack.stream}, seq {ack.seq}), fetched it back and "
        "acknowledged it"
    )


async def key_value(ctx: Context) -> Outcome:
    bucket = naming.SMOKE_BUCKET
    key = f"run-{ctx.run_id}"
    async with _attempt(ctx) as attempt:
        js = attempt.js
        attempt.step = f"open KV {bucket}"
        kv = await js.key_value(bucket)
        attempt.undo.append(lambda: js.purge_stream(f"KV_{bucket}", subject=f"$KV.{bucket}.{key}"))
        attempt.step = f"create {bucket}/{key}"
        first = await kv.create(key, b"1")
        attempt.step = f"update {bucket}/{key} at revision {first}"
        second = await kv.update(key, b"2", last=first)
        attempt.step = f"update {bucket}/{key} at the stale revision {first}"
        try:
            await kv.update(key, b"3", last=first)
        except nats.js.errors.KeyWrongLastSequenceError:
            pass
        else:
            raise CheckFailed(f"{bucket}: an update with the stale revision {first} was accepted")
        attempt.step = f"delete {bucket}/{key}"
        await kv.delete(key, last=second)
        last = await js.get_last_msg(f"KV_{bucket}", f"$KV.{bucket}.{key}")  # from the leader
        if (last.headers or {}).get("KV-Operation") != "DEL":
            raise CheckFailed(f"{bucket}: key {key} still reads {last.data!r} after delete")
    return attempt.passed(
        f"{bucket}: create (rev {first}), update with the right revision (rev {second}), "
        "stale update refused, delete,"
    )


async def object_store(ctx: Context) -> Outcome:
    store = naming.SMOKE_OBJECT_STORE
    name = f"run-{ctx.run_id}"
    data = os.urandom(OBJECT_SIZE)
    async with _attempt(ctx) as attempt:
        js = attempt.js
        attempt.step = f"open object store {store}"
        obs = await js.object_store(store)
        attempt.undo.append(lambda: _purge_object(js, store, name))
        attempt.step = f"put {store}/{name}"
        info = await obs.put(name, data)
        attempt.step = f"get {store}/{name}"
        got = await obs.get(name)
        if got.data != data:
            raise CheckFailed(
                f"{store}/{name}: read back {len(got.data or b'')} bytes that differ from the "
                f"{len(data)} written (sha256 {hashlib.sha256(data).hexdigest()[:12]})"
            )
        attempt.step = f"delete {store}/{name}"
        await obs.delete(name)
        meta = await js.get_last_msg(f"OBJ_{store}", _meta_subject(store, name))  # from the leader
        if not json.loads(meta.data or b"{}").get("deleted"):
            raise CheckFailed(f"{store}/{name} is not marked deleted after delete")
    return attempt.passed(
        f"{store}: put {info.size} bytes in {info.chunks} chunks, read them back, deleted,"
    )


async def _delete_consumer(js: JetStreamContext, name: str) -> None:
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await js.delete_consumer(naming.SMOKE_STREAM, name)


async def _purge_object(js: JetStreamContext, store: str, name: str) -> None:
    """Remove every trace of the object: its chunks (named in its metadata), its metadata."""
    stream, meta = f"OBJ_{store}", _meta_subject(store, name)
    try:
        info = json.loads((await js.get_last_msg(stream, meta)).data or b"{}")
    except nats.js.errors.NotFoundError:
        return
    if info.get("nuid"):
        await js.purge_stream(stream, subject=f"$O.{store}.C.{info['nuid']}")
    await js.purge_stream(stream, subject=meta)


def _meta_subject(store: str, name: str) -> str:
    """Where nats-py (like nats.go) keeps an object's metadata: its name, base64url-encoded."""
    return f"$O.{store}.M.{base64.urlsafe_b64encode(name.encode()).decode()}"


async def _fetch_one(ctx: Context, sub: JetStreamContext.PullSubscription) -> Msg:
    """Fetch one message, retrying while the new consumer is not yet reachable (503).

    A consumer just created on another server of the cluster answers pull requests only once
    the route has learnt of its subscription, a few milliseconds later.
    """
    while True:
        try:
            (msg,) = await sub.fetch(1, timeout=ctx.budget(3.0))
            return msg
        except ServiceUnavailableError:
            if ctx.remaining() < 0.5:
                raise
            await asyncio.sleep(0.05)
