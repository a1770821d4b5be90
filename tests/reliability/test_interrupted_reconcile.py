"""A JetStream apply cut off in the middle (the connection dies with requests in flight) leaves
the server in a state that the next `nats plan` describes exactly, and the next `nats apply`
completes; the interrupted command fails with a message and exit code 2, no traceback.

The cut is a real one: the CLI talks to a real nats-server through a loopback TCP relay that
forwards the first N create requests, then closes every connection and stops listening.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import pytest
import yaml

from deploykit.jetstream import JetStreamApi
from deploykit.jetstream.desired import desired_state
from deploykit.local.nats import LocalNats
from deploykit.manifest import naming
from deploykit.manifest.load import load_manifest
from deploykit.testing.clirun import Outcome, cli, run_cli
from deploykit.testing.natsusers import nats_with_users

pytestmark = pytest.mark.integration

CREATES = re.compile(rb"\$JS\.API\.(STREAM|CONSUMER)\.CREATE\.")
STREAMS = 8


class CuttingRelay:
    """Relays loopback connections to `port`; once `cut_after` create requests have gone
    through, it cuts every connection and stops listening, like a network that went away."""

    def __init__(self, port: int, cut_after: int) -> None:
        self.target = port
        self.cut_after = cut_after
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sent = bytearray()
        self.forwarded = 0
        self.cut = threading.Event()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.cut.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target))
            self.sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, counting: bool) -> None:
        while not self.cut.is_set():
            try:
                data = source.recv(65536)
                if not data:
                    return
                sink.sendall(data)
            except OSError:
                return
            if counting:
                self.sent += data
                self.forwarded = len(CREATES.findall(self.sent))
                if self.forwarded >= self.cut_after:
                    self.close()

    def close(self) -> None:
        self.cut.set()
        for sock in [self.listener, *self.sockets]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


@dataclass
class Target:
    cluster: LocalNats
    manifest: Path
    password: str

    def args(self, verb: str, url: str) -> list[str]:
        user = naming.provisioning_user("core")
        return ["nats", verb, "-f", str(self.manifest), "--url", url, "--user", user]

    def cut_apply(self, relay: CuttingRelay) -> subprocess.CompletedProcess[str]:
        """`deploykit nats apply` as its own process, through the relay that cuts it off."""
        url = f"nats://127.0.0.1:{relay.port}"
        return run_cli(*self.args("apply", url), env={"NATS_PASSWORD": self.password})

    def cli(self, verb: str, *options: str) -> Outcome:
        """`deploykit nats VERB` straight to the server (in-process: deploykit.testing.clirun)."""
        args = [*self.args(verb, self.cluster.urls[0]), *options]
        return cli(*args, env={"NATS_PASSWORD": self.password})


def manifest_data() -> dict[str, Any]:
    """One bus, STREAMS streams each with a queue consumer: enough steps to cut in between."""
    return {
        "version": 1,
        "system": "cut",
        "buses": {"core": {}},
        "streams": {
            f"CUT{i}": {"subjects": [f"cut.{i}.>"], "replicas": 1, "max_age": "1h"}
            for i in range(STREAMS)
        },
        "services": {
            "worker": {
                "role": "worker",
                "consumes": [
                    {"stream": f"CUT{i}", "consumer": f"work{i}", "mode": "queue"}
                    for i in range(STREAMS)
                ],
            }
        },
    }


@pytest.fixture
def target(tmp_path: Path) -> Iterator[Target]:
    path = tmp_path / "deploykit.yaml"
    path.write_text(yaml.safe_dump(manifest_data()))
    with nats_with_users(tmp_path / "nats", load_manifest(path)) as users:
        yield Target(users.cluster, path, users.passwords[naming.provisioning_user("core")])


def server_objects(target: Target) -> set[str]:
    """Every stream (KV bucket, object store) and durable consumer of the account, labelled
    as plan steps are, read straight from the server as the provisioning user."""
    kinds = {"KV_": "kv", "OBJ_": "object_store"}

    def label(stream: str) -> str:
        prefix = next((p for p in kinds if stream.startswith(p)), "")
        return f"{kinds.get(prefix, 'stream')} {stream.removeprefix(prefix)}"

    async def read() -> set[str]:
        user = naming.provisioning_user("core")
        nc = await nats.connect(
            target.cluster.urls,
            user=user,
            password=target.password,
            inbox_prefix=naming.inbox_prefix(user),
        )
        try:
            state = await JetStreamApi(nc).server_state()
        finally:
            await nc.close()
        consumers = {f"consumer {s}/{c}" for s, cs in state.consumers.items() for c in cs}
        return {label(s) for s in state.streams} | consumers

    return asyncio.run(read())


@pytest.mark.parametrize("cut_after", [1, 9])
def test_an_apply_cut_midway_is_planned_exactly_and_completed(
    target: Target, cut_after: int
) -> None:
    declared = {d.label for d in desired_state(load_manifest(target.manifest), "core", 1).objects}
    relay = CuttingRelay(target.cluster.nodes[0].client_port, cut_after)
    cut = target.cut_apply(relay)
    relay.close()
    assert relay.forwarded >= cut_after, "the relay never cut: the apply finished first"
    assert cut.returncode == 2, cut.stdout + cut.stderr
    assert "Traceback" not in cut.stderr and cut.stderr.strip(), cut.stderr

    present = server_objects(target)
    assert present < declared, f"nothing or everything was applied: {present}"
    plan = target.cli("plan", "--json")
    assert plan.code == 2, plan.err
    (bus,) = json.loads(plan.out)["buses"]
    planned = {f"{s['kind']} {s['name']}": s["action"] for s in bus["steps"]}
    assert planned == dict.fromkeys(declared - present, "create")
    assert set(bus["unchanged"]) == present and bus["undeclared"] == []

    done = target.cli("apply")
    assert done.code == 0, done.err
    assert server_objects(target) == declared
    again = target.cli("plan")
    assert again.code == 0, again.text
