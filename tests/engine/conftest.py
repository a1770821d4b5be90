"""Fixtures for tests through the real Pulumi engine (marker `engine`).

`toolchain` gets the pinned CLI once per session (a check when scripts/bootstrap cached it; a
build when it did not). The tests skip only where the CLI cannot be had at all (no download
and no Go), with the reason; a failed build fails them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploykit.testing.engine import Engine, pulumi_engine
from deploykit.toolchain.ensure import EngineUnavailable, Toolchain, ensure


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.engine)


@pytest.fixture(scope="session")
def toolchain() -> Toolchain:
    try:
        return ensure(lambda line: print(f"engine: {line}", file=sys.stderr, flush=True))
    except EngineUnavailable as exc:
        pytest.skip(f"no Pulumi engine on this machine: {exc}")


@pytest.fixture
def engine(toolchain: Toolchain, tmp_path: Path) -> Iterator[Engine]:
    """A hermetic engine (file backend, passphrase, own PULUMI_HOME) in the test's folder."""
    with pulumi_engine(tmp_path / "engine", toolchain) as found:
        yield found
