"""The test-host harness itself: three hosts boot with systemd, log in over SSH, reach each
other on the harness's bridge, survive a reboot, and leave nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from deploykit.testing.hosts import (
    PREFIX,
    Host,
    Hosts,
    boot_hosts,
    cache_root,
    leftovers,
    sweep,
)

pytestmark = pytest.mark.hosts


def test_three_hosts_boot_talk_reboot_and_leave_nothing(tmp_path: Path) -> None:
    with boot_hosts(3) as hosts:
        run = hosts.run
        folder = hosts.folder
        assert oct(hosts.key_path.stat().st_mode & 0o777) == "0o600"
        for host in hosts:
            state = hosts.ssh(host, "systemctl is-system-running --wait", check=False).stdout
            assert state.strip() in ("running", "degraded"), f"{host.name}: {state}"
            assert hosts.ssh(host, "hostname").stdout.strip() == host.name
        _reach_each_other(hosts)
        _copy(hosts, tmp_path)
        _reboot(hosts)
        _kill9_recovers(hosts)
        assert leftovers(run), "a live run must show up in leftovers()"
        namespaces = {_pid_namespace(_init_of(host)) for host in hosts}
        assert len(namespaces) == 3
    assert leftovers(run) == []
    alive = {_pid_namespace(pid) for pid in _all_pids()}
    assert not namespaces & alive, "a process of a host's pid namespace survived the teardown"
    assert not any(PREFIX + run in line for line in _lines(["ip", "netns", "list"]))
    assert not any(PREFIX + run in line for line in _lines(["ip", "-o", "link", "show"]))
    assert str(folder) not in Path("/proc/self/mountinfo").read_text()
    assert not any(str(folder) in line for line in _lines(["ps", "-eo", "args"]))
    assert not folder.exists() and folder.parent == cache_root() / "runs"


def _reach_each_other(hosts: Hosts) -> None:
    """Every host opens TCP to every other host's sshd on the bridge, and to none outside."""
    for host in hosts:
        for other in hosts:
            if other is host:
                continue
            banner = hosts.ssh(
                host,
                f"timeout 5 bash -c 'exec 3<>/dev/tcp/{other.address}/22; head -c 4 <&3'",
            ).stdout
            assert banner == "SSH-", f"{host.name} -> {other.name}: {banner!r}"
    route = hosts.ssh(hosts[0], "ip route").stdout
    assert "default" not in route, f"the hosts must have no route out: {route}"


def _copy(hosts: Hosts, tmp_path: Path) -> None:
    source = tmp_path / "hello.txt"
    source.write_text("hello from the deploying machine\n")
    hosts.copy(hosts[1], source, "/tmp/hello.txt")
    assert hosts.ssh(hosts[1], "cat /tmp/hello.txt").stdout == source.read_text()


def _reboot(hosts: Hosts) -> None:
    """/run is a tmpfs of the host: a marker there is gone after a real reboot, while a file on
    disk stays."""
    host = hosts[2]
    hosts.ssh(host, "touch /run/before-reboot /var/tmp/kept")
    hosts.reboot(host)
    gone = hosts.ssh(host, "test -e /run/before-reboot", check=False).returncode
    assert gone != 0, "/run/before-reboot survived: the host did not reboot"
    hosts.ssh(host, "test -e /var/tmp/kept")
    state = hosts.ssh(host, "systemctl is-system-running --wait", check=False).stdout
    assert state.strip() in ("running", "degraded")


def _kill9_recovers(hosts: Hosts) -> None:
    """kill -9 of sshd's main process by unit name: systemd restarts it (Restart=on-failure)."""
    host = hosts[0]
    before = hosts.main_pid(host, "ssh")
    assert hosts.kill9(host, "ssh") == before
    hosts.wait_ssh(host, deadline=60)
    after = hosts.main_pid(host, "ssh")
    assert after not in (0, before)


def _init_of(host: Host) -> int:
    """The host's systemd: the child of its nspawn process."""
    assert host.process is not None
    children = [pid for pid in _all_pids() if _parent(pid) == host.process.pid]
    assert len(children) == 1, children
    return children[0]


def _all_pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError):
        return -1


def _pid_namespace(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return "gone"


def _lines(argv: list[str]) -> list[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.splitlines()


CHILD = """
import sys
from deploykit.testing.hosts import boot_hosts
with boot_hosts(1) as hosts:
    print(hosts.run, flush=True)
    sys.stdin.read()
"""


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "SIGKILL"])
def test_a_stopped_or_crashed_run_leaves_nothing(how: str) -> None:
    """SIGTERM/SIGINT tear down in the process itself; after SIGKILL the next run's sweep does."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        run = child.stdout.readline().strip()
        assert run and leftovers(run), "the child's host must be up"
        child.send_signal(getattr(signal, how))
        child.wait(timeout=60)
        if how == "SIGKILL":
            assert leftovers(run), "nothing ran after SIGKILL: the run must still be there"
            assert run in sweep()
        assert leftovers(run) == []
    finally:
        child.kill()
        child.wait()
