"""The arithmetic of bench: nearest-rank percentiles, and rates added up as `nats bench` does."""

from __future__ import annotations

from array import array

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deploykit.bench.stats import (
    LADDER,
    Timed,
    latency,
    pack,
    percentile,
    split,
    throughput,
    unpack,
)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 1001)]
    assert percentile(values, 0) == 1
    assert percentile(values, 50) == 500
    assert percentile(values, 90) == 900
    assert percentile(values, 99) == 990
    assert percentile(values, 99.9) == 999
    assert percentile(values, 100) == 1000
    assert percentile([7.0], 99.9) == 7.0


def test_percentile_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 50)
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentile([1.0], 101)


@given(
    st.lists(st.floats(0, 10, allow_nan=False), min_size=1), st.floats(0, 100), st.floats(0, 100)
)
def test_percentile_is_a_sample_and_grows_with_p(samples: list[float], p: float, q: float) -> None:
    ordered = sorted(samples)
    low, high = sorted((p, q))
    assert percentile(ordered, low) in samples
    assert percentile(ordered, low) <= percentile(ordered, high)


def test_latency_summary_and_ladder() -> None:
    summary = latency([0.004, 0.001, 0.003, 0.002])
    assert summary is not None
    assert (summary.samples, summary.p50, summary.p90, summary.max) == (4, 0.002, 0.004, 0.004)
    assert [p for p, _ in summary.ladder] == list(LADDER)
    assert summary.ladder[0] == (0, 0.001)
    assert latency([]) is None


def test_split_shares_like_nats_bench() -> None:
    assert split(10, 3) == [4, 3, 3]
    assert split(2, 4) == [1, 1, 0, 0]
    assert split(100_000, 1) == [100_000]


@given(st.integers(0, 10**9), st.integers(1, 256))
def test_split_adds_up_and_is_even(total: int, parts: int) -> None:
    shares = split(total, parts)
    assert sum(shares) == total and len(shares) == parts
    assert max(shares) - min(shares) <= 1


def test_throughput_is_all_messages_over_the_whole_span() -> None:
    shares = [Timed(count=100, start=10.0, end=11.0), Timed(count=300, start=10.5, end=12.0)]
    result = throughput(shares)
    assert result.count == 400
    assert result.seconds == pytest.approx(2.0)
    assert result.rate == pytest.approx(200.0)
    assert result.clients.min == pytest.approx(100.0)
    assert result.clients.max == pytest.approx(200.0)
    assert result.clients.mean == pytest.approx(150.0)
    assert result.clients.stdev == pytest.approx(50.0)


def test_throughput_of_nothing_is_zero() -> None:
    assert throughput([Timed(count=0, start=1.0, end=1.0)]).rate == 0.0
    assert throughput([]).count == 0


def test_latencies_travel_packed() -> None:
    a, b = array("d", [0.5, 0.25]), array("d", [1.0])
    assert list(unpack([pack(a), pack(b), b""])) == [0.5, 0.25, 1.0]
