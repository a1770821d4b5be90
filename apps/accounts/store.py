"""The accounts table, the two statements the service needs, and its request validation."""

from __future__ import annotations

import re
import uuid
from typing import Any

from deploykit.runtime import Reject
from deploykit.runtime.database import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    id uuid PRIMARY KEY,
    email text UNIQUE NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
)
"""

# Idempotent by email: a second create returns the first row (the no-op update makes the
# existing row come back through RETURNING in the same single statement).
UPSERT = """
INSERT INTO accounts (id, email) VALUES (%s, %s)
ON CONFLICT (email) DO UPDATE SET email = EXCLUDED.email
RETURNING id, email, created_at
"""

SELECT = "SELECT id, email, created_at FROM accounts WHERE id = %s"


EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise Reject(400, "the request must be a JSON object")
    return data


def email_of(data: Any) -> str:
    email = _object(data).get("email")
    if not isinstance(email, str) or len(email) > 254 or not EMAIL.match(email.strip()):
        raise Reject(400, "email must be an address like name@example.com")
    return email.strip().lower()


def id_of(data: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(_object(data).get("id")))
    except ValueError:
        raise Reject(400, "id must be a UUID") from None


def as_json(row: tuple[Any, ...]) -> dict[str, str]:
    account_id, email, created_at = row
    return {"id": str(account_id), "email": email, "created_at": created_at.isoformat()}


async def create(db: Database, email: str) -> dict[str, str]:
    row = await db.fetchone(UPSERT, (uuid.uuid4(), email))
    assert row is not None  # RETURNING always yields the inserted or existing row
    return as_json(row)


async def get(db: Database, account_id: uuid.UUID) -> dict[str, str] | None:
    row = await db.fetchone(SELECT, (account_id,))
    return as_json(row) if row else None
