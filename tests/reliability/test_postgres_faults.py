"""PostgreSQL from the kit's templates, killed -9 (postmaster and backends) in the middle of
a stream of commits and started again: every commit that was acknowledged is there.

The server is this module's own: killing the session's would break the other tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from deploykit.local.ports import free_ports
from deploykit.local.postgres import LocalPostgres
from deploykit.testing.faults import Figures, postgres_fault

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPostgres]:
    pg = LocalPostgres(tmp_path_factory.mktemp("pg-faults"), free_ports(1)[0], "fault-superuser")
    pg.start()
    try:
        yield pg
    finally:
        pg.stop()


def test_every_committed_row_survives_kill_9(
    server: LocalPostgres, record: Callable[[Figures], None]
) -> None:
    run = postgres_fault(server)
    record(run.figures)

    assert run.writes_after_restart >= 200, "writes did not resume after the restart"
    assert run.interrupted, "the crash cut no write: the fault missed the workload"
    assert run.lost == set(), f"{len(run.lost)} committed rows lost"
    assert run.present <= run.committed | run.in_doubt, "rows nobody wrote"
