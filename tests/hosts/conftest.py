"""Tests on Debian test hosts with real systemd (deploykit.testing.hosts): skipped, with the
reason, only where hosts cannot be made (not root, or no systemd-nspawn/debootstrap)."""

from __future__ import annotations

import pytest

from deploykit.testing.hosts import hosts_unavailable


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    why = hosts_unavailable()
    for item in items:
        if why and item.get_closest_marker("hosts"):
            item.add_marker(pytest.mark.skip(reason=f"test hosts unavailable: {why}"))
