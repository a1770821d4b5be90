"""Free loopback ports for the servers and services the kit starts.

Chosen outside the kernel's ephemeral range (`ip_local_port_range`): a port the kernel hands
out for binding to port 0 comes from that range, and so does the source port of every outgoing
connection. Between the moment a port is chosen and the moment its server binds it, a NATS
route or a client connecting elsewhere could take it as its source port ("Address already in
use" at the server's start, seen on `dev up`). Outside that range only a listener can hold a
port, and each one chosen is checked by binding it.
"""

from __future__ import annotations

import random
import socket
from contextlib import ExitStack
from pathlib import Path

__all__ = ["ephemeral_range", "free_ports", "port_in_use"]

LOWEST = 1024  # below: privileged ports
LINUX_DEFAULT = (32768, 60999)


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range of source ports for outgoing connections (inclusive)."""
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        return LINUX_DEFAULT
    return low, high


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct ports, outside the ephemeral range, that were free a moment ago (held
    open together, so distinct). Random, so that two callers at once rarely pick the same."""
    low, high = ephemeral_range()
    candidates = [*range(LOWEST, low), *range(high + 1, 65536)]
    if len(candidates) < 10 * count:  # (nearly) every port is ephemeral: the kernel's choice
        return _kernel_ports(count, host)
    pick = random.SystemRandom()
    with ExitStack() as stack:
        ports: list[int] = []
        for port in (pick.choice(candidates) for _ in range(100 * count)):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            try:
                sock.bind((host, port))
            except OSError:  # taken (or chosen twice): another one
                continue
            ports.append(port)
            if len(ports) == count:
                return ports
    return _kernel_ports(count, host)


def _kernel_ports(count: int, host: str) -> list[int]:
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            ports.append(sock.getsockname()[1])
        return ports


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0
