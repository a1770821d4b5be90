"""Round trips through JetStream on deploykit's own assets, never on production data.

As the core bus's smoke user, on `DEPLOYKIT_SMOKE`, KV `deploykit_smoke` and object store
`deploykit_smoke` (see `naming`): publish and consume back with an acknowledgement; a KV
compare-and-set sequence; an object put, get and delete. Each uses names unique to the run and
removes what it wrote (message, consumer, key history, object) whatever the outcome.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import nats.errors
import nats.js.errors
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext

from deploykit import naming
from deploykit.smoke.context import Context
from deploykit.smoke.results import CheckFailed, Metric, Outcome, passed
from deploykit.smoke.verdicts import millis

__all__ = ["key_value", "object_store", "stream"]

OBJECT_SIZE = 300 * 1024  # three chunks of nats-py's 128 KiB


def _prefix() -> str:
    return naming.SMOKE_SUBJECTS[0].removesuffix(".>")


@contextlib.asynccontextmanager
async def _cleanup() -> AsyncIterator[list[Callable[[], Awaitable[object]]]]:
    """Undo steps registered while the check runs, last first, whatever the outcome.

    A failed undo fails a check that otherwise passed; a check that failed keeps its cause.
    """
    undo: list[Callable[[], Awaitable[object]]] = []
    problems = []
    try:
        yield undo
    finally:
        for step in reversed(undo):
            try:
                await step()
            except (nats.errors.Error, TimeoutError) as exc:
                problems.append(f"{type(exc).__name__} {exc}".strip())
    if problems:
        raise CheckFailed(f"could not remove what the check wrote: {'; '.join(problems)}")


async def stream(ctx: Context) -> Outcome:
    session = await ctx.nats(naming.smoke_user(ctx.manifest.core_bus))
    js = session.client.jetstream(timeout=ctx.budget(3.0))
    subject = f"{_prefix()}.{ctx.run_id}"
    payload = f"deploykit smoke {ctx.run_id}".encode()
    name = f"smoke-{ctx.run_id}"
    started = time.monotonic()
    async with _cleanup() as undo:
        ack = await js.publish(subject, payload, stream=naming.SMOKE_STREAM)
        undo.append(lambda: js.delete_msg(naming.SMOKE_STREAM, ack.seq))
        config = ConsumerConfig(
            name=name,
            filter_subject=subject,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            inactive_threshold=60.0,
            num_replicas=1,
            mem_storage=True,
        )
        await js.add_consumer(naming.SMOKE_STREAM, config)
        undo.append(lambda: js.delete_consumer(naming.SMOKE_STREAM, name))
        sub = await js.pull_subscribe_bind(consumer=name, stream=naming.SMOKE_STREAM)
        try:
            (msg,) = await sub.fetch(1, timeout=ctx.budget(3.0))
        except nats.errors.TimeoutError:
            raise CheckFailed(
                f"published {subject} (seq {ack.seq}) but could not fetch it back"
            ) from None
        finally:
            await sub.unsubscribe()
        if msg.data != payload:
            raise CheckFailed(f"fetched {msg.data[:60]!r} from {subject}, published {payload!r}")
        await msg.ack_sync(timeout=ctx.budget(3.0))
        info = await js.consumer_info(naming.SMOKE_STREAM, name)
        if info.ack_floor is None or info.ack_floor.stream_seq != ack.seq:
            raise CheckFailed(f"the acknowledgement of seq {ack.seq} was not recorded")
    took = time.monotonic() - started
    return passed(
        f"published to {subject} (stream {ack.stream}, seq {ack.seq}), fetched it back and "
        f"acknowledged it in {millis(took)}",
        (),
        Metric("roundtrip_seconds", took, "s"),
    )


async def key_value(ctx: Context) -> Outcome:
    session = await ctx.nats(naming.smoke_user(ctx.manifest.core_bus))
    js = session.client.jetstream(timeout=ctx.budget(3.0))
    bucket = naming.SMOKE_BUCKET
    key = f"run-{ctx.run_id}"
    started = time.monotonic()
    async with _cleanup() as undo:
        kv = await js.key_value(bucket)
        undo.append(lambda: js.purge_stream(f"KV_{bucket}", subject=f"$KV.{bucket}.{key}"))
        first = await kv.create(key, b"1")
        second = await kv.update(key, b"2", last=first)
        try:
            await kv.update(key, b"3", last=first)
        except nats.js.errors.KeyWrongLastSequenceError:
            pass
        else:
            raise CheckFailed(f"{bucket}: an update with the stale revision {first} was accepted")
        await kv.delete(key, last=second)
        try:
            entry = await kv.get(key)
        except nats.js.errors.KeyNotFoundError:
            entry = None
        if entry is not None:
            raise CheckFailed(f"{bucket}: key {key} still reads {entry.value!r} after delete")
    took = time.monotonic() - started
    return passed(
        f"{bucket}: create (rev {first}), update with the right revision (rev {second}), "
        f"stale update refused, delete, in {millis(took)}",
        (),
        Metric("roundtrip_seconds", took, "s"),
    )


async def object_store(ctx: Context) -> Outcome:
    session = await ctx.nats(naming.smoke_user(ctx.manifest.core_bus))
    js = session.client.jetstream(timeout=ctx.budget(3.0))
    store = naming.SMOKE_OBJECT_STORE
    name = f"run-{ctx.run_id}"
    data = os.urandom(OBJECT_SIZE)
    started = time.monotonic()
    async with _cleanup() as undo:
        obs = await js.object_store(store)
        undo.append(lambda: _purge_object(js, store, name))
        info = await obs.put(name, data)
        got = await obs.get(name)
        if got.data != data:
            raise CheckFailed(
                f"{store}/{name}: read back {len(got.data or b'')} bytes that differ from the "
                f"{len(data)} written (sha256 {hashlib.sha256(data).hexdigest()[:12]})"
            )
        await obs.delete(name)
        try:
            await obs.get(name)
        except (nats.js.errors.ObjectNotFoundError, nats.js.errors.ObjectDeletedError):
            pass
        else:
            raise CheckFailed(f"{store}/{name} can still be read after delete")
    took = time.monotonic() - started
    return passed(
        f"{store}: put {info.size} bytes in {info.chunks} chunks, read them back, deleted, "
        f"in {millis(took)}",
        (),
        Metric("roundtrip_seconds", took, "s"),
    )


async def _purge_object(js: JetStreamContext, store: str, name: str) -> None:
    """Remove every trace of the object: `delete` purges its chunks, but keeps a metadata marker."""
    obs = await js.object_store(store)
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await obs.delete(name)
    encoded = base64.urlsafe_b64encode(name.encode()).decode()
    await js.purge_stream(f"OBJ_{store}", subject=f"$O.{store}.M.{encoded}")
