"""Tests on Debian test hosts with real systemd (deploykit.testing.hosts): skipped, with the
reason, only where hosts cannot be made (not root, or no systemd-nspawn/debootstrap)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from deploykit.testing.engine import Engine, EngineUnavailable, pulumi_engine
from deploykit.testing.hosts import hosts_unavailable


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    why = hosts_unavailable()
    for item in items:
        if why and item.get_closest_marker("hosts"):
            item.add_marker(pytest.mark.skip(reason=f"test hosts unavailable: {why}"))


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A Pulumi engine of the test's own; skips the test where none can run."""
    try:
        with pulumi_engine(tmp_path / "engine") as made:
            yield made
    except EngineUnavailable as exc:
        pytest.skip(str(exc))
