"""A service imports what its settings use and nothing more: the runtime without psycopg,
jsonschema, prometheus_client or the manifest's models; a launcher imports ahead what the
settings will need. Each check is a fresh interpreter, since this one has imported everything
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
    """What a service behind the launcher's gate finds imported when it runs."""
    script = tmp_path / "service.py"
    script.write_text(REPORT)
    read, write = os.pipe()
    with subprocess.Popen(
        [sys.executable, "-m", "deploykit.local.launch", str(read), str(script)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        pass_fds=(read,),
    ) as child:
        os.close(read)
        os.write(write, b"go")
        os.close(write)
        out, _ = child.communicate(timeout=60)
    return list(json.loads(out.splitlines()[-1]))


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
