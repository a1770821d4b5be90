"""What a process tree listens on, read from /proc (what `ss -lntup` shows), so a test can
prove that everything the kit starts stays on loopback."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

__all__ = ["Socket", "beyond_loopback", "bound_sockets", "descendants", "is_loopback"]

Socket = tuple[str, str, int]  # (protocol, address, port)


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def _address(hex_address: str) -> str:
    """An address of /proc/net/{tcp,udp}[6]: 32-bit words in host (little-endian) order."""
    raw = bytes.fromhex(hex_address)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words))


def bound_sockets(pid: int) -> list[Socket]:
    """Every TCP socket `pid` listens on and every UDP socket it has bound."""
    inodes = _socket_inodes(pid)
    found = []
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        table = Path(f"/proc/net/{proto}")
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if inode not in inodes or (proto.startswith("tcp") and state != "0A"):  # LISTEN
                continue
            address, port = local.split(":")
            found.append((proto, _address(address), int(port, 16)))
    return found


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (a PostgreSQL server's backends, say)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        ppid = int(text.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += parents.get(current, [])
    return found


def is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or bool(mapped and mapped.is_loopback)


def beyond_loopback(pid: int) -> tuple[list[Socket], list[Socket]]:
    """(every socket of `pid`'s tree, those bound beyond loopback)."""
    sockets = [s for p in descendants(pid) for s in bound_sockets(p)]
    return sockets, [s for s in sockets if not is_loopback(s[1])]
