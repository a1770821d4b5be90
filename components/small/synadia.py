"""NATS on Synadia Cloud: one account per bus, one NATS user per service, creds as secrets.

The permissions come from the authorization document, the neutral JSON the permission compiler
renders (`deploykit.laws.permissions.render_authorization_json`):

    {"accounts": {"<bus>": {"users": {"<user>": {"pub": {"allow": [...], "deny": [...]},
                                                 "sub": {"allow": [...], "deny": [...]},
                                                 "resp": {"max": 1, "ttl": 0}}}}}}

Each user's object is passed as Synadia's NatsUserCreateRequest `jwt_settings` unchanged, so it
may hold only the fields of that schema. The users are the manifest's services on that bus plus
`smoke-<bus>` and `provisioning-<bus>` (deploykit.manifest.naming). A team that creates users by hand sets
`nats.existingCredentials` and one `deploykit:natsCreds.<user>` secret per user instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, ReadResult, UpdateResult

from components.small.dynamic import ApiProvider, integral, managed_view, secret_outputs
from components.small.synadia_links import LinksProvider, SynadiaLinks
from deploykit.errors import ConfigError
from deploykit.laws.exports import compile_links
from deploykit.manifest import naming
from deploykit.manifest.model import Manifest
from deploykit.saas.http import NotFound
from deploykit.saas.synadia import SYNADIA, SynadiaClient, UserJwtSettings
from deploykit.small.accounts import (
    Authorization,
    account_limits,
    limits_patch,
    parse_authorization,
    spell_tiers,
    unspell_tiers,
    user_roles,
)
from deploykit.small.outputs import credentials
from deploykit.stack.config import SynadiaSettings

__all__ = [
    "AccountProvider",
    "Nats",
    "NatsConnection",
    "SynadiaAccount",
    "SynadiaUser",
    "UserProvider",
]


class AccountProvider(ApiProvider):
    """Synadia Cloud accounts: created in a system with explicit limits, polled until synced.

    `limits` key JetStream tiers by replica count; they are spelled as the system names its
    tiers on every call (deploykit.small.accounts.spell_tiers).
    """

    service = SYNADIA
    token_key = "synadiaToken"
    replace_on = ("system_id", "name")
    update_on = ("limits",)

    def _client(self) -> SynadiaClient:
        return SynadiaClient(self.require_token(), self.api_url, **self.client_options)

    def _spelled(
        self, api: SynadiaClient, system_id: str, limits: dict[str, Any]
    ) -> dict[str, Any]:
        system = api.get_system(system_id)
        return spell_tiers(limits, system.jetstream_tiers or [], system.name)

    def create(self, props: dict[str, Any]) -> CreateResult:
        props = integral(props)
        with self._client() as api:
            limits = self._spelled(api, props["system_id"], props["limits"])
            account = api.create_account(props["system_id"], props["name"], {"limits": limits})
            api.wait_account_synced(account.id)
        return CreateResult(account.id, {**props, "public_key": account.account_public_key})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with self._client() as api:
            try:
                account = api.get_account(id_)
            except NotFound:
                return ReadResult("", {})
        limits = unspell_tiers((account.jwt_settings or {}).get("limits") or {})
        outs = {
            "system_id": account.system.id,
            "name": account.name,
            "limits": managed_view(limits, props.get("limits") or {}),
            "public_key": account.account_public_key,
        }
        return ReadResult(id_, outs)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        news = integral(news)
        with self._client() as api:
            new = self._spelled(api, news["system_id"], news["limits"])
            old = self._spelled(api, olds["system_id"], olds.get("limits") or {})
            account = api.update_account(id_, {"limits": limits_patch(old, new)})
            api.wait_account_synced(id_)
        return UpdateResult({**news, "public_key": account.account_public_key})

    def delete(self, id_: str, _props: dict[str, Any]) -> None:
        with self._client() as api, contextlib.suppress(NotFound):
            api.delete_account(id_)


class UserProvider(ApiProvider):
    """NATS users with their permissions; the creds file is downloaded once and kept secret."""

    service = SYNADIA
    token_key = "synadiaToken"
    replace_on = ("account_id", "name")
    update_on = ("jwt_settings",)

    def _client(self) -> SynadiaClient:
        return SynadiaClient(self.require_token(), self.api_url, **self.client_options)

    def create(self, props: dict[str, Any]) -> CreateResult:
        props = integral(props)
        settings = UserJwtSettings.model_validate(props["jwt_settings"])
        with self._client() as api:
            group = api.default_sk_group(props["account_id"])
            user = api.create_user(props["account_id"], props["name"], group, settings)
            creds = api.download_creds(user.id)
        outs = {**props, "public_key": user.user_public_key, "sk_group_id": group, "creds": creds}
        return CreateResult(user.id, outs)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with self._client() as api:
            try:
                user = api.get_user(id_)
            except NotFound:
                return ReadResult("", {})
            creds = props.get("creds") or api.download_creds(id_)
        outs = {
            "account_id": user.account.id,
            "name": user.name,
            "jwt_settings": managed_view(user.jwt_settings, props.get("jwt_settings") or {}),
            "public_key": user.user_public_key,
            "sk_group_id": user.sk_group_id,
            "creds": creds,
        }
        return ReadResult(id_, outs)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """New permissions live in a new JWT, so the creds are downloaded again."""
        news = integral(news)
        settings = UserJwtSettings.model_validate(news["jwt_settings"])
        with self._client() as api:
            user = api.update_user(id_, settings)
            creds = api.download_creds(id_)
        outs = {**news, "public_key": user.user_public_key, "sk_group_id": olds.get("sk_group_id")}
        return UpdateResult({**outs, "creds": creds})

    def delete(self, id_: str, _props: dict[str, Any]) -> None:
        with self._client() as api, contextlib.suppress(NotFound):
            api.delete_user(id_)


class SynadiaAccount(pulumi.dynamic.Resource, module="small", name="SynadiaAccount"):
    """One Synadia Cloud account (a bus)."""

    name: pulumi.Output[str]
    public_key: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        provider: AccountProvider,
        *,
        system_id: str,
        account_name: str,
        limits: Mapping[str, Any],
        opts: pulumi.ResourceOptions,
    ) -> None:
        props = {
            "system_id": system_id,
            "name": account_name,
            "limits": dict(limits),
            "public_key": None,
        }
        super().__init__(provider, resource_name, props, opts)


class SynadiaUser(pulumi.dynamic.Resource, module="small", name="SynadiaUser"):
    """One NATS user in an account, with its permissions and its creds file (a secret)."""

    creds: pulumi.Output[str]
    public_key: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        provider: UserProvider,
        *,
        account_id: pulumi.Input[str],
        user_name: str,
        jwt_settings: UserJwtSettings,
        opts: pulumi.ResourceOptions,
    ) -> None:
        props = {
            "account_id": account_id,
            "name": user_name,
            "jwt_settings": jwt_settings.body(),
            "public_key": None,
            "sk_group_id": None,
            "creds": None,
        }
        super().__init__(provider, resource_name, props, secret_outputs(opts, "creds"))


@dataclass(frozen=True)
class NatsConnection:
    """How to reach the buses: what the JetStream step and the apps are given.

    `credentials` maps each NATS user to the fields of `deploykit.stack.outputs.NatsCredential` (a
    secret Output); `provisioning-<bus>` is the user the JetStream reconciler connects as.
    `creds` holds each user's creds file on its own, so a service depends on its user only.
    """

    urls: list[str]
    cluster_size: int
    credentials: pulumi.Output[dict[str, dict[str, Any]]]
    creds: Mapping[str, pulumi.Output[str]]


class Nats(pulumi.ComponentResource):
    """deploykit:small:Nats, the buses on Synadia Cloud and every user's credentials."""

    def __init__(
        self,
        name: str,
        manifest: Manifest,
        settings: SynadiaSettings,
        authorization: Mapping[str, Any] | None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("deploykit:small:Nats", name, {}, opts)
        self._name = name
        self._manifest = manifest
        self._settings = settings
        self.accounts: dict[str, SynadiaAccount] = {}
        self.users: dict[str, SynadiaUser] = {}
        self.links: SynadiaLinks | None = None
        if settings.existingCredentials:
            creds = self.read_existing_credentials()
        else:
            document = self.check_settings(authorization)
            self.create_accounts()
            self.create_links()
            creds = self.create_users(document)
        self.connection = NatsConnection(
            urls=[settings.url],
            cluster_size=settings.maxReplicas,
            credentials=self.describe_credentials(creds),
            creds={user: pulumi.Output.secret(value) for user, value in creds.items()},
        )
        self.register_outputs({"credentials": self.connection.credentials})

    @property
    def resources(self) -> list[pulumi.Resource]:
        """What a step that needs working credentials must wait for."""
        links = [self.links] if self.links else []
        return [*self.accounts.values(), *self.users.values(), *links]

    def check_settings(self, authorization: Mapping[str, Any] | None) -> Authorization:
        if not self._settings.systemId:
            raise ConfigError(
                "deploykit:small.nats.systemId is empty: set it to the id of your Synadia Cloud "
                "system (Synadia Cloud console → System → Settings), or set "
                "nats.existingCredentials and bring creds files"
            )
        if authorization is None:
            raise ConfigError(
                "the small tier needs the authorization document to create NATS users"
            )
        return parse_authorization(authorization, self._manifest)

    def create_accounts(self) -> None:
        provider = AccountProvider(self._settings.apiUrl)
        for bus in self._manifest.buses:
            self.accounts[bus] = SynadiaAccount(
                f"{self._name}-{bus}",
                provider,
                system_id=self._settings.systemId,
                account_name=naming.account(bus),
                limits=account_limits(
                    self._manifest, bus, self._settings.maxReplicas, self._settings.accountLimits
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )

    def create_links(self) -> None:
        """The exports and imports of the cross-bus paths, once every account exists."""
        compiled = compile_links(self._manifest).items()
        links = {bus: link for bus, link in compiled if link.exports or link.imports}
        if not links:
            return
        self.links = SynadiaLinks(
            f"{self._name}-links",
            LinksProvider(self._settings.apiUrl),
            accounts={bus: account.id for bus, account in self.accounts.items()},
            keys={bus: account.public_key for bus, account in self.accounts.items()},
            links=links,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(self.accounts.values())),
        )

    def create_users(self, document: Authorization) -> dict[str, pulumi.Output[str]]:
        provider = UserProvider(self._settings.apiUrl)
        creds: dict[str, pulumi.Output[str]] = {}
        for bus, account in self.accounts.items():
            for user, settings in document.accounts[naming.account(bus)].users.items():
                self.users[user] = SynadiaUser(
                    f"{self._name}-{bus}-{user}",
                    provider,
                    account_id=account.id,
                    user_name=user,
                    jwt_settings=settings,
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[account]),
                )
                creds[user] = self.users[user].creds
        return creds

    def read_existing_credentials(self) -> dict[str, pulumi.Output[str]]:
        """Creds files made by hand, one `deploykit:natsCreds.<user>` secret per user."""
        config = pulumi.Config("deploykit")
        creds: dict[str, pulumi.Output[str]] = {}
        missing: list[str] = []
        for bus in self._manifest.buses:
            for user in user_roles(self._manifest, bus):
                value = config.get_secret(f"natsCreds.{user}")
                if value is None:
                    missing.append(user)
                else:
                    creds[user] = value
        if missing:
            lines = "\n".join(
                f'  pulumi config set --secret deploykit:natsCreds.{user} "$(cat {user}.creds)"'
                for user in missing
            )
            raise ConfigError(
                f"nats.existingCredentials is set but these NATS users have no creds:\n{lines}"
            )
        return creds

    def describe_credentials(
        self, creds: Mapping[str, pulumi.Output[str]]
    ) -> pulumi.Output[dict[str, dict[str, Any]]]:
        users = sorted(creds)

        def describe(values: list[str]) -> dict[str, dict[str, Any]]:
            return credentials(self._manifest, dict(zip(users, values, strict=True)))

        return pulumi.Output.secret(pulumi.Output.all(*(creds[u] for u in users)).apply(describe))
