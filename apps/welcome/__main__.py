"""welcome (worker, queue consumer `welcome` on accounts.events.created): records each new
account in its own database and emits accounts.events.welcomed, once.

Delivery is at least once, so both effects are idempotent: the row is keyed by the account id
(`ON CONFLICT DO NOTHING`) and the event's id is `welcomed-<account id>`. The runtime publishes
the event after this handler returns and acks the message only once the event is stored.
"""

import logging
import uuid

from deploykit.runtime import Event, PayloadError, Service

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
async def welcome(event: Event) -> None:
    try:
        account_id, email = uuid.UUID(event.data["id"]), str(event.data["email"])
    except (ValueError, KeyError, TypeError):
        raise PayloadError("not an account") from None
    new = await service.db.execute(INSERT, (account_id, email))
    event.emit(
        "accounts.events.welcomed",
        {"id": str(account_id), "email": email},
        id=f"welcomed-{account_id}",
    )
    what = "welcomed" if new else "already welcomed (redelivery)"
    log.info("account %s %s; accounts.events.welcomed follows", account_id, what)


service.run()
