"""The services the runtime tests run as real processes (`python -m
tests.integration.runtime.service`): `rtwork`, a queue worker, and `rtview`, a fanout read
model. Each appends what it does to RT_RECORD, one line a step, flushed at once, so a test reads
what happened before a kill -9.

rtrpc answers `slow` after RT_DELAY seconds (`start N`, `done N`). rtwork, per message {"n": N, "fail_first": bool, "always_fail": bool}: `start N delivery`, an
idempotent insert into its own database, an emit on rt.out (id derived by the runtime), then
`done N delivery` — after RT_DELAY seconds of "work"; with "emit_bad", the emit breaks the
rt.out contract (n as a string). rtview: `seq S`, per message.
"""

import asyncio
import os

from deploykit.runtime import Event, Request, Service

SCHEMA = "CREATE TABLE IF NOT EXISTS handled (n int PRIMARY KEY)"
DELAY = float(os.environ.get("RT_DELAY", "0"))
RECORD = open(os.environ["RT_RECORD"], "a", buffering=1)  # noqa: SIM115  (open for the process)


def record(line: str) -> None:
    RECORD.write(line + "\n")
    RECORD.flush()  # in the kernel's hands: a kill -9 of the process cannot lose it


if os.environ["DEPLOYKIT_SERVICE"] == "rtwork":
    service = Service("runtime test: queue worker", schema=SCHEMA, batch=8)

    @service.consumer("work")
    async def work(event: Event) -> None:
        n = event.data["n"]
        record(f"start {n} {event.delivered}")
        if event.data.get("always_fail") or (event.data.get("fail_first") and event.delivered == 1):
            raise RuntimeError(f"failing {n} on delivery {event.delivered}")
        await service.db.execute("INSERT INTO handled (n) VALUES (%s) ON CONFLICT DO NOTHING", (n,))
        event.emit("rt.out", {"n": str(n)} if event.data.get("emit_bad") else {"n": n})
        if DELAY:
            await asyncio.sleep(DELAY)
        record(f"done {n} {event.delivered}")

elif os.environ["DEPLOYKIT_SERVICE"] == "rtrpc":
    service = Service("runtime test: a slow endpoint")

    @service.endpoint("slow")
    async def slow(request: Request) -> dict[str, int]:
        record(f"start {request.data['n']}")
        await asyncio.sleep(DELAY)
        record(f"done {request.data['n']}")
        return {"n": request.data["n"]}

else:
    service = Service("runtime test: fanout read model", batch=16)

    @service.consumer("view")
    async def view(event: Event) -> None:
        if DELAY:
            await asyncio.sleep(DELAY)
        record(f"seq {event.seq}")


service.run()
