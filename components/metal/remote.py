"""Steps on the hosts: `remote.Command`s whose scripts come from `deploykit.metal` (pure) and
whose connection, SSH key included, is a secret as a whole."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import pulumi
from pulumi_command import local, remote

from deploykit.metal.shell import as_root
from deploykit.metal.tls import INTERPRETER
from deploykit.stack.config import Host

__all__ = ["Hosts", "digest", "generated_secret"]


def digest(*parts: pulumi.Input[str]) -> pulumi.Output[str]:
    """A short fingerprint of some inputs, for `triggers` (secret when any input is)."""
    return pulumi.Output.all(*parts).apply(
        lambda values: hashlib.sha256("\0".join(values).encode()).hexdigest()[:16]
    )


class Hosts:
    """Runs scripts as root on the stack's hosts, each step a child of `parent`."""

    def __init__(self, private_key: pulumi.Input[str]) -> None:
        self._key = private_key

    def connection(self, host: Host) -> pulumi.Output[Any]:
        return pulumi.Output.secret(
            pulumi.Output.from_input(self._key).apply(
                lambda key: {"host": host.address, "user": host.sshUser, "privateKey": key}
            )
        )

    def run(
        self,
        name: str,
        host: Host,
        body: str,
        parent: pulumi.Resource,
        *,
        stdin: pulumi.Input[str] | None = None,
        depends_on: Sequence[pulumi.Resource] = (),
        triggers: Sequence[Any] | None = None,
        secret_output: bool = False,
    ) -> remote.Command:
        """A step; changing its script or stdin runs it again, changing `triggers` replaces it."""
        return remote.Command(
            name,
            connection=self.connection(host),
            create=as_root(body, host.sshUser),
            stdin=pulumi.Output.secret(stdin) if stdin is not None else None,
            triggers=list(triggers) if triggers is not None else None,
            logging=remote.Logging.NONE if secret_output else None,
            opts=pulumi.ResourceOptions(
                parent=parent,
                depends_on=list(depends_on),
                additional_secret_outputs=["stdout", "stderr"] if secret_output else None,
            ),
        )


def generated_secret(name: str, parent: pulumi.Resource) -> pulumi.Output[str]:
    """A random password made once (on the deployer) and kept as a secret in the stack state."""
    command = local.Command(
        name,
        create="openssl rand -hex 24",
        interpreter=INTERPRETER,
        logging=local.Logging.NONE,
        opts=pulumi.ResourceOptions(parent=parent, additional_secret_outputs=["stdout"]),
    )
    return pulumi.Output.secret(command.stdout.apply(lambda out: out.strip()))
