"""The metal stack end to end on three test hosts, timed phase by phase: host boot, first up,
smoke, no-op up, a rolling NATS restart under a publisher (with its longest ack wait and lost
messages), and destroy. The same scenario as tests/hosts/test_metal_e2e.py (deploykit.testing.metal),
printed as figures rather than asserted.

    .venv/bin/python bench/metal.py          # root, debootstrap and systemd-nspawn; minutes
"""

from __future__ import annotations

import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from deploykit.testing.engine import pulumi_engine
from deploykit.testing.hosts import boot_hosts, hosts_unavailable
from deploykit.testing.metal import E2E_RECIPE, MetalRun, Phases, artifacts_folder


def main() -> int:
    why = hosts_unavailable()
    if why:
        print(f"bench/metal.py: test hosts unavailable: {why}", file=sys.stderr)
        return 2
    phases = Phases()
    artifacts = artifacts_folder()
    with tempfile.TemporaryDirectory(prefix="deploykit-bench-metal-") as folder, ExitStack() as up:
        root = Path(folder)
        with phases("host boot"):
            hosts = up.enter_context(boot_hosts(3, E2E_RECIPE))
        engine = up.enter_context(pulumi_engine(root / "engine"))
        run = MetalRun(hosts, engine, root, artifacts)
        with phases("first up"):
            run.up()
        with phases("smoke"):
            failed = {n: s for n, s in run.smoke().items() if s not in ("pass", "skip")}
        with phases("no-op up"):
            run.expect_no_changes()
        with phases("rolling restart"), run.publisher() as publisher:
            run.apply_settings(nats={"syncInterval": "1m"})
            run.up()
        lost = publisher.lost()
        with phases("destroy"):
            run.destroy()
    print(phases.report())
    print(
        f"smoke failures: {failed or 'none'}\n"
        f"rolling restart: {len(publisher.acked)} acknowledged, {len(lost)} lost, "
        f"longest ack wait {publisher.longest:.3f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
