"""Fixtures for integration tests that need more than NATS."""

from __future__ import annotations

from collections.abc import Iterator

import pgserver
import pytest


@pytest.fixture(scope="session")
def postgres_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PostgreSQL 16 from the pgserver package, which runs it as its own `pgserver` system
    user when tests run as root (PostgreSQL refuses root). It listens on a Unix socket; the URI
    says where. To be replaced by the kit's own runner (deploykit.localpg) once it exists."""
    server = pgserver.get_server(tmp_path_factory.mktemp("postgres") / "data", cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
