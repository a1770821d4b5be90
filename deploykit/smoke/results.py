"""What a smoke run produces: one result per check, and the run that holds them.

Plain frozen data, so that every report format is a pure function of a `SmokeRun` and can be
tested on its exact output. A check either returns an `Outcome` or raises `CheckFailed`; the
runner adds the name and the time it took.

Checks depend on each other (no connection, no JetStream, no round trip): a check whose
prerequisite failed is not run, and its result is a skip whose `cause` names the root failure.
A failure that is `unreachable` found nothing answering at all (a server down, a wrong URL).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

__all__ = [
    "CheckFailed",
    "CheckResult",
    "Metric",
    "Outcome",
    "SmokeRun",
    "Status",
    "blocked",
    "failed",
    "passed",
    "skipped",
    "unreachable",
]


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class Metric:
    """A number a check measured (perf data in Nagios, a gauge in Prometheus).

    `name` is a Prometheus-safe identifier ([a-z_]); `unit` is "s" for seconds or empty.
    """

    name: str
    value: float
    unit: str = ""


@dataclass(frozen=True)
class Outcome:
    status: Status
    message: str
    details: tuple[str, ...] = ()
    metrics: tuple[Metric, ...] = ()
    cause: str = ""
    unreachable: bool = False


def passed(message: str, details: tuple[str, ...] = (), *metrics: Metric) -> Outcome:
    return Outcome(Status.PASS, message, details, metrics)


def failed(message: str, details: tuple[str, ...] = (), *metrics: Metric) -> Outcome:
    return Outcome(Status.FAIL, message, details, metrics)


def skipped(reason: str) -> Outcome:
    return Outcome(Status.SKIP, reason)


def blocked(root: str) -> Outcome:
    """Not run: a check it depends on failed, `root` being the failure at the bottom of it."""
    return Outcome(Status.SKIP, f"not run: {root} failed", cause=root)


def unreachable(message: str) -> Outcome:
    """Failed because nothing answered at all."""
    return Outcome(Status.FAIL, message, unreachable=True)


class CheckFailed(Exception):
    """Raised inside a check to fail it with a message that names the cause."""

    def __init__(
        self, message: str, details: tuple[str, ...] = (), *, unreachable: bool = False
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.unreachable = unreachable


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    message: str
    duration: float
    details: tuple[str, ...] = ()
    metrics: tuple[Metric, ...] = ()
    cause: str = ""
    unreachable: bool = False

    @property
    def group(self) -> str:
        """The first part of the name (`nats`, `jetstream`, ...), what `--only`/`--skip` take."""
        return self.name.split(".", 1)[0]


@dataclass(frozen=True)
class SmokeRun:
    """One run against one target: `duration` is the wall time, `latency_sum` the checks' own."""

    system: str
    target: str
    source: str
    started: datetime
    duration: float
    timeout: float
    results: tuple[CheckResult, ...] = field(default_factory=tuple)

    @property
    def status(self) -> Status:
        return Status.FAIL if any(r.status is Status.FAIL for r in self.results) else Status.PASS

    @property
    def latency_sum(self) -> float:
        return sum(r.duration for r in self.results)

    def count(self, status: Status) -> int:
        return sum(1 for r in self.results if r.status is status)

    @property
    def roots(self) -> tuple[CheckResult, ...]:
        """The failures; every skip with a cause names one of them."""
        return tuple(r for r in self.results if r.status is Status.FAIL)

    def blocked_by(self, root: str) -> tuple[CheckResult, ...]:
        """The checks that did not run because `root` failed."""
        return tuple(r for r in self.results if r.cause == root)
