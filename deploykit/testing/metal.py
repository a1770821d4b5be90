"""Support for the metal tier's end-to-end tests and bench on test hosts (effectful): the
hosts' SSH keys as a known_hosts file (so the kit's own steps check host keys strictly)."""

from __future__ import annotations

from pathlib import Path

from deploykit.testing.hosts import Hosts

__all__ = ["known_hosts_file"]


def known_hosts_file(hosts: Hosts, path: Path) -> Path:
    """A known_hosts file naming each host's address with the keys its sshd serves, read from
    the host's own filesystem (never trusted on first use)."""
    lines = []
    for host in hosts:
        for key in sorted((host.root / "etc/ssh").glob("ssh_host_*_key.pub")):
            kind, value = key.read_text().split()[:2]
            lines.append(f"{host.address} {kind} {value}")
    path.write_text("\n".join(lines) + "\n")
    return path
