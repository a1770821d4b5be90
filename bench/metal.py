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
listed in PHASES; a phase raises `NotYet` while the code it drives does not exist, and the
phases after it are skipped, since each starts from the state the one before leaves.
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
from deploykit.testing.hosts import Hosts, Recipe, boot_hosts, ensure_rootfs, hosts_unavailable

ROOT = Path(__file__).resolve().parent.parent


class NotYet(Exception):
    """A phase whose code does not exist yet; the message says what it waits for."""


@dataclass
class Run:
    """What the phases share: the hosts, a work folder, and whatever one phase hands the next
    (stack objects, outputs, pids) in `state`."""

    hosts: Hosts
    work: Path
    state: dict[str, Any] = field(default_factory=dict)


def artifacts(run: Run) -> str:
    base = ensure_rootfs(Recipe()) / "var/lib/dpkg/status"
    index = fetch_artifacts(run.work / "artifacts", base_status=base, report=lambda _: None)
    run.state["artifacts"] = index
    missing = f"; missing: {', '.join(index.missing)}" if index.missing else ""
    return f"{len(index.artifacts)} artifacts{missing}"


def first_up(run: Run) -> str:
    raise NotYet("`pulumi up` of the metal stack on the hosts (branch metal)")


def smoke(run: Run) -> str:
    raise NotYet("`deploykit smoke` against the stack's outputs")


def noop_up(run: Run) -> str:
    raise NotYet("`pulumi up --expect-no-changes`, pids unchanged")


def rolling_restart(run: Run) -> str:
    raise NotYet("a NATS config change rolled one node at a time under a publisher")


def destroy(run: Run) -> str:
    raise NotYet("`pulumi destroy`, hosts checked file by file")


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
        with boot_hosts(options.hosts) as hosts:
            addresses = ", ".join(h.address for h in hosts)
            rows.append(("host boot", time.monotonic() - started, f"{len(hosts)}: {addresses}"))
            run = Run(hosts, Path(tmp))
            blocked = ""
            for name, phase in PHASES:
                if blocked:
                    rows.append((name, None, f"skipped: after {blocked}"))
                    continue
                started = time.monotonic()
                try:
                    note = phase(run)
                except NotYet as exc:
                    rows.append((name, None, f"not yet: {exc}"))
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
        path = ensure_rootfs(Recipe())
        return ("rootfs", time.monotonic() - started, f"cached: {path}")
    with tempfile.TemporaryDirectory(prefix="bench-rootfs-") as cache:
        ensure_rootfs(Recipe(), cache=Path(cache))
        return ("rootfs", time.monotonic() - started, "built by debootstrap")


if __name__ == "__main__":
    main()
