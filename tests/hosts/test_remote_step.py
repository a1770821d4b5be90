"""`RemoteStep` through a real Pulumi engine on a real Debian host: create installs a file and
a unit and starts it, a second `up` changes nothing (same MainPID), a changed input runs the
update (the unit restarts only because its file changed), a changed delete script only
records, and `destroy` runs the delete script: unit and file gone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pulumi
import pytest

from components.metal.remote import Hosts as Runner
from deploykit.metal.shell import put_file, remove_paths, remove_units, restart_if_pending, script
from deploykit.stack.config import Host
from deploykit.testing.engine import Engine
from deploykit.testing.hosts import Hosts, boot_hosts
from deploykit.testing.metal import known_hosts_file

pytestmark = [pytest.mark.hosts, pytest.mark.engine]

UNIT = "dk-hello.service"


@pytest.fixture(scope="module")
def hosts() -> Iterator[Hosts]:
    with boot_hosts(1) as booted:
        yield booted


def _unit(message: str) -> str:
    return (
        "[Service]\n"
        f"ExecStart=/bin/sh -c 'echo {message}; exec sleep infinity'\n"
        "[Install]\nWantedBy=multi-user.target\n"
    )


def test_a_step_is_created_left_alone_updated_and_deleted(
    hosts: Hosts, engine: Engine, tmp_path: Path
) -> None:
    node = hosts[0]
    host = Host(name=node.name, address=node.address, roles=["nats"])
    known = known_hosts_file(hosts, tmp_path / "known_hosts")
    key = hosts.key_path.read_text()
    inputs = {"message": "hello", "delete": script(remove_units(UNIT), remove_paths("/etc/dk"))}

    def program() -> None:
        parent = pulumi.ComponentResource("deploykit:test:Parent", "parent")
        runner = Runner(pulumi.Output.secret(key), str(known))
        runner.run(
            "hello",
            host,
            script(
                "install -d /etc/dk",
                put_file(f"/etc/systemd/system/{UNIT}", pending=UNIT),
                restart_if_pending(UNIT),
            ),
            parent,
            stdin=_unit(inputs["message"]),
            delete=inputs["delete"],
        )

    stack = engine.stack("steps", program)
    stack.up()
    first = hosts.main_pid(node, UNIT)
    assert first > 0
    assert "PS1" not in hosts.ssh(node, f"journalctl -u {UNIT} --no-pager").stdout

    stack.expect_no_changes()
    assert hosts.main_pid(node, UNIT) == first

    inputs["delete"] = inputs["delete"] + "\necho recorded only"
    changes = stack.up().summary.resource_changes or {}
    assert changes.get("update") == 1
    assert hosts.main_pid(node, UNIT) == first, "a new delete script runs nothing"

    inputs["message"] = "hello again"
    assert (stack.up().summary.resource_changes or {}).get("update") == 1
    second = hosts.main_pid(node, UNIT)
    assert second not in (0, first), "the unit's file changed: it restarted"
    assert "hello again" in hosts.ssh(node, f"cat /etc/systemd/system/{UNIT}").stdout

    stack.destroy()
    gone = hosts.ssh(
        node, f"systemctl is-active {UNIT}; ls /etc/systemd/system/{UNIT} /etc/dk", check=False
    )
    assert gone.stdout.startswith("inactive") and "No such file" in gone.stderr
    assert gone.stderr.count("No such file") == 2
    assert key not in stack.state_text()
