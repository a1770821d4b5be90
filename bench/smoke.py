"""Wall time of a full smoke run against a local stack, and the sum of its checks' latencies.

    .venv/bin/python bench/smoke.py [--runs 5] [--nodes 3] [--skip probes]

Brings the repository's system (deploykit.yaml: NATS cluster, PostgreSQL, the four apps) up
with `LocalStack` in a temporary folder, runs the whole smoke suite `--runs` times in-process
as `deploykit smoke` does, then as many times with one check at a time, and takes the stack
down. Prints (never asserts), as medians over the runs:

- concurrent: the wall time and the sum of the checks' own times. Their ratio overstates the
  gain: under concurrency a check's time also holds its wait for the shared connections and
  for the event loop;
- sequential: the same checks one after another; its wall time over the concurrent one is
  what running them concurrently gains;
- the slowest checks of the sequential runs (what a run cannot go below).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from deploykit.local.stack import LocalStack
from deploykit.manifest.load import load_manifest
from deploykit.manifest.model import Manifest
from deploykit.smoke.checks import catalogue
from deploykit.smoke.results import CheckResult, Status
from deploykit.smoke.runner import quiet_library_logs, run_checks, select
from deploykit.stack.outputs import StackOutputs

ROOT = Path(__file__).resolve().parents[1]


def one_run(
    manifest: Manifest, outputs: StackOutputs, skip: list[str], concurrency: int | None
) -> tuple[float, list[CheckResult]]:
    checks = select(catalogue(manifest, outputs), [], skip)
    started = time.perf_counter()
    results = asyncio.run(run_checks(checks, manifest, outputs, 30.0, concurrency))
    wall = time.perf_counter() - started
    failed = [r.name for r in results if r.status is Status.FAIL]
    if failed:
        print(f"  FAILED: {', '.join(failed)}")
    return wall, results


def bench(runs: int, nodes: int, skip: list[str]) -> None:
    manifest_path = ROOT / "deploykit.yaml"
    manifest = load_manifest(manifest_path)
    with tempfile.TemporaryDirectory(prefix="deploykit-bench-") as tmp:
        stack = LocalStack(Path(tmp) / ".deploykit", manifest_path, report=lambda _: None)
        started = time.perf_counter()
        outputs = stack.up(nodes=nodes)
        print(f"local stack up: {nodes} NATS node(s), in {time.perf_counter() - started:.1f} s")
        try:
            concurrent = [one_run(manifest, outputs, skip, None) for _ in range(runs)]
            sequential = [one_run(manifest, outputs, skip, 1) for _ in range(runs)]
        finally:
            stack.down()

    def medians(measured: list[tuple[float, list[CheckResult]]]) -> tuple[float, float]:
        walls = [wall for wall, _ in measured]
        sums = [sum(r.duration for r in results) for _, results in measured]
        return statistics.median(walls), statistics.median(sums)

    wall, total = medians(concurrent)
    seq_wall, seq_total = medians(sequential)
    checks = len(concurrent[0][1])
    print(f"{checks} checks, {runs} runs each, medians:")
    print(f"concurrent: wall {wall:6.3f} s, checks' own times summed {total:6.3f} s")
    print(f"sequential: wall {seq_wall:6.3f} s, checks' own times summed {seq_total:6.3f} s")
    print(
        f"gain of running concurrently (sequential wall / concurrent wall): {seq_wall / wall:.1f}x"
    )
    per_check: dict[str, list[float]] = {}
    for _, results in sequential:
        for r in results:
            per_check.setdefault(r.name, []).append(r.duration)
    slowest = sorted(per_check.items(), key=lambda item: -statistics.median(item[1]))[:5]
    print(
        "slowest checks (sequential, median): "
        + ", ".join(f"{name} {statistics.median(times) * 1000:.0f} ms" for name, times in slowest)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--skip", action="append", default=[], help="check names to leave out")
    args = parser.parse_args()
    quiet_library_logs()
    bench(args.runs, args.nodes, args.skip)


if __name__ == "__main__":
    main()
