"""The permission compiler's accounts and users for the metal cluster, and the JetStream step.

Passwords are made once on the deployer (`generated_secret`) and kept, secret, in the stack
state: a new password on every `pulumi up` would reload NATS and roll every app for nothing.
"""

from __future__ import annotations

import pulumi

from components.jetstream import JetStreamDefinitions
from components.metal.generated import generated_secret
from components.metal.inputs import JetStreamContext, JetStreamHook, NatsAuth, NatsUser
from deploykit.laws.authconf import render_accounts_block
from deploykit.laws.permissions import compile_authorization
from deploykit.manifest.model import Manifest
from deploykit.manifest.naming import provisioning_user

__all__ = ["compiled_auth", "reconciled_jetstream"]


def compiled_auth(manifest: Manifest, prefix: str, parent: pulumi.Resource) -> NatsAuth:
    authorization = compile_authorization(manifest)
    passwords = {
        name: generated_secret(f"{prefix}-nats-password-{name}", parent)
        for name in authorization.users
    }
    accounts = pulumi.Output.all(**passwords).apply(
        lambda plain: render_accounts_block(authorization, plain)
    )
    users = {
        name: NatsUser(
            account=authorization.account_of(name),
            role=user.role.value,
            password=passwords[name],
            service=user.service,
        )
        for name, user in authorization.users.items()
    }
    return NatsAuth(accounts=pulumi.Output.secret(accounts), users=users)


def reconciled_jetstream(
    manifest: Manifest, name: str, cluster_size: int, destroy_data: bool = False
) -> JetStreamHook:
    """The reconciler's Pulumi resources, each bus as its provisioning user, over TLS. Their
    data lives in the servers' store: deleted with `destroy_data`, else left there (on destroy,
    or when an object leaves the manifest), like the store folder itself."""

    def step(context: JetStreamContext) -> pulumi.Resource:
        passwords = {
            provisioning_user(bus): user.password for bus, user in context.provisioning.items()
        }
        credentials = pulumi.Output.all(**passwords).apply(
            lambda plain: {user: {"user": user, "password": pw} for user, pw in plain.items()}
        )
        return JetStreamDefinitions(
            name,
            manifest,
            context.urls,
            cluster_size,
            credentials,
            ca_certificate=context.ca_certificate,
            opts=context.opts,
            keep_data=not destroy_data,
        )

    return step
