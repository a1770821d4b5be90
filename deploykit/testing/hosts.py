"""Debian test hosts with real systemd on this machine, for the metal tier's end-to-end tests.

    with boot_hosts(3) as hosts:           # root only; `hosts_unavailable()` says why not
        node1 = hosts[0]                   # Host(name="node1", address="10.200.0.2", ...)
        hosts.ssh(node1, "systemctl is-system-running --wait")
        hosts.copy(node1, Path("file"), "/tmp/file")
        hosts.reboot(node1)                # nspawn exits on reboot: booted again, sshd awaited
        pid = hosts.main_pid(node1, "nats-server")
        hosts.kill9(node1, "nats-server")  # SIGKILL to the unit's main process
    # nothing left: no namespace, bridge, veth, mount, nspawn process or run folder

How (the commands of a manual run, made repeatable):
- rootfs: `debootstrap --variant=minbase --include=...` once per recipe, cached outside the
  repository in `~/.cache/deploykit/hosts/<key>/rootfs`, key = hash of the recipe (suite,
  include list, extra packages). Never written to after it is built.
- per host: an overlayfs view of that rootfs (upper/work/merged in the run folder): mounted
  in 0.01 s where `cp -a` of the 285 MB rootfs took 13.7 s per host (and 5.5 s to remove) on
  this 2-core machine under load; it survives the host's reboots because the mount belongs to
  the run, not to the container. Measured: 3 hosts boot to an SSH login in 2-5 s, teardown
  takes under 1 s, debootstrap about 2-3 minutes once per recipe.
- network: a bridge with its own /24 (10.200.N.0/24, the first N not routed on this machine;
  the bridge takes .1, the hosts .2, .3, ...), one network namespace per host, a veth pair
  between them. Only addresses inside those namespaces and on that bridge are used.
- boot: `systemd-nspawn --boot --register=no --keep-unit --network-namespace-path=...`, in its
  own session; ready when sshd sends its banner and `ssh true` succeeds (deadline, no sleeps).
- root SSH with an ed25519 key made per run (0600); the hosts have no route out.
- teardown on context exit, exception, SIGTERM and SIGINT (SIGKILL to each nspawn and host
  init, then a wait until no process of the hosts' pid namespaces is left); and at every start
  a sweep of the runs whose owning process is gone (a crashed earlier run), found by the run
  folders under `~/.cache/deploykit/hosts/runs/` and the names that start with `PREFIX` + a
  run id. Runs of live processes (another test session on this machine) are left alone.

For a stack on these hosts: each host's `address` is its SSH and private address, the private
key is `hosts.key_path` (user root), and `hosts.gateway` is the deploying machine's address on
the hosts' network (what pg_hba must let in for smoke's database checks). Hosts reach each
other and the gateway, nothing else.

All names start with `PREFIX` ("dkt") and the 4-hex run id: bridge `dkt<id>br`, namespaces
`dkt<id>n<i>`, host-side veths `dkt<id>v<i>` (15 characters at most, the kernel's limit).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import ipaddress
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

__all__ = [
    "BASE_INCLUDE",
    "PREFIX",
    "Host",
    "HostError",
    "Hosts",
    "Recipe",
    "boot_hosts",
    "cache_root",
    "ensure_rootfs",
    "hosts_unavailable",
    "leftovers",
    "sweep",
]

PREFIX = "dkt"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
BASE_INCLUDE = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "iproute2",
    "ca-certificates",
    "curl",
    "sudo",
    "procps",
)
SSH_OPTIONS = (
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "LogLevel=ERROR",
    "-o",
    "BatchMode=yes",
    "-o",
    "ConnectTimeout=5",
)


class HostError(RuntimeError):
    """A test host could not be made, booted, reached or removed; the message says which."""


def cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "deploykit" / "hosts"


@dataclass(frozen=True)
class Recipe:
    """What a rootfs is made of; its `key` names the cache folder, so a changed recipe builds a
    new rootfs instead of reusing one that lacks a package."""

    suite: str = "bookworm"
    include: tuple[str, ...] = BASE_INCLUDE
    extra: tuple[str, ...] = ()
    mirror: str = DEBIAN_MIRROR

    @property
    def key(self) -> str:
        recipe = {"suite": self.suite, "include": sorted(self.include), "extra": sorted(self.extra)}
        return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def hosts_unavailable() -> str:
    """Why test hosts cannot be made here, or "" when they can."""
    if os.geteuid() != 0:
        return "test hosts need root (network namespaces, bridges, mounts, systemd-nspawn)"
    missing = [tool for tool in ("systemd-nspawn", "debootstrap", "ip", "ssh") if not _which(tool)]
    if missing:
        return f"missing {', '.join(missing)} (apt-get install -y debootstrap systemd-container)"
    return ""


def ensure_rootfs(recipe: Recipe = Recipe(), cache: Path | None = None) -> Path:
    """The recipe's rootfs, built by debootstrap on first use (about 2 minutes) and reused
    after. Built in a temporary folder and renamed, so a failed build leaves nothing usable."""
    folder = (cache or cache_root()) / recipe.key
    rootfs = folder / "rootfs"
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder / "lock"):
        if rootfs.is_dir():
            return rootfs
        building = folder / "rootfs.building"
        shutil.rmtree(building, ignore_errors=True)
        include = ",".join(sorted({*recipe.include, *recipe.extra}))
        argv = ["debootstrap", "--variant=minbase", f"--include={include}"]
        argv += [recipe.suite, str(building), recipe.mirror]
        log = folder / "debootstrap.log"
        with log.open("w") as out:
            done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, check=False)
        if done.returncode != 0:
            shutil.rmtree(building, ignore_errors=True)
            tail = log.read_text(errors="replace").splitlines()[-15:]
            raise HostError(f"debootstrap failed ({' '.join(argv)}):\n" + "\n".join(tail))
        (building / "etc/machine-id").write_text("")  # each host gets its own at boot
        (folder / "recipe.json").write_text(json.dumps(recipe.__dict__, indent=2) + "\n")
        building.rename(rootfs)
    return rootfs


@dataclass
class Host:
    """One booted test host: `name` is its hostname, `address` what SSH and servers use."""

    name: str
    address: str
    index: int
    netns: str
    veth: str
    folder: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def root(self) -> Path:
        """The host's filesystem as this machine sees it (the overlay's merged view)."""
        return self.folder / "merged"


class Hosts:
    """A set of booted test hosts; made and removed by `boot_hosts`."""

    def __init__(self, run: str, folder: Path, network: ipaddress.IPv4Network) -> None:
        self.run = run
        self.folder = folder
        self.network = network
        self.hosts: list[Host] = []

    def __iter__(self) -> Iterator[Host]:
        return iter(self.hosts)

    def __getitem__(self, index: int) -> Host:
        return self.hosts[index]

    def __len__(self) -> int:
        return len(self.hosts)

    @property
    def bridge(self) -> str:
        return f"{PREFIX}{self.run}br"

    @property
    def gateway(self) -> str:
        """The deploying machine's address on the hosts' network (the bridge's)."""
        return str(self.network.network_address + 1)

    @property
    def key_path(self) -> Path:
        """The private key (0600) that logs in as root on every host."""
        return self.folder / "id_ed25519"

    def ssh_argv(self, host: Host) -> list[str]:
        """`ssh` with the run's key and options, up to the destination: append the command."""
        return ["ssh", "-i", str(self.key_path), *SSH_OPTIONS, f"root@{host.address}"]

    def ssh(
        self,
        host: Host,
        command: str,
        *,
        input: str | bytes | None = None,
        check: bool = True,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """Run `command` on `host` as root; raises HostError with its output when it fails and
        `check` is set."""
        data = input.encode() if isinstance(input, str) else input
        try:
            done = subprocess.run(
                [*self.ssh_argv(host), command],
                input=data,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise HostError(f"{host.name}: `{command}` still running after {timeout}s") from None
        result = subprocess.CompletedProcess(
            done.args,
            done.returncode,
            done.stdout.decode(errors="replace"),
            done.stderr.decode(errors="replace"),
        )
        if check and done.returncode != 0:
            raise HostError(
                f"{host.name}: `{command}` exited {done.returncode}:\n{result.stdout}{result.stderr}"
            )
        return result

    def copy(self, host: Host, source: Path, target: str, *, recursive: bool = False) -> None:
        """Copy a local file (or folder, with `recursive`) to `target` on `host` over SSH."""
        argv = ["scp", "-q", "-i", str(self.key_path), *SSH_OPTIONS]
        argv += ["-r"] if recursive else []
        argv += [str(source), f"root@{host.address}:{target}"]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
        except subprocess.TimeoutExpired:
            raise HostError(f"{host.name}: scp {source} {target} took over 300s") from None
        if done.returncode != 0:
            raise HostError(f"{host.name}: scp {source} {target} failed: {done.stderr.strip()}")

    def main_pid(self, host: Host, unit: str) -> int:
        """The unit's MainPID (0 when it is not running)."""
        out = self.ssh(host, f"systemctl show -p MainPID --value {shlex.quote(unit)}").stdout
        return int(out.strip() or 0)

    def kill9(self, host: Host, unit: str) -> int:
        """SIGKILL to the unit's main process, as a crash would; returns the pid killed."""
        pid = self.main_pid(host, unit)
        if pid == 0:
            raise HostError(f"{host.name}: unit {unit} has no main process to kill")
        self.ssh(host, f"kill -9 {pid}")
        return pid

    def reboot(self, host: Host, deadline: float = 120) -> None:
        """`systemctl reboot` on the host; nspawn exits then, so the host is booted again and
        awaited like at the start."""
        if host.process is None:
            raise HostError(f"{host.name} is not running")
        self.ssh(host, "systemctl reboot", check=False)
        try:
            host.process.wait(timeout=deadline)
        except subprocess.TimeoutExpired:
            raise HostError(f"{host.name} did not shut down within {deadline}s") from None
        self.boot(host, deadline)

    def boot(self, host: Host, deadline: float = 120, *, wait: bool = True) -> None:
        """Start the host's container and (with `wait`) wait until root can log in over SSH."""
        log = (host.folder / "console.log").open("ab")
        argv = [
            "systemd-nspawn",
            f"--directory={host.root}",
            "--boot",
            "--register=no",
            "--keep-unit",
            f"--machine={PREFIX}{self.run}-{host.name}",
            f"--hostname={host.name}",
            f"--network-namespace-path=/run/netns/{host.netns}",
            "--console=read-only",
        ]
        host.process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
        log.close()
        if wait:
            self.wait_ssh(host, deadline)

    def wait_ssh(self, host: Host, deadline: float = 120) -> None:
        """Until sshd sends its banner and a login runs `true`, or fail after `deadline` s."""
        end = time.monotonic() + deadline
        last = ""
        while time.monotonic() < end:
            if host.process is not None and host.process.poll() is not None:
                raise HostError(f"{host.name}: systemd-nspawn exited: {self._console(host)}")
            if _ssh_banner(host.address):
                done = self.ssh(host, "true", check=False, timeout=15)
                if done.returncode == 0:
                    return
                last = done.stderr.strip()
            time.sleep(0.2)  # polling interval of the banner probe, not a synchronisation
        raise HostError(
            f"{host.name} ({host.address}): no SSH login within {deadline}s ({last or 'no banner'})"
            f"; console: {self._console(host)}"
        )

    @staticmethod
    def _console(host: Host) -> str:
        path = host.folder / "console.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-20:])


@contextlib.contextmanager
def boot_hosts(
    count: int,
    recipe: Recipe = Recipe(),
    *,
    names: Sequence[str] = (),
    deadline: float = 180,
) -> Iterator[Hosts]:
    """Boot `count` hosts (named `names`, else node1..nodeN) and remove everything afterwards,
    whatever happens (exceptions, SIGTERM, SIGINT)."""
    why = hosts_unavailable()
    if why:
        raise HostError(why)
    host_names = list(names) or [f"node{i}" for i in range(1, count + 1)]
    if len(host_names) != count:
        raise HostError(f"{count} hosts but {len(host_names)} names")
    sweep()
    rootfs = ensure_rootfs(recipe)
    with _signals_raise():
        hosts = _make_run(count)
        try:
            _make_key(hosts.key_path)
            _make_bridge(hosts)
            for index, name in enumerate(host_names, start=1):
                hosts.hosts.append(_make_host(hosts, index, name, rootfs))
            for host in hosts:
                hosts.boot(host, wait=False)  # all boot together, then each is awaited
            for host in hosts:
                hosts.wait_ssh(host, deadline)
            yield hosts
        finally:
            _teardown(hosts.run, hosts.folder)


def sweep() -> list[str]:
    """Remove the runs whose owning process is gone, and namespaces or links of ours whose run
    folder is gone; returns the run ids removed."""
    runs = cache_root() / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    with _locked(runs / "lock"):  # a run being made has its owner written under this lock
        return _sweep(runs)


def _sweep(runs: Path) -> list[str]:
    folders = {f.name.removeprefix(PREFIX): f for f in runs.glob(f"{PREFIX}*")}
    ours = [n for n in [*_netns(), *_links()] if n.startswith(PREFIX)]
    orphans = {name[len(PREFIX) : len(PREFIX) + 4] for name in ours}
    orphans = {run for run in orphans if _is_run_id(run) and run not in folders}
    swept = []
    for run in sorted({*folders, *orphans}):
        folder = folders.get(run, runs / f"{PREFIX}{run}")
        if folder.exists() and _owner_alive(folder):
            continue
        _teardown(run, folder)
        swept.append(run)
    return swept


def _is_run_id(run: str) -> bool:
    """A run id as the harness makes them (4 hex digits)."""
    return len(run) == 4 and all(c in "0123456789abcdef" for c in run)


def leftovers(run: str) -> list[str]:
    """What of run `run` still exists on this machine (namespaces, links, mounts, processes,
    folders): empty after a clean teardown."""
    name = f"{PREFIX}{run}"
    found = [f"netns {ns}" for ns in _netns() if ns.startswith(name)]
    found += [f"link {link}" for link in _links() if link.startswith(name)]
    folder = cache_root() / "runs" / name
    found += [f"mount {m}" for m in _mounts() if m.startswith(str(folder))]
    found += [f"process {pid}" for pid in _processes_under(folder)]
    if folder.exists():
        found.append(f"folder {folder}")
    return found


# --- making a run -------------------------------------------------------------------------


def _make_run(count: int) -> Hosts:
    runs = cache_root() / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    with _locked(runs / "lock"):
        while True:
            run = secrets.token_hex(2)
            folder = runs / f"{PREFIX}{run}"
            if not folder.exists() and not leftovers(run):
                break
        folder.mkdir(mode=0o700)
        network = _free_network(count)
        (folder / "network").write_text(str(network))
        _write_owner(folder)
    return Hosts(run, folder, network)


def _free_network(count: int) -> ipaddress.IPv4Network:
    """The first 10.200.N.0/24 that no route on this machine touches (so two test sessions on
    one machine never share addresses), big enough for the bridge and `count` hosts."""
    if count > 250:
        raise HostError(f"{count} hosts: at most 250 fit on one /24")
    routes = subprocess.run(["ip", "-4", "route", "show", "table", "all"], **_text()).stdout
    used = []
    for line in routes.splitlines():
        word = line.split()[0] if line.split() else ""
        if word in ("local", "broadcast", "unreachable", "multicast"):
            word = line.split()[1]
        with contextlib.suppress(ValueError):
            used.append(ipaddress.ip_network(word, strict=False))
    for third in range(256):
        candidate = ipaddress.IPv4Network(f"10.200.{third}.0/24")
        if not any(candidate.overlaps(u) for u in used if u.version == 4 and u.prefixlen > 0):
            return candidate
    raise HostError("no free 10.200.N.0/24 network on this machine")


def _make_key(path: Path) -> None:
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "deploykit-test", "-f", str(path)])
    path.chmod(0o600)


def _make_bridge(hosts: Hosts) -> None:
    _run(["ip", "link", "add", hosts.bridge, "type", "bridge"])
    _run(["ip", "addr", "add", f"{hosts.gateway}/{hosts.network.prefixlen}", "dev", hosts.bridge])
    _run(["ip", "link", "set", hosts.bridge, "up"])


def _make_host(hosts: Hosts, index: int, name: str, rootfs: Path) -> Host:
    address = str(hosts.network.network_address + 1 + index)
    host = Host(
        name=name,
        address=address,
        index=index,
        netns=f"{PREFIX}{hosts.run}n{index}",
        veth=f"{PREFIX}{hosts.run}v{index}",
        folder=hosts.folder / name,
    )
    for part in ("upper", "work", "merged"):
        (host.folder / part).mkdir(parents=True)
    _run(
        [
            "mount",
            "-t",
            "overlay",
            "overlay",
            "-o",
            f"lowerdir={rootfs},upperdir={host.folder / 'upper'},workdir={host.folder / 'work'}",
            str(host.root),
        ]
    )
    _personalise(host, hosts.key_path.with_suffix(".pub").read_text())
    _run(["ip", "netns", "add", host.netns])
    _run(
        [
            "ip",
            "link",
            "add",
            host.veth,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            host.netns,
        ]
    )
    _run(["ip", "link", "set", host.veth, "master", hosts.bridge])
    _run(["ip", "link", "set", host.veth, "up"])
    prefix = hosts.network.prefixlen
    _run(["ip", "-n", host.netns, "addr", "add", f"{address}/{prefix}", "dev", "eth0"])
    _run(["ip", "-n", host.netns, "link", "set", "eth0", "up"])
    _run(["ip", "-n", host.netns, "link", "set", "lo", "up"])
    return host


def _personalise(host: Host, public_key: str) -> None:
    """Hostname, machine id and root's authorized key, written into the host's own layer."""
    root = host.root
    (root / "etc/hostname").write_text(host.name + "\n")
    (root / "etc/machine-id").write_text(secrets.token_hex(16) + "\n")
    ssh = root / "root/.ssh"
    ssh.mkdir(mode=0o700, exist_ok=True)
    (ssh / "authorized_keys").write_text(public_key)
    (ssh / "authorized_keys").chmod(0o600)


# --- teardown -----------------------------------------------------------------------------


def _teardown(run: str, folder: Path) -> None:
    """Remove everything of run `run`, in the order that lets each step succeed: processes,
    mounts, namespaces (which take their veth ends along), links, the folder."""
    name = f"{PREFIX}{run}"
    _stop_processes(folder)
    for mount in sorted(_mounts(), reverse=True):
        if mount.startswith(str(folder)):
            subprocess.run(["umount", mount], **_text())
    for ns in _netns():
        if ns.startswith(name):
            subprocess.run(["ip", "netns", "del", ns], **_text())
    for link in _links():
        if link.startswith(name):
            subprocess.run(["ip", "link", "del", link], **_text())
    shutil.rmtree(folder, ignore_errors=True)
    left = leftovers(run)
    if left:
        raise HostError(f"test hosts run {run}: teardown left {', '.join(left)}")


def _stop_processes(folder: Path, deadline: float = 20) -> None:
    """SIGKILL to every nspawn of the run and each host's init (nothing a test host runs needs
    a clean shutdown), then wait until no process of the hosts' pid namespaces is left, not
    even a zombie waiting for this machine's init to reap it."""
    end = time.monotonic() + deadline
    namespaces: set[str] = set()
    while True:
        pids = _processes_under(folder)
        namespaces |= {_pid_namespace(pid) for pid in pids} - {_pid_namespace(os.getpid()), ""}
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _reap(pids)
        if not pids and not _in_namespaces(namespaces):
            return
        if time.monotonic() > end:
            raise HostError(f"processes of {folder} survived SIGKILL for {deadline}s")
        time.sleep(0.05)  # polling interval while the kernel reaps, not a synchronisation


def _pid_namespace(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return ""


def _in_namespaces(namespaces: set[str]) -> list[int]:
    if not namespaces:
        return []
    pids = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]
    return [pid for pid in pids if _pid_namespace(pid) in namespaces]


def _reap(pids: list[int]) -> None:
    """Collect our own children (the nspawns this process started) so they do not linger as
    zombies that still look alive."""
    for pid in pids:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)


def _processes_under(folder: Path) -> list[int]:
    """The run's nspawn processes (by their --directory) and their children (each container's
    init: killing it makes the kernel kill everything in that host's pid namespace)."""
    prefix = f"--directory={folder}/"
    parents: dict[int, int] = {}
    nspawns = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except (OSError, IndexError):
            continue
        if fields[0] == "Z":
            continue
        parents[int(entry.name)] = int(fields[1])
        if any(arg.startswith(prefix) for arg in cmdline):
            nspawns.append(int(entry.name))
    return nspawns + [pid for pid, parent in parents.items() if parent in nspawns]


# --- signals, locks, owners ---------------------------------------------------------------


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    """SIGTERM and SIGINT become exceptions inside the block, so `finally` tears down."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _write_owner(folder: Path) -> None:
    partial = folder / "owner.partial"
    partial.write_text(f"{os.getpid()} {_start_time(os.getpid())}")
    partial.rename(folder / "owner")


def _owner_alive(folder: Path) -> bool:
    try:
        pid_text, started = (folder / "owner").read_text().split()
        return _start_time(int(pid_text)) == started
    except (OSError, ValueError):
        return False


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks: with the pid, it names one process for good."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "gone"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- small helpers ------------------------------------------------------------------------


def _ssh_banner(address: str) -> bool:
    try:
        with socket.create_connection((address, 22), timeout=1) as sock:
            sock.settimeout(2)
            return sock.recv(8).startswith(b"SSH-")
    except OSError:
        return False


def _netns() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], **_text()).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _links() -> list[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], **_text()).stdout
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line]


def _mounts() -> list[str]:
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    return [line.split()[4].replace("\\040", " ") for line in lines]


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, **_text())
    if done.returncode != 0:
        raise HostError(f"`{' '.join(argv)}` failed: {done.stderr.strip()}")


def _text() -> dict[str, Any]:
    return {"capture_output": True, "text": True, "check": False}


def _which(tool: str) -> str:
    return shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin") or ""
