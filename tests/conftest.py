"""Shared fixtures: real servers on free loopback ports, one per kind per session."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploykit.local.nats import LocalNats, local_cluster
from deploykit.local.ports import free_ports
from deploykit.local.postgres import LocalPostgres
from deploykit.local.stack import LocalStack
from deploykit.manifest.load import load_manifest
from deploykit.manifest.model import Manifest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def reference_manifest() -> Manifest:
    """The repository's own deploykit.yaml, the reference SaaS."""
    return load_manifest(ROOT / "deploykit.yaml")


@pytest.fixture(scope="session")
def nats_single(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNats]:
    """One nats-server with JetStream and no auth, for tests that need a plain server."""
    with local_cluster(tmp_path_factory.mktemp("nats-single"), size=1) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def nats_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNats]:
    """Three nats-server nodes in a cluster on loopback, rendered from the kit's template."""
    with local_cluster(tmp_path_factory.mktemp("nats-cluster"), size=3) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPostgres]:
    """A real PostgreSQL on a free loopback port, from the kit's own templates."""
    server = LocalPostgres(tmp_path_factory.mktemp("postgres"), free_ports(1)[0], "test-superuser")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def dev_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The reference system brought up once by `deploykit dev` (3 NATS nodes, PostgreSQL, the
    four apps). Tests that break something must put it back (`dev_stack.up()` is idempotent)."""
    stack = LocalStack(
        tmp_path_factory.mktemp("dev") / ".deploykit",
        ROOT / "deploykit.yaml",
        report=lambda _: None,
    )
    try:
        stack.up(nodes=3)  # inside: a failed `up` must not leave what it started running
        yield stack
    finally:
        stack.down()


@pytest.fixture
def gateway_function(tmp_path: Path) -> Path:
    """The files the small tier deploys to Vercel for the gateway (the frontend of the committed
    stack file), laid out as Vercel gets them."""
    import shutil

    import yaml

    from components.small.vercel import bundle
    from deploykit.stack.config import VercelFrontend

    stack = yaml.safe_load((ROOT / "stacks" / "Pulumi.small.yaml").read_text())
    frontend = VercelFrontend.model_validate(
        stack["config"]["deploykit:small"]["vercel"]["frontends"]["gateway"]
    )
    into = tmp_path / "gateway-function"
    for path, entry in bundle(ROOT, "gateway", frontend).items():
        (into / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(entry["source"], into / path)
    return into


CACHES = {"__pycache__", ".pytest_cache", ".hypothesis", ".ruff_cache", ".mypy_cache"}


def _untracked() -> set[str] | None:
    """What git sees in the checkout beyond its files (ignored ones too), caches aside; None
    outside a git checkout."""
    try:
        done = subprocess.run(
            ["git", "status", "--porcelain", "--ignored=matching", "--untracked-files=normal"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    paths = {line[3:] for line in done.stdout.splitlines() if line[:2] in ("??", "!!")}
    return {p for p in paths if not CACHES & set(Path(p).parts) and ".egg-info" not in p}


@pytest.fixture(scope="session", autouse=True)
def checkout_stays_clean() -> Iterator[None]:
    """Fails the run when a test leaves a file or folder in the checkout: tests write under
    their temporary folders only."""
    before = _untracked()
    yield
    after = _untracked()
    if before is not None and after is not None:
        left = sorted(after - before)
        assert not left, f"the tests left these in the checkout: {', '.join(left)}"
