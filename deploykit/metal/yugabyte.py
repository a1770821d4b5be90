"""YugabyteDB on the hosts: replication factor 3, a yb-master on the first three database
hosts and a yb-tserver (YSQL on 5433) on every one, each with a flag file and a systemd unit.

Each host is its own placement zone, so the three replicas of every tablet land on three
hosts; the cluster-wide placement is then set explicitly (YugabyteDB issue #16402 lost commits
when it was left invalid). YugabyteDB stops a server whose clock drifts more than 500 ms, so
chrony is installed with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from deploykit.configs.templates import render
from deploykit.metal import layout
from deploykit.metal.shell import ensure_packages, http_ok, q, script, system_user, wait_until
from deploykit.stack.config import Host

__all__ = [
    "ADMIN_USER",
    "HOME",
    "REPLICATION_FACTOR",
    "Placement",
    "install_script",
    "master_flags",
    "masters",
    "placement_script",
    "provision_script",
    "start_script",
    "tserver_flags",
    "yugabyte_unit",
]

HOME = "/opt/yugabyte"
DATA_DIR = "/var/lib/yugabyte"
ADMIN_USER = "yugabyte"
REPLICATION_FACTOR = 3


@dataclass(frozen=True)
class Placement:
    cloud: str
    region: str
    zone: str


def masters(hosts: Sequence[Host]) -> list[str]:
    """The first three database hosts run a yb-master: as many masters as the replication factor."""
    return [f"{h.private}:{layout.YB_MASTER_RPC_PORT}" for h in hosts[:REPLICATION_FACTOR]]


def _placement(system: str, host: Host) -> Placement:
    return Placement(cloud="deploykit", region=system, zone=host.name)


def master_flags(system: str, host: Host, hosts: Sequence[Host]) -> str:
    return render(
        "yugabyte/master.flags.j2",
        masters=masters(hosts),
        address=host.private,
        rpc_port=layout.YB_MASTER_RPC_PORT,
        ui_port=layout.YB_MASTER_UI_PORT,
        data_dir=f"{DATA_DIR}/master",
        replication_factor=REPLICATION_FACTOR,
        placement=_placement(system, host),
    )


def tserver_flags(system: str, host: Host, hosts: Sequence[Host]) -> str:
    return render(
        "yugabyte/tserver.flags.j2",
        masters=masters(hosts),
        address=host.private,
        rpc_port=layout.YB_TSERVER_RPC_PORT,
        ui_port=layout.YB_TSERVER_UI_PORT,
        ysql_port=layout.YSQL_PORT,
        data_dir=f"{DATA_DIR}/tserver",
        placement=_placement(system, host),
    )


def yugabyte_unit(process: str, home: str = HOME) -> str:
    return render(
        "systemd/yugabyte.service.j2",
        process=process,
        home=home,
        flagfile=f"/etc/yugabyte/{process}.flags",
    )


def install_script(release: str) -> str:
    """The release tarball into /opt/yugabyte-<release>, linked as /opt/yugabyte, unless there."""
    base = release.split("-b")[0]
    url = f"https://downloads.yugabyte.com/releases/{base}/yugabyte-{release}-linux-x86_64.tar.gz"
    target = f"/opt/yugabyte-{release}"
    return script(
        ensure_packages(["ca-certificates", "chrony", "curl"]),
        system_user(ADMIN_USER, DATA_DIR),
        f"install -d -o {ADMIN_USER} -g {ADMIN_USER} -m 0750 {DATA_DIR} {DATA_DIR}/master "
        f"{DATA_DIR}/tserver",
        "install -d -o root -g yugabyte -m 0750 /etc/yugabyte",
        f"if [ ! -x {target}/bin/yb-tserver ]; then",
        'tmp="$(mktemp -d)"',
        "trap 'rm -rf \"$tmp\"' EXIT",
        f'curl -fsSL {q(url)} | tar -xz -C "$tmp"',
        f'mv "$tmp/yugabyte-{base}" {target}',
        f"{target}/bin/post_install.sh",
        "fi",
        f"ln -sfn {target} {HOME}",
    )


def start_script(process: str, host: Host) -> str:
    port = layout.YB_MASTER_UI_PORT if process == "master" else layout.YB_TSERVER_UI_PORT
    return script(
        "systemctl daemon-reload",
        f"systemctl enable yb-{process}",
        f"systemctl restart yb-{process}",
        wait_until(http_ok(f"http://{host.private}:{port}/"), 300, f"yb-{process} not up"),
    )


def placement_script(system: str, hosts: Sequence[Host]) -> str:
    """Cluster-wide placement: one replica per host-zone, replication factor 3."""
    zones = ",".join(
        f"{p.cloud}.{p.region}.{p.zone}" for p in (_placement(system, h) for h in hosts)
    )
    return (
        f"{HOME}/bin/yb-admin --master_addresses {','.join(masters(hosts))} "
        f"modify_placement_info {zones} {REPLICATION_FACTOR}"
    )


def provision_script(host: Host) -> str:
    """Stdin: the admin password on the first line, then the SQL. The SQL sets that password,
    so the very first run logs in with YugabyteDB's default one instead."""
    ysqlsh = f"{HOME}/bin/ysqlsh -X -q -h {host.private} -p {layout.YSQL_PORT} -U {ADMIN_USER}"
    return script(
        "IFS= read -r password",
        'sql="$(cat)"',
        f'if PGPASSWORD="$password" {ysqlsh} -d yugabyte -c "select 1" >/dev/null 2>&1; then',
        'export PGPASSWORD="$password"',
        "else",
        "export PGPASSWORD=yugabyte",
        "fi",
        f"printf '%s\\n' \"$sql\" | {ysqlsh} -d yugabyte -f -",
    )
