"""Ports for the kit's servers come from outside the kernel's ephemeral range: inside it, an
outgoing connection's source port could take a port between its choice and its server's bind."""

from __future__ import annotations

import socket

from deploykit.local.ports import LOWEST, ephemeral_range, free_ports


def test_ports_are_distinct_bindable_and_never_ones_outgoing_connections_use() -> None:
    low, high = ephemeral_range()
    assert LOWEST <= low <= high
    ports = free_ports(200)
    assert len(set(ports)) == 200
    assert all(LOWEST <= p < low or high < p <= 65535 for p in ports), ports
    for port in ports[:20]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))


def test_a_port_held_by_a_listener_is_not_chosen() -> None:
    held = free_ports(1)[0]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", held))
        listener.listen()
        assert held not in free_ports(500)
