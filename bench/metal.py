"""Wall time of the metal tier's end-to-end path on Debian test hosts, phase by phase.

    .venv/bin/python bench/metal.py [--hosts 3] [--fresh-rootfs]      (as root)

Prints (never asserts) the seconds of each phase and the total:
- rootfs: the cached debootstrap rootfs (with --fresh-rootfs: built anew in a temporary cache,
  which is what a fresh CI machine pays once);
- host boot: network, overlays, nspawn, until root logs in over SSH on every host;
- artifacts: `fetch_artifacts` into the run's folder (apt's private cache makes reruns fast);
- first up, smoke, no-op up, rolling restart, destroy: the end-to-end test's phases;
- teardown: until nothing of the hosts is left.

Each phase is a function `phase(run: Run) -> str` (its return value is printed beside its time)
listed in PHASES, driving `deploykit.testing.metal.MetalRun` (the end-to-end test's scenario)
through the real Pulumi engine; a phase that fails is printed with its error and the phases
after it are skipped, since each starts from the state the one before leaves.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploykit.metal.fetch import fetch_artifacts
from deploykit.testing.engine import Engine, pulumi_engine
from deploykit.testing.hosts import Hosts, Recipe, boot_hosts, ensure_rootfs, hosts_unavailable
from deploykit.testing.metal import ARTIFACTS, E2E_RECIPE, MetalRun

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Run:
    """What the phases share: the hosts, a work folder, and whatever one phase hands the next
    (stack objects, outputs, pids) in `state`."""

    hosts: Hosts
    work: Path
    engine: Engine
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def metal(self) -> MetalRun:
        return self.state["metal"]


def artifacts(run: Run) -> str:
    base = ensure_rootfs(Recipe()) / "var/lib/dpkg/status"
    folder = run.work / "artifacts"
    index = fetch_artifacts(folder, names=ARTIFACTS, base_status=base, report=lambda _: None)
    run.state["metal"] = MetalRun(run.hosts, run.engine, run.work, folder)
    missing = f"; missing: {', '.join(index.missing)}" if index.missing else ""
    return f"{len(index.artifacts)} artifacts{missing}"


def first_up(run: Run) -> str:
    changes = run.metal.up()
    return f"{changes.get('create', 0)} resources created"


def smoke(run: Run) -> str:
    results = run.metal.smoke()
    failed = sorted(n for n, s in results.items() if s == "fail")
    return f"{len(results)} checks, failed: {', '.join(failed) or 'none'}"


def noop_up(run: Run) -> str:
    before = run.metal.pids()
    run.metal.expect_no_changes()
    changed = sorted(k for k, v in run.metal.pids().items() if before.get(k) != v)
    return f"no changes; restarted: {', '.join(changed) or 'none'}"


def rolling_restart(run: Run) -> str:
    with run.metal.publisher() as publisher:
        run.metal.apply_settings(nats={"syncInterval": "1m"})
        run.metal.up()
    lost = publisher.lost()
    return (
        f"{len(publisher.acked)} acknowledged, {len(lost)} lost, "
        f"longest ack wait {publisher.longest:.3f} s"
    )


def destroy(run: Run) -> str:
    run.metal.destroy()
    left = run.metal.leftovers()
    return f"left on the hosts: {left or 'nothing'}"


PHASES: list[tuple[str, Callable[[Run], str]]] = [
    ("artifacts", artifacts),
    ("first up", first_up),
    ("smoke", smoke),
    ("no-op up", noop_up),
    ("rolling restart", rolling_restart),
    ("destroy", destroy),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--fresh-rootfs", action="store_true")
    options = parser.parse_args()
    why = hosts_unavailable()
    if why:
        raise SystemExit(f"bench/metal.py: {why}")
    rows: list[tuple[str, float | None, str]] = []
    begun = time.monotonic()
    rows.append(_rootfs(options.fresh_rootfs))
    with tempfile.TemporaryDirectory(prefix="bench-metal-") as tmp:
        started = time.monotonic()
        with (
            boot_hosts(options.hosts, E2E_RECIPE) as hosts,
            pulumi_engine(Path(tmp) / "engine") as engine,
        ):
            addresses = ", ".join(h.address for h in hosts)
            rows.append(("host boot", time.monotonic() - started, f"{len(hosts)}: {addresses}"))
            run = Run(hosts, Path(tmp), engine)
            blocked = ""
            for name, phase in PHASES:
                if blocked:
                    rows.append((name, None, f"skipped: after {blocked}"))
                    continue
                started = time.monotonic()
                try:
                    note = phase(run)
                except Exception as exc:  # printed, never raised: the bench reports
                    rows.append((name, None, f"failed: {str(exc)[-300:]}"))
                    blocked = name
                    continue
                rows.append((name, time.monotonic() - started, note))
            started = time.monotonic()
        rows.append(("teardown", time.monotonic() - started, "nothing left"))
    rows.append(("total", time.monotonic() - begun, ""))
    for name, seconds, note in rows:
        shown = f"{seconds:8.1f} s" if seconds is not None else "       - "
        print(f"{name:<16} {shown}  {note}")


def _rootfs(fresh: bool) -> tuple[str, float, str]:
    started = time.monotonic()
    if not fresh:
        path = ensure_rootfs(E2E_RECIPE)
        return ("rootfs", time.monotonic() - started, f"cached: {path}")
    with tempfile.TemporaryDirectory(prefix="bench-rootfs-") as cache:
        ensure_rootfs(E2E_RECIPE, cache=Path(cache))
        return ("rootfs", time.monotonic() - started, "built by debootstrap")


if __name__ == "__main__":
    main()
