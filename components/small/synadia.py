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
from pydantic import BaseModel, ConfigDict, ValidationError

from components.small.dynamic import ApiProvider, managed_view
from components.small.synadia_links import LinksProvider, SynadiaLinks
from deploykit.errors import ConfigError
from deploykit.laws.exports import compile_links
from deploykit.manifest import naming
from deploykit.manifest.model import Manifest
from deploykit.saas.http import NotFound
from deploykit.saas.synadia import SYNADIA, SynadiaClient, UserJwtSettings
from deploykit.stack.config import SynadiaSettings

__all__ = [
    "AccountProvider",
    "Authorization",
    "Nats",
    "NatsConnection",
    "SynadiaAccount",
    "SynadiaUser",
    "UserProvider",
    "jetstream_limits",
    "parse_authorization",
    "user_roles",
]

UNLIMITED_ALLOWANCE = 64 * 1024**2  # bytes reserved for a stream without max_bytes
# deploykit's own smoke assets on the core bus (naming.py): name, replicas, max_bytes, as the
# reconciler declares them (its desired.smoke_assets); read them from there once it is merged.
SMOKE_ASSETS = (
    (naming.SMOKE_STREAM, 3, 8 * 1024**2),
    (naming.SMOKE_BUCKET, 3, -1),
    (naming.SMOKE_OBJECT_STORE, 1, -1),
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AccountAuthorization(_Strict):
    users: dict[str, UserJwtSettings]


class Authorization(_Strict):
    """The authorization document: per account, per user, Synadia's `jwt_settings`."""

    accounts: dict[str, AccountAuthorization]


def parse_authorization(document: Mapping[str, Any], manifest: Manifest) -> Authorization:
    """Validate the document and check it covers every bus and every user the manifest implies."""
    try:
        parsed = Authorization.model_validate(document)
    except ValidationError as exc:
        problems = [
            f"the authorization document: {'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}"
            for e in exc.errors()
        ]
        raise ConfigError("\n".join(problems)) from None
    problems = []
    for bus in manifest.buses:
        account = parsed.accounts.get(naming.account(bus))
        if account is None:
            problems.append(f"the authorization document has no account {naming.account(bus)!r}")
            continue
        expected = set(user_roles(manifest, bus))
        for user in sorted(expected - set(account.users)):
            problems.append(f"the authorization document has no user {user!r} in account {bus!r}")
        for user in sorted(set(account.users) - expected):
            problems.append(
                f"the authorization document has user {user!r} that bus {bus!r} does not imply"
            )
    for name in sorted(set(parsed.accounts) - {naming.account(b) for b in manifest.buses}):
        problems.append(f"the authorization document has account {name!r}, which is no bus")
    if problems:
        raise ConfigError("\n".join(problems))
    return parsed


def user_roles(manifest: Manifest, bus: str) -> dict[str, tuple[str, str | None]]:
    """Every NATS user of a bus → (role, service): its services, then smoke, provisioning and backup."""
    users: dict[str, tuple[str, str | None]] = {
        name: (service.role.value, name)
        for name, service in manifest.services.items()
        if service.bus == bus
    }
    users[naming.smoke_user(bus)] = ("smoke", None)
    users[naming.provisioning_user(bus)] = ("provisioning", None)
    users[naming.backup_user(bus)] = ("backup", None)
    return users


def jetstream_limits(manifest: Manifest, bus: str, max_replicas: int) -> dict[str, Any]:
    """The account's JetStream limits per replica tier, sized from what the bus declares.

    A tier's storage is the sum of `max_bytes` of its streams, KV buckets and object stores (64 MiB
    for one without a limit), so creating them never runs out of account storage.
    """
    objects: list[tuple[str, int, str, int]] = []
    for name, stream in manifest.streams.items():
        if stream.bus == bus:
            objects.append((f"stream {name}", stream.replicas, stream.storage, stream.max_bytes))
    for name, kv in manifest.kv.items():
        if kv.bus == bus:
            objects.append((f"kv {name}", kv.replicas, kv.storage, kv.max_bytes))
    for name, store in manifest.object_stores.items():
        if store.bus == bus:
            objects.append((f"object store {name}", store.replicas, store.storage, store.max_bytes))
    if bus == manifest.core_bus:
        objects += [(f"smoke asset {n}", r, "file", size) for n, r, size in SMOKE_ASSETS]
    tiers: dict[str, dict[str, Any]] = {}
    for label, replicas, storage, max_bytes in objects:
        effective = min(replicas, max_replicas)
        if effective not in (1, 3):
            raise ConfigError(
                f"{label} asks for {replicas} replicas; Synadia Cloud offers R1 and R3 only "
                "(set replicas to 1 or 3)"
            )
        tier = tiers.setdefault(
            f"R{effective}",
            {"disk_storage": 0, "mem_storage": 0, "streams": 0, "consumer": -1},
        )
        tier["streams"] += 1
        tier["disk_storage" if storage == "file" else "mem_storage"] += (
            max_bytes if max_bytes > 0 else UNLIMITED_ALLOWANCE
        )
    return {"limits": {"tiered_limits": tiers}}


class AccountProvider(ApiProvider):
    """Synadia Cloud accounts: created in a system, polled until their JWT is synced."""

    service = SYNADIA
    token_key = "synadiaToken"
    replace_on = ("system_id", "name")
    update_on = ("jwt_settings",)

    def _client(self) -> SynadiaClient:
        return SynadiaClient(self.require_token(), self.api_url, **self.client_options)

    def create(self, props: dict[str, Any]) -> CreateResult:
        with self._client() as api:
            self._check_tiers(api, props)
            account = api.create_account(props["system_id"], props["name"], props["jwt_settings"])
            api.wait_account_synced(account.id)
        return CreateResult(account.id, {**props, "public_key": account.account_public_key})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with self._client() as api:
            try:
                account = api.get_account(id_)
            except NotFound:
                return ReadResult("", {})
        outs = {
            "system_id": account.system.id,
            "name": account.name,
            "jwt_settings": managed_view(account.jwt_settings, props.get("jwt_settings") or {}),
            "public_key": account.account_public_key,
        }
        return ReadResult(id_, outs)

    def update(self, id_: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        with self._client() as api:
            self._check_tiers(api, news)
            account = api.update_account(id_, news["jwt_settings"])
            api.wait_account_synced(id_)
        return UpdateResult({**news, "public_key": account.account_public_key})

    def delete(self, id_: str, _props: dict[str, Any]) -> None:
        with self._client() as api, contextlib.suppress(NotFound):
            api.delete_account(id_)

    @staticmethod
    def _check_tiers(api: SynadiaClient, props: dict[str, Any]) -> None:
        """Refuse limits for a replica tier the system does not offer (e.g. R3 on a free plan)."""
        wanted = set(props["jwt_settings"]["limits"]["tiered_limits"])
        system = api.get_system(props["system_id"])
        offered = set(system.jetstream_tiers or [])
        if missing := sorted(wanted - offered):
            raise ConfigError(
                f"Synadia Cloud system {system.name!r} offers JetStream tiers "
                f"{', '.join(sorted(offered)) or 'none'}, not {', '.join(missing)}; set "
                "nats.maxReplicas to what the plan allows (1 on the free plan)"
            )


class UserProvider(ApiProvider):
    """NATS users with their permissions; the creds file is downloaded once and kept secret."""

    service = SYNADIA
    token_key = "synadiaToken"
    replace_on = ("account_id", "name")
    update_on = ("jwt_settings",)

    def _client(self) -> SynadiaClient:
        return SynadiaClient(self.require_token(), self.api_url, **self.client_options)

    def create(self, props: dict[str, Any]) -> CreateResult:
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
        jwt_settings: Mapping[str, Any],
        opts: pulumi.ResourceOptions,
    ) -> None:
        props = {
            "system_id": system_id,
            "name": account_name,
            "jwt_settings": dict(jwt_settings),
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
        secret = pulumi.ResourceOptions(additional_secret_outputs=["creds"])
        super().__init__(provider, resource_name, props, pulumi.ResourceOptions.merge(opts, secret))


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
                jwt_settings=jetstream_limits(self._manifest, bus, self._settings.maxReplicas),
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
        roles = {
            user: (bus, role, service)
            for bus in self._manifest.buses
            for user, (role, service) in user_roles(self._manifest, bus).items()
        }
        users = sorted(creds)

        def describe(values: list[str]) -> dict[str, dict[str, Any]]:
            return {
                user: {
                    "account": naming.account(roles[user][0]),
                    "role": roles[user][1],
                    "service": roles[user][2],
                    "creds": value,
                    "inbox_prefix": naming.inbox_prefix(user),
                }
                for user, value in zip(users, values, strict=True)
            }

        return pulumi.Output.secret(pulumi.Output.all(*(creds[u] for u in users)).apply(describe))
