"""invoicer (worker, the billing bus of examples/three-buses): the queue consumer `invoicer` on
the core bus's ACCOUNTS stream; for each created account it emits billing.events.invoiced, once.

The consumer lives on the core bus (that bus's reconciler creates it) and is read through the
JetStream API the core bus exports to billing, as deploykit.yaml's wiring says; the event goes
to the billing bus's own stream. Its id is `invoiced-<account id>`, so a redelivery stores it
once; the runtime acks the core event only once the billing event is stored.
"""

import logging

from deploykit.runtime import Event, PayloadError, Service

log = logging.getLogger("apps.invoicer")

service = Service("invoices each new account of the core bus")


@service.consumer("invoicer")
async def invoice(event: Event) -> None:
    try:
        account = str(event.data["id"])
    except (KeyError, TypeError):
        raise PayloadError("not an account") from None
    event.emit("billing.events.invoiced", {"account": account}, id=f"invoiced-{account}")
    log.info("account %s invoiced; billing.events.invoiced follows", account)


service.run()
