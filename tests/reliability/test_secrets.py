"""Every command of the kit, run against a real local stack with its real secrets (and with
known wrong ones): no secret appears in any output, log or file that is not meant to hold it,
and the files meant to hold them are 0600.

Uses the session's `dev_stack`; its passwords (state.json) are the known secret values, plus
the wrong passwords this test passes itself. Commands run through the console script's entry
point, in-process (`deploykit/testing/clirun.py`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from deploykit.local.stack import LocalStack
from deploykit.manifest import naming
from deploykit.stack.outputs import load_outputs
from deploykit.testing.clirun import cli

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
WRONG = "wrong-secret-7f3a9c1e5b2d"
MEANT_TO_HOLD = {"state.json", "outputs.json"}  # and each NATS node's rendered config


def holds_secrets(path: Path, root: Path) -> bool:
    return path.name in MEANT_TO_HOLD or (path.parent == root / "nats" and path.suffix == ".conf")


def commands(stack: LocalStack) -> list[tuple[list[str], dict[str, str], int]]:
    """Every command, each with the secrets a user would give it (options, env, URL), and the
    exit code it must end with."""
    state = stack.dir.load()
    assert state
    manifest = str(ROOT / "deploykit.yaml")
    outputs = load_outputs(stack.dir.outputs_file)
    user = naming.provisioning_user("core")
    secret = outputs.credential(user).password or ""
    host = outputs.nats.urls[0].removeprefix("nats://")
    d = ["--dir", str(stack.dir.root), "-f", manifest]
    url = ["--url", outputs.nats.urls[0], "--user", user, "-f", manifest, "--bus", "core"]
    in_url = ["-f", manifest, "--bus", "core", "--url"]
    return [
        (["validate", manifest], {}, 0),
        (["lint", manifest, "--target", "local"], {}, 0),
        (["render", "permissions", manifest], {}, 0),
        (["render", "permissions", manifest, "--json"], {}, 0),
        (["render", "permissions", manifest, "--nats"], {}, 0),
        (["dev", "up", *d], {}, 0),
        (["dev", "up", "--json", *d], {}, 0),
        (["dev", "status", *d], {}, 0),
        (["dev", "status", "--json", *d], {}, 0),
        (["dev", "logs", *d], {}, 0),
        (["dev", "logs", "accounts", *d], {}, 0),
        (["nats", "plan", "--outputs", str(stack.dir.outputs_file), "-f", manifest], {}, 0),
        (["nats", "apply", "--outputs", str(stack.dir.outputs_file), "-f", manifest], {}, 0),
        (["nats", "plan", *url, "--password", secret], {}, 0),
        (["nats", "apply", *url], {"NATS_PASSWORD": secret}, 0),
        (["nats", "plan", *in_url, f"nats://{user}:{secret}@{host}"], {}, 0),
        (["nats", "plan", *url, "--password", WRONG], {}, 1),
        (["nats", "apply", *in_url, f"nats://{user}:{WRONG}@{host}"], {}, 2),
        (["dev", "down", *d], {}, 0),
        (["dev", "up", *d], {}, 0),
    ]


def test_no_command_shows_or_leaks_a_secret(dev_stack: LocalStack) -> None:
    state = dev_stack.dir.load()
    assert state and state.passwords
    secrets = {*state.passwords.values(), WRONG}
    assert all(len(s) >= 20 for s in secrets), "a secret too short to search for"

    leaks = []
    for args, env, code in commands(dev_stack):
        run = cli(*args, cwd=ROOT, env=env)
        assert run.code == code, f"deploykit {' '.join(args[:2])}: {run.text}"
        if any(WRONG in a for a in args):
            assert "refused the credentials" in run.err, run.err
        leaks += [f"deploykit {args[0]} {args[1]}: output" for s in secrets if s in run.text]
    assert all(p.pid() for *_, p, _ in dev_stack.processes()), "the stack is not back up"

    held = []
    root = dev_stack.dir.root
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        found = [s for s in secrets if s.encode() in data]
        if not found:
            continue
        if holds_secrets(path, root):
            held.append(path)
            assert path.stat().st_mode & 0o777 == 0o600, (
                f"{path} holds secrets, mode {path.stat().st_mode & 0o777:o}"
            )
        else:
            leaks.append(f"{path.relative_to(root)}")
    assert not leaks, "secrets where they do not belong:\n" + "\n".join(leaks)
    assert {p.name for p in held} >= MEANT_TO_HOLD, "the test found no secret where it must be"
    assert WRONG not in "".join(p.read_text(errors="replace") for p in held)
