"""A run's figures as a table for people, JSON for programs, and a PNG chart.

The table reads like `nats bench`'s summary: the aggregate rate of every client together,
then the spread of the per-client rates (min/avg/max), then latency percentiles where the
figure has them. The chart puts throughput (one bar per figure, log scale) beside the latency
distribution of each figure that has one, on the usual "nines" axis (50%, 90%, 99%, 99.9%...).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from rich import box
from rich.table import Table

from deploykit.bench.results import BenchResult, Figure

__all__ = [
    "crossing_cost",
    "crossing_costs",
    "format_rate",
    "format_seconds",
    "notes",
    "plot",
    "table",
    "to_json",
]

_STATUS = {"ok": "[green]ok[/]", "failed": "[red]FAILED[/]", "refused": "[yellow]refused[/]"}


def format_seconds(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f}µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f}ms"
    return f"{seconds:.2f}s"


def format_rate(rate: float) -> str:
    return f"{rate:,.0f}"


def _short(rate: float) -> str:
    for factor, suffix in ((1e6, "M"), (1e3, "k")):
        if rate >= factor:
            return f"{rate / factor:.3g}{suffix}"
    return f"{rate:.0f}"


def table(result: BenchResult) -> Table:
    t = Table(
        title=(
            f"deploykit bench: {result.target.system} ({result.target.target}), "
            f"{len(result.target.nats_urls)} NATS server(s), as {result.target.user}, "
            f"{result.settings.size} B payloads"
        ),
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
    )
    t.add_column("mode")
    t.add_column("clients", justify="right")
    t.add_column("count", justify="right")
    t.add_column("rate", justify="right")
    t.add_column("unit")
    t.add_column("per client", justify="right")
    for column in ("p50", "p90", "p99", "p99.9"):
        t.add_column(column, justify="right")
    t.add_column("check")
    for f in result.figures:
        t.add_row(*_row(f))
    return t


def _row(f: Figure) -> list[str]:
    if f.status == "refused":
        return [f.label, "", "", "", "", "", "", "", "", "", _STATUS["refused"]]
    spread = (
        "..".join(_short(r) for r in (f.per_client.min, f.per_client.max))
        if f.per_client and f.clients > 1
        else ""
    )
    lat = (
        [format_seconds(v) for v in (f.latency.p50, f.latency.p90, f.latency.p99, f.latency.p999)]
        if f.latency
        else ["", "", "", ""]
    )
    check = _STATUS[f.status]
    if f.status == "failed":
        check += f" {f.count:,} of {f.expected:,}" + (f", {f.errors} error(s)" if f.errors else "")
    return [
        f.label,
        str(f.clients),
        f"{f.count:,}",
        format_rate(f.rate),
        f.unit,
        spread,
        *lat,
        check,
    ]


def notes(result: BenchResult) -> list[str]:
    """What the table cannot say: refusals and their reason, errors, what each figure is.
    A line that holds for several figures is said once, naming whole modes where it can."""
    lines: dict[str, list[Figure]] = {}
    for f in result.figures:
        for text in (f"not measured: {f.refused}" if f.refused else "", f.error, f.note):
            if text:
                lines.setdefault(text, []).append(f)
    said = []
    for text, figures in lines.items():
        modes = list(dict.fromkeys(f.mode for f in figures))
        whole = sum(1 for f in result.figures if f.mode in modes) == len(figures)
        names = [m.value for m in modes] if whole else [f.label for f in figures]
        said.append(f"{', '.join(names)}: {text}")
    return said + crossing_costs(result) + result.notes


def crossing_cost(result: BenchResult, figure: Figure) -> dict[str, float] | None:
    """What crossing an account costs, as ratios to the figure's same-bus baseline: `rate`
    (below 1: slower across) and `p50`, `p99` (above 1: longer across), where both have them."""
    base = next((f for f in result.figures if f.label == figure.baseline), None)
    if base is None or figure.status != "ok" or base.status != "ok" or not base.rate:
        return None
    cost = {"rate": figure.rate / base.rate}
    if figure.latency and base.latency and base.latency.p50 and base.latency.p99:
        cost |= {"p50": figure.latency.p50 / base.latency.p50}
        cost |= {"p99": figure.latency.p99 / base.latency.p99}
    return cost


def crossing_costs(result: BenchResult) -> list[str]:
    """One line per cross-bus figure: its rate and latency beside those on one bus."""
    lines = []
    for f in result.figures:
        cost = crossing_cost(result, f) if f.baseline else None
        if cost is not None:
            latency = ", ".join(f"{k} {v:.2f}x" for k, v in cost.items() if k != "rate")
            lines.append(
                f"crossing an account: {f.label} runs at {cost['rate']:.2f}x the rate of "
                f"{f.baseline}" + (f"; latency {latency}" if latency else "")
            )
    return lines


def to_json(result: BenchResult) -> str:
    data = result.model_dump(mode="json")
    for figure, model in zip(data["figures"], result.figures, strict=True):
        figure["status"] = model.status
        if model.baseline:
            figure["versus_baseline"] = crossing_cost(result, model)
    data["ok"] = result.ok
    return json.dumps(data, indent=2)


def plot(result: BenchResult, path: Path) -> None:
    """Throughput bars and latency-by-percentile curves, written as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measured = [f for f in result.figures if f.status != "refused" and f.rate > 0]
    timed = [f for f in measured if f.latency]
    fig, (bars, curves) = plt.subplots(1, 2, figsize=(14, max(4.0, 0.45 * len(measured) + 1.5)))
    labels = [f"{f.label} ({f.unit})" for f in measured]
    bars.barh(labels, [f.rate for f in measured], color="#3b7dd8")
    bars.invert_yaxis()
    if measured:
        bars.set_xscale("log")
    for y, f in enumerate(measured):
        bars.text(f.rate, y, f" {format_rate(f.rate)}", va="center", fontsize=8)
    bars.set_title(f"throughput, all clients together ({result.settings.size} B)")
    bars.set_xlabel("operations per second (log)")
    for f in timed:
        assert f.latency is not None
        xs = [_nines(p) for p, _ in f.latency.ladder]
        curves.plot(xs, [s * 1e3 for _, s in f.latency.ladder], marker=".", label=f.label)
    ticks = {0: "min", 90: "90%", 99: "99%", 99.9: "99.9%", 99.99: "99.99%", 100: "max"}
    curves.set_xticks([_nines(p) for p in ticks], list(ticks.values()))
    curves.set_yscale("log")
    curves.set_ylabel("latency (ms, log)")
    curves.set_xlabel("percentile")
    curves.set_title("latency distribution")
    curves.grid(True, which="both", alpha=0.3)
    if timed:
        curves.legend(fontsize=8)
    fig.suptitle(
        f"deploykit bench: {result.target.system} ({result.target.target}), "
        f"{result.settings.clients} client process(es)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _nines(percent: float) -> float:
    """Position on the nines axis: 90% → 1, 99% → 2, 99.9% → 3; 100% sits at 5."""
    return min(-math.log10(max(1 - percent / 100, 1e-5)), 5.0)
