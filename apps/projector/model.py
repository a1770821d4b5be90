"""The read model: accounts by id with their welcomed flag, built from events only.

Applying an event twice changes nothing, so replays and duplicates are harmless.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("apps.projector")

CREATED = "accounts.events.created"
WELCOMED = "accounts.events.welcomed"


@dataclass
class Account:
    email: str
    welcomed: bool = False


class ReadModel:
    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.welcomed = 0
        self.applied = 0
        self.last_seq = 0
        self.last_account = ""

    def apply(self, subject: str, event: Any, seq: int) -> None:
        self.applied += 1
        self.last_seq = seq
        if subject not in (CREATED, WELCOMED):
            return
        try:
            account_id, email = str(event["id"]), str(event["email"])
        except (ValueError, KeyError, TypeError):
            log.error("event %d on %s is not an account, skipping it", seq, subject)
            return
        account = self.accounts.setdefault(account_id, Account(email))
        self.last_account = account_id
        if subject == WELCOMED and not account.welcomed:
            account.welcomed = True
            self.welcomed += 1

    def summary(self) -> dict[str, str]:
        """What discovery shows (NATS Service metadata values are strings)."""
        return {
            "accounts": str(len(self.accounts)),
            "welcomed": str(self.welcomed),
            "last_seq": str(self.last_seq),
            "last_account": self.last_account,
        }
