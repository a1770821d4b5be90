"""A local nats-server whose accounts and users are a manifest's compiled authorization: every
user of the system with a password of its own and exactly the permissions a deployed system
gives it, so a test can act as any of them and the server, not the test, says what is allowed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client

from deploykit.laws.authconf import generate_passwords, render_accounts_block
from deploykit.laws.permissions import compile_authorization
from deploykit.local.nats import LocalNats, local_cluster
from deploykit.manifest import naming
from deploykit.manifest.model import Manifest

__all__ = ["NatsUsers", "nats_with_users"]


@dataclass
class NatsUsers:
    """The running server, and the password of each user of the manifest."""

    manifest: Manifest
    cluster: LocalNats
    passwords: dict[str, str]

    def credential(self, user: str) -> dict[str, Any]:
        """`nats.connect` options to be `user`: its password and its own inbox prefix."""
        return {
            "user": user,
            "password": self.passwords[user],
            "inbox_prefix": naming.inbox_prefix(user),
        }

    async def connect(self, user: str, **options: Any) -> Client:
        return await nats.connect(self.cluster.urls, **self.credential(user), **options)


@contextlib.contextmanager
def nats_with_users(directory: Path, manifest: Manifest, size: int = 1) -> Iterator[NatsUsers]:
    """Start `size` nodes in `directory` with the manifest's accounts; stop them afterwards."""
    authorization = compile_authorization(manifest)
    passwords = generate_passwords(authorization)
    accounts = render_accounts_block(authorization, passwords)
    with local_cluster(directory, size, accounts) as cluster:
        yield NatsUsers(manifest, cluster, passwords)
