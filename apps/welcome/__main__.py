"""welcome (worker, queue consumer `welcome` on accounts.events.created): records each new
account in its own database and emits accounts.events.welcomed, once.

Delivery is at least once, so both effects are idempotent: the row is keyed by the account id
(`ON CONFLICT DO NOTHING`) and the event's id is `welcomed-<account id>`. The runtime publishes
the event after this handler returns and acks the message only once the event is stored.

The payloads are typed by the models generated from deploykit.yaml's contracts
(apps/contracts.py): the runtime checks the created event against its contract and hands it
over as an `AccountsEventsCreated`; one that breaks the contract goes to the dead-letter
subject with the reason, never to this handler.
"""

import logging

from apps.contracts import AccountsEventsCreated, AccountsEventsWelcomed
from deploykit.runtime import Event, Service

log = logging.getLogger("apps.welcome")

SCHEMA = """
CREATE TABLE IF NOT EXISTS welcomes (
    account_id uuid PRIMARY KEY,
    email text NOT NULL,
    welcomed_at timestamptz NOT NULL DEFAULT now()
)
"""
INSERT = "INSERT INTO welcomes (account_id, email) VALUES (%s, %s) ON CONFLICT DO NOTHING"

service = Service("welcomes each new account, once", schema=SCHEMA)


@service.consumer("welcome")
async def welcome(event: Event[AccountsEventsCreated]) -> None:
    account = event.data
    new = await service.db.execute(INSERT, (account.id, account.email))
    event.emit(
        "accounts.events.welcomed",
        AccountsEventsWelcomed(id=account.id, email=account.email),
        id=f"welcomed-{account.id}",
    )
    what = "welcomed" if new else "already welcomed (redelivery)"
    log.info("account %s %s; accounts.events.welcomed follows", account.id, what)


service.run()
