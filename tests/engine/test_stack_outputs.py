"""The stack outputs through the real CLI: `deploykit smoke --stack` and `deploykit bench --stack`
read `pulumi stack output --json --show-secrets` of a stack deployed here.

The stack exports the local stack's outputs document the way the tiers export theirs (one
output per key, credentials and database URLs secret), so what the commands read is exactly
what the real CLI prints for a deployed tier.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pulumi

from components.small.tier import SECRET_OUTPUTS
from deploykit.local.stack import LocalStack
from deploykit.testing.engine import Engine

ROOT = Path(__file__).resolve().parents[2]
DEPLOYKIT = shutil.which("deploykit", path=str(Path(sys.executable).parent)) or "deploykit"


def test_smoke_and_bench_read_the_outputs_of_a_deployed_stack(
    engine: Engine, dev_stack: LocalStack
) -> None:
    document = json.loads(dev_stack.dir.outputs_file.read_text())

    def program() -> None:
        for key, value in document.items():
            pulumi.export(key, pulumi.Output.secret(value) if key in SECRET_OUTPUTS else value)

    stack = engine.stack("outputs", program)
    stack.up()
    shown = json.loads(stack.cli("stack", "output", "--json", "--show-secrets").stdout)
    assert shown == document
    state = stack.state_text()
    for credential in document["nats"]["credentials"].values():
        assert credential["password"] not in state

    smoke = engine.run([DEPLOYKIT, "smoke", "--stack", stack.name, "--json"], cwd=ROOT)
    assert smoke.returncode == 0, smoke.stdout[-3000:] + smoke.stderr
    report = json.loads(smoke.stdout)
    assert report["source"] == f"pulumi stack {stack.name}"

    short = ["-m", "pubsub,kv-put,db-insert", "-c", "1", "-n", "2000", "-d", "1"]
    bench = engine.run(
        [DEPLOYKIT, "bench", "--stack", stack.name, *short, "--json"],
        cwd=ROOT,
    )
    assert bench.returncode == 0, bench.stdout[-3000:] + bench.stderr
    measured = json.loads(bench.stdout)
    assert measured["target"]["system"] == document["system"]
