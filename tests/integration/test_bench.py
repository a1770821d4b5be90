"""`deploykit bench` against a real nats-server and a real PostgreSQL: every mode runs briefly
and its counts add up (sent = received, no errors), and it leaves nothing behind. Speed is
printed by bench, never asserted here.

On the plain server (no authorization) every mode may run; on the local stack the smoke user's
real permissions apply, and what they refuse is reported rather than failed.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import nats
import psycopg
import pytest
import yaml

from deploykit.bench import BenchResult, BenchSettings, Mode
from deploykit.bench.report import crossing_costs
from deploykit.bench.runner import run_bench
from deploykit.bench.target import bench_target, smoke_targets
from deploykit.jetstream import reconcile
from deploykit.laws.exports import bench_links
from deploykit.local.nats import LocalNats
from deploykit.local.postgres import LocalPostgres
from deploykit.local.stack import LocalStack
from deploykit.manifest import naming
from deploykit.manifest.crossbus import CrossPath
from deploykit.manifest.load import load_manifest
from deploykit.manifest.model import Manifest
from deploykit.stack.outputs import StackOutputs, load_outputs

pytestmark = pytest.mark.integration

DEPLOYKIT = str(Path(sys.executable).parent / "deploykit")
THREE_BUSES = Path(__file__).resolve().parents[2] / "examples" / "three-buses" / "deploykit.yaml"
SMOKE_ONLY = Manifest.model_validate(
    {"version": 1, "system": "bench", "buses": {"core": {"core": True}}}
)


@pytest.fixture(scope="module")
def outputs_file(
    nats_single: LocalNats, postgres: LocalPostgres, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Stack outputs of the plain server (its smoke assets applied) and a bench database."""
    reconcile(nats_single.url, {"core": None}, SMOKE_ONLY)
    url = postgres.ensure_database("benchdb", "bench_owner", "bench-owner-secret")
    path = tmp_path_factory.mktemp("bench") / "outputs.json"
    document = {
        "target": "local",
        "system": "bench",
        "nats": {
            "urls": nats_single.urls,
            "credentials": {"smoke-core": {"account": "core", "role": "smoke"}},
        },
        "database": {"urls": {"benchdb": url}},
    }
    path.write_text(json.dumps(document))
    return path


def bench(
    outputs: StackOutputs, crossings: Sequence[CrossPath] = (), **options: object
) -> BenchResult:
    """A run as the CLI makes it; `crossings` are bench's paths between buses, whose smoke
    users it connects as too."""
    settings = BenchSettings.model_validate(options)
    need_db = any(m.needs_database for m in settings.modes)
    users = {naming.smoke_user(b) for p in crossings for b in (p.importer, p.exporter)}
    with (
        bench_target(outputs, None, None, need_db) as (target, summary),
        smoke_targets(outputs, users) as others,
    ):
        return run_bench(settings, target, summary, None, crossings, others)


def by_label(result: BenchResult) -> dict[str, object]:
    return {f.label: f for f in result.figures}


def test_every_mode_adds_up_and_leaves_nothing_behind(outputs_file: Path) -> None:
    outputs = load_outputs(outputs_file)
    msgs = 1200
    result = bench(
        outputs,
        clients=2,
        msgs=msgs,
        duration=60,
        subscribers=2,
        responders=1,
        requesters=4,
        keys=50,
        run="it1",
    )
    failed = [(f.label, f.count, f.expected, f.error) for f in result.figures if f.status != "ok"]
    assert not failed
    f = by_label(result)
    assert f["pubsub pub"].count == f["pubsub sub"].count == msgs
    assert f["fanout sub"].count == 2 * f["fanout pub"].count == 2 * msgs
    assert f["service 1 requester"].count == f["service 4 requesters"].count == msgs
    assert f["service 4 requesters"].latency.samples == msgs
    for label in ("js-pub-sync", "js-pub-async", "kv-put", "kv-get", "db-insert", "db-select"):
        assert f[label].count == msgs, label
    assert f["db-insert"].expected == msgs  # rows found in the table afterwards
    assert f["js-pull"].count == f["js-pull"].expected == msgs
    assert f["js-ordered"].count == 2 * msgs
    assert not any(fig.cut for fig in result.figures)
    assert asyncio.run(bench_leftovers(outputs, "it1")) == (0, 0, [])
    with psycopg.connect(outputs.database.urls["benchdb"]) as conn:
        assert conn.execute("select to_regclass('deploykit_bench_it1')").fetchone() == (None,)


async def bench_leftovers(outputs: StackOutputs, run: str) -> tuple[int, int, list[str]]:
    """Messages left on the run's subjects in the smoke stream and bucket, and its consumers."""
    smoke = outputs.credential(naming.smoke_user("core")).connect_options()
    nc = await nats.connect(outputs.nats.urls, **smoke)
    try:
        js = nc.jetstream()
        stream = await js.stream_info(
            naming.SMOKE_STREAM, subjects_filter=f"deploykit.smoke.bench.{run}.>"
        )
        kv = await js.stream_info(
            f"KV_{naming.SMOKE_BUCKET}", subjects_filter=f"$KV.{naming.SMOKE_BUCKET}.bench.{run}.>"
        )
        consumers = [c.name for c in await js.consumers_info(naming.SMOKE_STREAM)]
    finally:
        await nc.close()
    return len(stream.state.subjects or {}), len(kv.state.subjects or {}), consumers


def test_the_command_ends_by_itself_and_writes_json_and_a_chart(
    outputs_file: Path, tmp_path: Path
) -> None:
    chart = tmp_path / "bench.png"
    argv = [DEPLOYKIT, "bench", "--outputs", str(outputs_file), "-m", "pubsub,js-pub-sync"]
    argv += [
        "--msgs",
        "1000000000",
        "--duration",
        "0.5",
        "--clients",
        "1",
        "--json",
        "--plot",
        str(chart),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["ok"] is True
    figures = {f"{f['mode']} {f['name']}".strip(): f for f in data["figures"]}
    assert figures["pubsub sub"]["count"] == figures["pubsub pub"]["count"] > 0
    assert figures["js-pub-sync"]["cut"] is True and figures["js-pub-sync"]["status"] == "ok"
    assert chart.read_bytes()[:4] == b"\x89PNG"
    assert "bench-owner-secret" not in done.stdout + done.stderr


@pytest.fixture(scope="module")
def stack_outputs(dev_stack: LocalStack) -> Iterator[StackOutputs]:
    yield load_outputs(dev_stack.dir.outputs_file)


def test_on_the_local_stack_every_mode_runs_as_the_smoke_user(stack_outputs: StackOutputs) -> None:
    """The core bus's smoke user may use `deploykit.bench.>` (stored by no stream) and run the
    bench service, so core pub/sub and a real NATS Service run on the deployed stack."""
    result = bench(
        stack_outputs,
        modes=(Mode.PUBSUB, Mode.SERVICE, Mode.KV_PUT),
        clients=2,
        msgs=300,
        duration=30,
        requesters=2,
        run="it3",
    )
    f = by_label(result)
    assert f["pubsub pub"].status == f["pubsub sub"].status == "ok"
    assert f["pubsub pub"].count == f["pubsub sub"].count
    assert f["service 1 requester"].status == f["service 2 requesters"].status == "ok"
    assert "answered by nats-server itself" not in (f["service 1 requester"].note or "")
    assert f["kv-put"].status == "ok" and f["kv-put"].count == 300
    assert result.ok and result.target.user == "smoke-core" and result.target.cluster_size == 3


@pytest.fixture(scope="module")
def three_buses(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, StackOutputs]]:
    """examples/three-buses on the local stack, one node, without its apps: bench needs only
    the buses, their smoke users and the exports and imports between them."""
    data = yaml.safe_load(THREE_BUSES.read_text())
    for service in data["services"].values():
        service.pop("run", None)
    root = tmp_path_factory.mktemp("three-bench")
    manifest = root / "deploykit.yaml"
    manifest.write_text(yaml.safe_dump(data))
    local = LocalStack(root / ".deploykit", manifest, report=lambda _: None)
    try:
        local.up(nodes=1)
        yield manifest, load_outputs(local.dir.outputs_file)
    finally:
        local.down()


def test_across_buses_each_figure_stands_beside_its_same_bus_baseline(
    three_buses: tuple[Path, StackOutputs],
) -> None:
    """The core frontend's call to billing and billing's consumer of core events, mirrored by
    bench between the smoke users: every count adds up and each crossing names its baseline."""
    manifest, outputs = three_buses
    result = bench(
        outputs,
        bench_links(load_manifest(manifest)),
        modes=(Mode.SERVICE_CROSSBUS, Mode.JS_PULL_CROSSBUS, Mode.JS_COPY_CROSSBUS),
        clients=1,
        msgs=400,
        duration=30,
        responders=1,
        requesters=4,
        run="it4",
    )
    f = by_label(result)
    assert sorted(f) == [
        "js-copy-crossbus core same bus",
        "js-copy-crossbus core→analytics",
        "js-pull-crossbus core same bus",
        "js-pull-crossbus core→billing",
        "service-crossbus billing same bus 1 requester",
        "service-crossbus billing same bus 4 requesters",
        "service-crossbus core→billing 1 requester",
        "service-crossbus core→billing 4 requesters",
    ]
    assert [(x.label, x.count, x.error) for x in result.figures if x.status != "ok"] == []
    assert f["service-crossbus core→billing 4 requesters"].count == 400
    assert f["js-pull-crossbus core→billing"].count == f["js-pull-crossbus core same bus"].count
    assert f["js-pull-crossbus core→billing"].baseline == "js-pull-crossbus core same bus"
    assert f["js-copy-crossbus core→analytics"].count == f["js-pull-crossbus core same bus"].count
    costs = crossing_costs(result)
    assert len(costs) == 4 and all("crossing an account" in line for line in costs)
    print("\n".join([*(f"{x.label}: {x.rate:,.0f} {x.unit}" for x in result.figures), *costs]))
    assert asyncio.run(bench_leftovers(outputs, "it4"))[:2] == (0, 0)


def test_the_command_reads_the_crossings_from_the_manifest(
    three_buses: tuple[Path, StackOutputs],
) -> None:
    manifest, _ = three_buses
    modes = "service-crossbus,js-pull-crossbus,js-copy-crossbus"
    argv = [DEPLOYKIT, "bench", "-f", str(manifest), "-m", modes, "--json"]
    argv += ["--clients", "1", "--msgs", "200", "--requesters", "2", "--no-progress"]
    argv += ["--outputs", str(manifest.parent / ".deploykit" / "outputs.json")]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    figures = {f"{f['mode']} {f['name']}": f for f in data["figures"]}
    crossing = figures["service-crossbus core→billing 2 requesters"]
    assert crossing["baseline"] == "service-crossbus billing same bus 2 requesters"
    assert crossing["versus_baseline"]["rate"] > 0 and crossing["versus_baseline"]["p50"] > 0
    assert figures["js-pull-crossbus core→billing"]["versus_baseline"]["rate"] > 0
    assert figures["js-copy-crossbus core→analytics"]["versus_baseline"]["rate"] > 0
