"""A queue worker killed -9 in the middle of a batch: its unacknowledged messages go to the
other worker, no account is left unwelcomed, and the double handling that at-least-once
delivery allows changes nothing (the reference welcome worker's idempotence).

The system is the kit's own: the reference manifest compiled into accounts on a nats-server,
its JetStream definitions reconciled, the real `apps.welcome` processes with their own users.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator

import pytest

from deploykit.local.postgres import LocalPostgres
from deploykit.testing.faults import Figures, WorkerSystem, worker_fault, worker_system

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def system(
    tmp_path_factory: pytest.TempPathFactory, postgres: LocalPostgres
) -> Iterator[WorkerSystem]:
    name = f"faults_{uuid.uuid4().hex[:8]}"
    url = postgres.ensure_database(name, name, uuid.uuid4().hex)
    with worker_system(tmp_path_factory.mktemp("worker-faults"), url) as running:
        yield running


def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(
    system: WorkerSystem, record: Callable[[Figures], None]
) -> None:
    run = asyncio.run(worker_fault(system))
    record(run.figures)

    assert run.acked == run.sent, "the stream did not acknowledge every created event"
    assert run.in_flight_at_kill > 0, "the worker was not killed in the middle of a batch"
    assert run.drained, "the consumer still has pending or unacknowledged messages"
    assert run.missing_rows == [], f"{len(run.missing_rows)} accounts processed zero times"
    assert run.rows == run.sent
    assert run.redeliveries >= run.in_flight_at_kill, "unacknowledged messages not redelivered"
    assert run.survivor_handled >= run.in_flight_at_kill
    assert run.welcomed_events == run.sent, "a welcomed event is missing or stored twice"
