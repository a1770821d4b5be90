"""Steps on the hosts: `RemoteStep`, the kit's own dynamic provider, runs a step's create,
update and delete scripts (`deploykit.metal`, pure) as root over SSH.

Transport: the system's OpenSSH client (`ssh`), not an SSH library: it is on every deploying
machine already, honours the user's ~/.ssh/config (jump hosts, agents) and known_hosts, and
needs no new dependency in the dynamic provider's process. The private key is written to a
0600 file for the one call and removed; it and stdin are secret inputs, and a step's stdout
is secret when asked (the k3s kubeconfig).

The lifecycle (`deploykit.metal.steps.step_change`): a changed script, stdin or trigger runs
`update`; a new key or delete script only records; a different machine replaces the step;
`pulumi destroy` runs `delete`.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tarfile
import tempfile
import time
import uuid
from collections.abc import Sequence
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider, UpdateResult

from deploykit.errors import HostStepError
from deploykit.metal.shell import q
from deploykit.metal.steps import (
    CONNECT_RETRY_SECONDS,
    SSH_FAILED,
    Upload,
    delete_script,
    describe,
    ssh_argv,
    step_change,
    upload_script,
)
from deploykit.stack.config import Host

__all__ = ["Hosts", "RemoteStep", "RemoteStepProvider", "digest", "run_on_host"]

_TIMEOUT = 1800


def digest(*parts: pulumi.Input[str]) -> pulumi.Output[str]:
    """A short fingerprint of some inputs, for `triggers` (secret when any input is)."""
    return pulumi.Output.all(*parts).apply(
        lambda values: hashlib.sha256("\0".join(values).encode()).hexdigest()[:16]
    )


class _Session:
    """ssh calls to one host with the step's key (a 0600 file for the session's lifetime)."""

    def __init__(self, props: dict[str, Any], folder: str) -> None:
        self.props = props
        self.key_file = os.path.join(folder, "key")
        fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(props["private_key"].rstrip("\n") + "\n")

    def run(self, body: str, stdin: bytes) -> str:
        """Run `body`; retry while ssh cannot connect (a host that reboots) until a deadline;
        raise naming the step and the host when the script fails."""
        props = self.props
        argv = ssh_argv(
            host=props["host"],
            user=props["user"],
            port=int(props.get("port") or 22),
            key_file=self.key_file,
            known_hosts=props.get("known_hosts") or "",
            body=body,
        )
        deadline = time.monotonic() + CONNECT_RETRY_SECONDS
        while True:
            done = subprocess.run(
                argv, input=stdin, capture_output=True, timeout=_TIMEOUT, check=False
            )
            unreachable = done.returncode == SSH_FAILED and not done.stdout
            if unreachable and time.monotonic() < deadline:
                time.sleep(2)  # polling ssh until the host answers, bounded by the deadline
                continue
            break
        if done.returncode != 0:
            stderr = done.stderr.decode(errors="replace").strip()
            tail = "\n".join(stderr.splitlines()[-20:])
            raise HostStepError(
                f"step {props.get('name')} on {props['user']}@{props['host']} failed "
                f"(exit {done.returncode}) running {describe(argv)}:\n{tail}"
            )
        return done.stdout.decode(errors="replace")

    def upload(self, uploads: Sequence[dict[str, str]]) -> None:
        """Copy files of the deploying machine to the host, those it lacks (by sha256): one
        call lists what is there, one tar stream carries what is missing, checked on arrival."""
        if not uploads:
            return
        targets = " ".join(q(u["target"]) for u in uploads)
        present = self.run(f"sha256sum {targets} 2>/dev/null || true", b"")
        have = {line.split()[1]: line.split()[0] for line in present.splitlines() if line.strip()}
        missing = [u for u in uploads if have.get(u["target"]) != u["sha256"]]
        if missing:
            self.run(upload_script(missing), _tar(missing))


def _tar(uploads: Sequence[dict[str, str]]) -> bytes:
    """The files as one tar stream, each under its target path (relative to /)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for upload in uploads:
            archive.add(upload["source"], arcname=upload["target"].lstrip("/"), recursive=False)
    return buffer.getvalue()


def run_on_host(props: dict[str, Any], body: str) -> str:
    """The step's uploads, then `body` with the step's stdin."""
    if not body.strip():
        return ""
    with tempfile.TemporaryDirectory(prefix="deploykit-ssh-") as folder:
        session = _Session(props, folder)
        session.upload(props.get("uploads") or [])
        return session.run(body, (props.get("stdin") or "").encode())


class RemoteStepProvider(ResourceProvider):
    """create/update/delete of one step; diff by `step_change`."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        stdout = run_on_host(props, props["create"])
        return CreateResult(f"{props['name']}-{uuid.uuid4().hex[:8]}", {**props, "stdout": stdout})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        change = step_change(olds, news)
        return DiffResult(
            changes=change != "none",
            replaces=["host"] if change == "replace" else [],
            delete_before_replace=True,
        )

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        stdout = olds.get("stdout", "")
        if step_change(olds, news) == "update":
            stdout = run_on_host(news, news.get("update") or news["create"])
        return UpdateResult({**news, "stdout": stdout})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        run_on_host(props, delete_script(props.get("delete") or "", props.get("uploads") or []))


class RemoteStep(Resource, module="metal", name="RemoteStep"):
    """One step on one host. `stdout`: what the create (or last update) script printed."""

    stdout: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        host: Host,
        private_key: pulumi.Input[str],
        known_hosts: str,
        create: str,
        update: str = "",
        delete: str = "",
        stdin: pulumi.Input[str] | None = None,
        triggers: Sequence[Any] = (),
        uploads: Sequence[Upload] = (),
        secret_output: bool = False,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "uploads": [u.as_input() for u in uploads],
            "name": name,
            "host": host.address,
            "port": host.sshPort,
            "user": host.sshUser,
            "private_key": pulumi.Output.secret(private_key),
            "known_hosts": known_hosts,
            "create": create,
            "update": update,
            "delete": delete,
            "stdin": pulumi.Output.secret(stdin) if stdin is not None else "",
            "triggers": list(triggers),
            "stdout": None,
        }
        secret = ["private_key", "stdin", *(["stdout"] if secret_output else [])]
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=secret)
        )
        super().__init__(RemoteStepProvider(), name, props, opts)


class Hosts:
    """Runs steps as root on the stack's hosts, each a child of `parent`."""

    def __init__(self, private_key: pulumi.Input[str], known_hosts: str = "") -> None:
        self._key, self._known_hosts = private_key, known_hosts

    def run(
        self,
        name: str,
        host: Host,
        body: str,
        parent: pulumi.Resource,
        *,
        delete: str = "",
        update: str = "",
        stdin: pulumi.Input[str] | None = None,
        depends_on: Sequence[pulumi.Resource] = (),
        triggers: Sequence[Any] = (),
        uploads: Sequence[Upload] = (),
        secret_output: bool = False,
    ) -> RemoteStep:
        """A step: `body` on create (and on update unless `update` is given), `delete` on
        destroy; a changed body, stdin or trigger runs it again."""
        return RemoteStep(
            name,
            host=host,
            private_key=self._key,
            known_hosts=self._known_hosts,
            create=body,
            update=update,
            delete=delete,
            stdin=stdin,
            triggers=triggers,
            uploads=uploads,
            secret_output=secret_output,
            opts=pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on)),
        )
