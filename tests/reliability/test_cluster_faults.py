"""A 3-node cluster from the kit's template loses no acknowledged message when one node is
killed -9 or paused, leader or not, while a publisher keeps sending (Jepsen's `kill` and
`pause` nemeses, one node, on loopback).

The cluster is this module's own: the faults would disturb the session's shared cluster.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest

from deploykit.local.nats import LocalNats, local_cluster
from deploykit.testing.faults import CLUSTER_FAULTS, ClusterRun, Figures, cluster_fault

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNats]:
    with local_cluster(tmp_path_factory.mktemp("faults-cluster"), size=3) as nodes:
        yield nodes


@pytest.mark.parametrize(("victim", "fault"), CLUSTER_FAULTS)
def test_no_acknowledged_message_is_lost_or_stored_twice(
    cluster: LocalNats, record: Callable[[Figures], None], victim: str, fault: str
) -> None:
    stream = f"FAULT_{fault.upper()}_{victim.upper()}"
    run: ClusterRun = asyncio.run(cluster_fault(cluster, stream, victim=victim, fault=fault))
    record(run.figures)

    assert run.was_leader is (victim == "leader")
    assert run.acks_after_fault >= 100, "publishing did not resume without the victim"
    assert run.missing == [], f"acknowledged but not stored exactly once: {run.missing[:10]}"
    assert run.stored_twice == [], "a retried message id was stored twice"
    assert run.unknown == [], "the stream holds messages nobody sent"
    states = set(run.node_states.values())
    assert len(states) == 1 and None not in states, f"a node did not catch up: {run.node_states}"
