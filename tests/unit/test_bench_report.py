"""A run's figures as people and programs read them: table, notes, JSON, PNG."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from deploykit.bench.report import crossing_costs, format_seconds, notes, plot, table, to_json
from deploykit.bench.results import BenchResult, Figure, TargetSummary
from deploykit.bench.settings import BenchSettings, Mode
from deploykit.bench.stats import Spread, latency

SUMMARY = TargetSummary(
    target="local",
    system="acme",
    nats_urls=["nats://127.0.0.1:4222"],
    cluster_size=1,
    user="smoke-core",
)
SPREAD = Spread(min=90_000, mean=100_000, max=110_000, stdev=10_000)


def result() -> BenchResult:
    why = "smoke-core may not subscribe to deploykit.bench.x.probe"
    return BenchResult(
        settings=BenchSettings(clients=2, run="x"),
        target=SUMMARY,
        figures=[
            Figure(mode=Mode.PUBSUB, name="pub", size=128, refused=why),
            Figure(mode=Mode.PUBSUB, name="sub", size=128, refused=why),
            Figure(
                mode=Mode.JS_PUB_SYNC,
                name="",
                clients=2,
                size=128,
                count=1000,
                expected=1000,
                seconds=0.5,
                rate=2000,
                per_client=SPREAD,
                latency=latency([0.001] * 999 + [0.010]),
                note="stream DEPLOYKIT_SMOKE",
            ),
            Figure(
                mode=Mode.FANOUT,
                name="pub",
                clients=1,
                size=128,
                count=2000,
                expected=2000,
                seconds=1.0,
                rate=2000,
            ),
            Figure(
                mode=Mode.FANOUT,
                name="sub",
                clients=2,
                size=128,
                count=1990,
                expected=2000,
                errors=10,
                error="10 message(s) lost",
                seconds=1.0,
                rate=1990,
                per_client=SPREAD,
            ),
        ],
        notes=["js-pull and js-ordered read 10 messages"],
    )


def rendered(r: BenchResult) -> str:
    console = Console(record=True, width=200)
    console.print(table(r))
    return console.export_text()


def test_table_has_a_row_per_figure_with_its_check() -> None:
    text = rendered(result())
    rows = {
        " ".join(line.split()[:2]): line.rstrip() for line in text.splitlines()[4:] if line.strip()
    }
    assert rows["pubsub pub"].split()[-1] == "refused"
    js = rows["js-pub-sync 2"].split()
    assert js[:6] == ["js-pub-sync", "2", "1,000", "2,000", "msgs/s", "90k..110k"]
    assert js[6:] == ["1.00ms", "1.00ms", "1.00ms", "1.00ms", "ok"]
    assert rows["fanout sub"].endswith("FAILED 1,990 of 2,000, 10 error(s)")
    assert "as smoke-core, 128 B payloads" in text


def test_notes_say_each_thing_once() -> None:
    assert notes(result()) == [
        "pubsub: not measured: smoke-core may not subscribe to deploykit.bench.x.probe",
        "js-pub-sync: stream DEPLOYKIT_SMOKE",
        "fanout sub: 10 message(s) lost",
        "js-pull and js-ordered read 10 messages",
    ]


def test_json_carries_status_and_overall_ok() -> None:
    data = json.loads(to_json(result()))
    assert data["ok"] is False
    assert [f["status"] for f in data["figures"]] == ["refused", "refused", "ok", "ok", "failed"]
    assert data["figures"][2]["latency"]["p999"] == 0.001
    assert data["settings"]["clients"] == 2
    assert (
        BenchResult.model_validate(
            {k: v for k, v in data.items() if k != "ok"}
            | {"figures": [{k: v for k, v in f.items() if k != "status"} for f in data["figures"]]}
        )
        == result()
    )


def test_refused_figures_do_not_fail_a_run() -> None:
    r = result()
    r.figures = r.figures[:3]
    assert r.ok


def test_seconds_read_in_the_right_unit() -> None:
    assert [format_seconds(s) for s in (0.000051, 0.00123, 1.5)] == ["51µs", "1.23ms", "1.50s"]


def test_plot_writes_a_png(tmp_path: Path) -> None:
    path = tmp_path / "bench.png"
    plot(result(), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_reason_shared_by_whole_modes_names_the_modes() -> None:
    why = "smoke-core may not subscribe to deploykit.bench.x.probe"
    r = result()
    r.figures = [
        Figure(mode=mode, name=name, size=128, refused=why)
        for mode in (Mode.PUBSUB, Mode.FANOUT)
        for name in ("pub", "sub")
    ]
    r.notes = []
    assert notes(r) == [f"pubsub, fanout: not measured: {why}"]


def test_a_crossing_is_read_against_its_same_bus_baseline() -> None:
    """The ratio of rates (below 1: slower across) and of latencies (above 1: longer), in the
    notes and in the JSON; a failed baseline gives no ratio."""
    timed = latency([0.001] * 10)
    slower = latency([0.002] * 10)
    same = Figure(
        mode=Mode.SERVICE_CROSSBUS, name="billing same bus 1 requester", count=10, expected=10,
        rate=1000.0, latency=timed,
    )  # fmt: skip
    across = same.model_copy(
        update={
            "name": "core→billing 1 requester",
            "rate": 500.0,
            "latency": slower,
            "baseline": same.label,
        }
    )
    run = BenchResult(settings=BenchSettings(run="x"), target=SUMMARY, figures=[same, across])
    (line,) = crossing_costs(run)
    assert "core→billing 1 requester runs at 0.50x the rate of" in line
    assert "p50 2.00x" in line
    figures = json.loads(to_json(run))["figures"]
    assert figures[1]["versus_baseline"] == {"rate": 0.5, "p50": 2.0, "p99": 2.0}
    assert "versus_baseline" not in figures[0]
    assert line in notes(run)
    failed = run.model_copy(update={"figures": [same.model_copy(update={"errors": 1}), across]})
    assert crossing_costs(failed) == []
