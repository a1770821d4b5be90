"""A hand-written authorization document for the reference deploykit.yaml, standing in for the
permission compiler's output (`deploykit.permissions.render_authorization_json`) until it merges.

Shape assumed: accounts → users → Synadia `jwt_settings` (pub/sub allow/deny, resp).
"""

from __future__ import annotations

from typing import Any

__all__ = ["AUTHORIZATION"]


def _user(pub: list[str], sub: list[str], *, resp: bool = False) -> dict[str, Any]:
    user: dict[str, Any] = {"pub": {"allow": pub}, "sub": {"allow": sub, "deny": ["$SYS.>"]}}
    if resp:
        user["resp"] = {"max": 1, "ttl": 0}
    return user


AUTHORIZATION: dict[str, Any] = {
    "accounts": {
        "core": {
            "users": {
                "gateway": _user(
                    ["accounts.rpc.create", "accounts.rpc.get", "$JS.API.DIRECT.GET.KV_flags.>"],
                    ["_INBOX_gateway.>"],
                ),
                "accounts": _user(
                    ["accounts.events.created", "$JS.API.>", "$O.exports.>"],
                    ["accounts.rpc.create", "accounts.rpc.get", "_INBOX_accounts.>"],
                    resp=True,
                ),
                "welcome": _user(
                    ["accounts.events.welcomed", "$JS.API.CONSUMER.MSG.NEXT.ACCOUNTS.welcome", "$JS.ACK.ACCOUNTS.welcome.>"],
                    ["_INBOX_welcome.>"],
                ),
                "projector": _user(
                    ["$JS.API.CONSUMER.CREATE.ACCOUNTS.>", "$JS.ACK.ACCOUNTS.>"],
                    ["_INBOX_projector.>"],
                ),
                "smoke-core": _user(["accounts.rpc.>", "deploykit.smoke.>"], ["_INBOX_smoke-core.>", "accounts.events.>"]),
                "provisioning-core": _user(["$JS.API.>"], ["_INBOX_provisioning-core.>"]),
            }
        },
        "analytics": {
            "users": {
                "smoke-analytics": _user(["$JS.API.STREAM.INFO.PAGEVIEWS"], ["_INBOX_smoke-analytics.>"]),
                "provisioning-analytics": _user(["$JS.API.>"], ["_INBOX_provisioning-analytics.>"]),
            }
        },
    }
}  # fmt: skip
