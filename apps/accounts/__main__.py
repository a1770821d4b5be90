"""accounts (rpc): owns the accounts; answers `create` and `get`, emits accounts.events.created.

`create` is idempotent by email (a retried request gets the same account) and its event's id
is the account id, so a retry stores the event once.
"""

from apps.accounts import store
from deploykit.runtime import Reject, Request, Service

service = Service("owns accounts; emits accounts.events.created", schema=store.SCHEMA)


@service.endpoint("create")
async def create(request: Request) -> dict[str, str]:
    account = await store.create(service.db, store.email_of(request.data))
    await service.emit("accounts.events.created", account, id=account["id"])
    return account


@service.endpoint("get")
async def get(request: Request) -> dict[str, str]:
    account = await store.get(service.db, store.id_of(request.data))
    if account is None:
        raise Reject(404, "account not found")
    return account


service.run()
