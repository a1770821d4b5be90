"""projector (worker, fanout consumer `projector` on ACCOUNTS, warm-up): keeps an in-memory
read model of accounts, each instance its own, and never emits.

The runtime replays the whole stream into it before the instance joins discovery, so the first
discovery answer of a new instance already counts the whole history. The read model is shown,
read-only, in the service's discovery metadata (`$SRV.PING.projector`).
"""

from apps.projector.model import ReadModel
from deploykit.runtime import Event, Service

service = Service("in-memory read model of accounts; see metadata", batch=256)
model = ReadModel()
service.metadata.update(model.summary())


@service.consumer("projector")
async def project(event: Event) -> None:
    model.apply(event.subject, event.data, event.seq)
    service.metadata.update(model.summary())


service.run()
