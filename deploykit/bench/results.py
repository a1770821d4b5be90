"""What a run found: one Figure per measured thing, and the run that holds them.

A figure carries its own check: `count` is what completed, `expected` what should have (the
messages sent, for a subscriber; the rows stored, for inserts). It fails when they differ or
when anything went wrong; it is `refused` when the target's rights do not allow the mode,
which is reported, with the reason, rather than failed.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from deploykit.bench.settings import BenchSettings, Mode
from deploykit.bench.stats import Latency, Spread

__all__ = ["BenchResult", "Figure", "TargetSummary"]

Status = Literal["ok", "failed", "refused"]


class Figure(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Mode
    name: str
    unit: str = "msgs/s"
    clients: int = 0
    size: int = 0
    count: int = 0
    expected: int = 0
    errors: int = 0
    error: str = ""
    seconds: float = 0.0
    rate: float = 0.0
    per_client: Spread | None = None
    latency: Latency | None = None
    cut: bool = False
    note: str = ""
    refused: str = ""
    baseline: str = ""  # a cross-bus figure: the label of the same-bus figure it compares with

    @property
    def status(self) -> Status:
        if self.refused:
            return "refused"
        return "ok" if self.errors == 0 and self.count == self.expected else "failed"

    @property
    def label(self) -> str:
        return f"{self.mode.value} {self.name}".strip()


class TargetSummary(BaseModel):
    """Where the run measured, without a secret: safe to print and to keep in JSON."""

    model_config = ConfigDict(extra="forbid")

    target: str
    system: str
    nats_urls: list[str]
    cluster_size: int
    user: str
    server_version: str = ""
    database: str | None = None


class BenchResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    settings: BenchSettings
    target: TargetSummary
    figures: list[Figure]
    notes: list[str] = []

    @property
    def ok(self) -> bool:
        return all(f.status != "failed" for f in self.figures)
