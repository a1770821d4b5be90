"""Pure arithmetic on what the workers report: percentiles, sums and spreads.

Throughput is added up the way `nats bench` does it (nats.go `bench.SampleGroup`): the
messages of every client over the span from the earliest start to the latest end, beside the
spread of the per-client rates. Percentiles are nearest-rank over every recorded sample, so
p99.9 of 1,000 samples is the 999th smallest, never an interpolation between two.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict

__all__ = [
    "LADDER",
    "Latency",
    "Spread",
    "Throughput",
    "Timed",
    "latency",
    "pack",
    "percentile",
    "split",
    "throughput",
    "unpack",
]

LADDER = (0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100)
"""The percentiles kept for the latency chart: enough to draw the tail, small in JSON."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Timed(_Frozen):
    """One client's share of a figure: how many operations, from when to when (perf_counter,
    which is CLOCK_MONOTONIC on Linux, so comparable between processes on one machine)."""

    count: int
    start: float
    end: float


class Spread(_Frozen):
    min: float
    mean: float
    max: float
    stdev: float


class Throughput(_Frozen):
    count: int
    seconds: float
    rate: float
    clients: Spread


class Latency(_Frozen):
    """Seconds. `ladder` holds (percentile, seconds) at each LADDER point, for the chart."""

    samples: int
    p50: float
    p90: float
    p99: float
    p999: float
    max: float
    ladder: tuple[tuple[float, float], ...]


def split(total: int, parts: int) -> list[int]:
    """`total` operations shared by `parts` clients as evenly as possible, as `nats bench`
    shares `--msgs` between its `--clients` (the first ones take the remainder)."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def throughput(shares: Sequence[Timed]) -> Throughput:
    """Every client's operations over the whole span, and the spread of per-client rates."""
    active = [s for s in shares if s.end > s.start]
    count = sum(s.count for s in shares)
    if not active:
        return Throughput(
            count=count, seconds=0.0, rate=0.0, clients=Spread(min=0, mean=0, max=0, stdev=0)
        )
    seconds = max(s.end for s in active) - min(s.start for s in active)
    rates = [s.count / (s.end - s.start) for s in active]
    mean = sum(rates) / len(rates)
    stdev = math.sqrt(sum((r - mean) ** 2 for r in rates) / len(rates))
    return Throughput(
        count=count,
        seconds=seconds,
        rate=count / seconds if seconds > 0 else 0.0,
        clients=Spread(min=min(rates), mean=mean, max=max(rates), stdev=stdev),
    )


def percentile(ordered: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an ascending sequence: the smallest value with at least
    p percent of the samples at or below it (p=0 is the minimum)."""
    if not ordered:
        raise ValueError("no samples")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile {p} is not between 0 and 100")
    rank = max(1, math.ceil(round(p * len(ordered) / 100, 9)))  # 99.9% of 1000 is 999, not 1000
    return ordered[rank - 1]


def latency(samples: Iterable[float]) -> Latency | None:
    ordered = sorted(samples)
    if not ordered:
        return None
    return Latency(
        samples=len(ordered),
        p50=percentile(ordered, 50),
        p90=percentile(ordered, 90),
        p99=percentile(ordered, 99),
        p999=percentile(ordered, 99.9),
        max=ordered[-1],
        ladder=tuple((p, percentile(ordered, p)) for p in LADDER),
    )


def pack(samples: array[float]) -> bytes:
    """Latency samples as bytes, the compact way to send them from a worker process."""
    return samples.tobytes()


def unpack(blobs: Iterable[bytes]) -> array[float]:
    merged = array("d")
    for blob in blobs:
        merged.frombytes(blob)
    return merged
