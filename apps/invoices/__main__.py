"""invoices (rpc, the billing bus of examples/three-buses): answers `get` on billing.rpc.invoice,
which the core bus's gateway calls across buses (an import of exactly that subject).

It keeps no state of its own: the answer names the account and the bus that answered, which is
what the example shows; an invoice store is the application's business, not the kit's.
"""

from typing import Any

from deploykit.runtime import Reject, Request, Service

service = Service("answers invoice requests on the billing bus")


@service.endpoint("get")
async def get(request: Request) -> dict[str, Any]:
    try:
        account = request.data["account"]
    except (KeyError, TypeError):
        raise Reject(400, 'expected {"account": "<id>"}') from None
    return {"account": account, "bus": "billing"}


service.run()
