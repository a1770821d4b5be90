"""A service imports what its settings use and nothing more: the runtime without psycopg,
jsonschema, prometheus_client or the manifest's models; the launcher imports ahead what the
settings will need; `dev up` plans without the runtime. Each check is a fresh interpreter, since this one has imported everything
already."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from deploykit.manifest import naming
from deploykit.manifest.model import Manifest
from deploykit.manifest.wiring import wiring_for
from deploykit.runtime import Settings
from deploykit.testing.polling import wait_until

ROOT = Path(__file__).resolve().parents[2]
HEAVY = (
    "psycopg.pq",
    "jsonschema.validators",
    "prometheus_client",
    "deploykit.manifest.model",
)
REPORT = f"import json, sys; print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"


def loaded(code: str, env: dict[str, str] | None = None) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\n{REPORT}"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return list(json.loads(out.stdout.splitlines()[-1]))


def test_the_runtime_imports_none_of_what_only_some_services_use() -> None:
    assert loaded("import deploykit.runtime") == []


def test_a_refused_payload_is_still_described_by_jsonschema() -> None:
    code = (
        "from deploykit.runtime import JsonCodec\n"
        "from deploykit.manifest.contracts import PayloadCheck\n"
        "check = PayloadCheck({'type': 'object', 'required': ['id']})\n"
        "assert check.errors({'id': 1}) == []\n"
        "import sys; assert 'jsonschema.validators' not in sys.modules\n"
        "assert check.errors({}) == [\"$: 'id' is a required property\"], check.errors({})"
    )
    assert "jsonschema.validators" in loaded(code)


def _launched(env: dict[str, str], tmp_path: Path) -> list[str]:
    """What a service forked by the launcher finds imported when it runs."""
    from deploykit.local.launch import Launcher, Spec

    script, log = tmp_path / "service.py", tmp_path / "service.log"
    script.write_text(REPORT)
    log.unlink(missing_ok=True)
    launcher = Launcher(
        [Spec("svc", [str(script)], env, str(tmp_path), str(log))],
        env,
        tmp_path,
        tmp_path / "launcher.log",
    )
    try:
        pid = launcher.go("svc")
    finally:
        launcher.close()
    assert pid is not None
    wait_until(lambda: log.exists() and log.read_text().endswith("]\n"), 60, "the service's report")
    return list(json.loads(log.read_text().splitlines()[-1]))


def test_the_launcher_imports_ahead_what_the_settings_use(
    reference_manifest: Manifest, tmp_path: Path
) -> None:
    def env(name: str, database: str | None) -> dict[str, str]:
        wiring = wiring_for(reference_manifest, name).model_dump_json()
        service = naming.service_env(name, "nats://a:4222", name, "pw", database, wiring=wiring)
        return {**os.environ, **service}

    with_db, without = env("welcome", "postgresql://x"), env("projector", None)
    assert "DATABASE_URL" not in without
    assert Settings.from_env(with_db).imports()[0] == "psycopg"
    assert _launched(with_db, tmp_path) == ["prometheus_client", "psycopg.pq"]
    assert _launched(without, tmp_path) == ["prometheus_client"]


def test_database_errors_are_known_without_importing_psycopg_first() -> None:
    code = (
        "import sys\n"
        "from deploykit.runtime.database import is_database_error\n"
        "assert not is_database_error(ValueError('x')) and 'psycopg.pq' not in sys.modules\n"
        "import psycopg\n"
        "assert is_database_error(psycopg.OperationalError('down'))\n"
        "assert not is_database_error(ValueError('x'))"
    )
    assert loaded(code) == ["psycopg.pq"]


def test_dev_up_plans_its_services_without_the_runtime_or_an_http_client() -> None:
    """`dev up` derives each service's wiring and probes /healthz while its servers start: the
    runtime, psycopg and httpx would cost it more CPU than that work."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "import deploykit.local.stack\n"
        "from deploykit.local.plan import plan_outputs, plan_services\n"
        "from deploykit.local.state import DevState\n"
        "from deploykit.manifest.load import load_manifest\n"
        "manifest = load_manifest(Path('deploykit.yaml'))\n"
        "state = DevState(manifest='deploykit.yaml', cluster_name='acme', nodes=1,\n"
        "                 nats_ports=[4222, 6222, 8222], postgres_port=5432)\n"
        "outputs = plan_outputs(manifest, state, ['nats://127.0.0.1:4222'], [])\n"
        "assert len(plan_services(manifest, outputs, state)) == len(manifest.services)\n"
        "heavy = ('deploykit.runtime', 'psycopg', 'httpx', 'aiohttp')\n"
        "print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"


def test_services_tests_written_before_the_wiring_moved_still_import_it() -> None:
    import deploykit.manifest.wiring as wiring
    from deploykit.runtime.wiring import ConsumerWiring, Wiring, wiring_for

    assert (ConsumerWiring, Wiring, wiring_for) == (
        wiring.ConsumerWiring,
        wiring.Wiring,
        wiring.wiring_for,
    )
