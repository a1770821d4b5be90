"""Synadia Cloud control-plane client: accounts, NATS users and their creds files.

Built against the Synadia Control Plane OpenAPI document (`info.version: beta`),
synadia-io/control-plane-sdk-go `syncp/api/openapi.yaml`: servers `{baseUrl}/api/core/beta`, bearer
auth with a personal access token. Facts this client relies on, checked in that document:
- `POST /systems/{systemId}/accounts` (createAccount) → 201 AccountViewResponse; only `name` is
  required. `jwt_sync_status` (InProgress | Complete | Failed) is the only sign of asynchronous
  work, so a new or changed account is polled with `GET /accounts/{accountId}` until Complete.
- `GET /accounts/{accountId}/account-sk-groups` lists signing-key groups; `sk_group_id` is required
  by `POST /accounts/{accountId}/nats-users` (NatsUserCreateRequest: `name`, `sk_group_id`,
  `jwt_settings` = Permissions {pub, sub, resp} + UserLimits).
- `PATCH /nats-users/{userId}` (NatsUserUpdateRequest) changes permissions; deletes answer 204.
  In its `NatsUserJwtSettingsPatch`, `pub`, `sub`, `resp`, `allowed_connection_types`, `src`,
  `tags`, `times` and `times_location` are nullable (null clears them); `subs`, `data` and
  `payload` are not (minimum -1, the create-time default, which means "no limit").
- `SystemViewResponse.jetstream_tiers` is an array of strings without an enum.
- `POST /nats-users/{userId}/creds` (downloadNatsUserCreds) returns the creds file as text/plain;
  every call is a new issuance (a fresh JWT), so callers download once and keep the result.
- `POST /accounts/{accountId}/subject-exports` (createSubjectExport, SubjectExportCreateRequest:
  `jwt_settings` = Export {name, subject, type: stream | service, response_type: Singleton |
  Stream | Chunked, token_req, ...}, `metrics_enabled` and `metrics_sampling_percentage`
  required) → SubjectExportViewResponse; `POST /accounts/{accountId}/subject-imports`
  (createSubjectImport, SubjectImportCreateRequest: `jwt_settings` = Import {account (the
  exporting account's public key), subject, local_subject, name, type}) →
  SubjectImportViewResponse; `DELETE /subject-exports/{id}` and `/subject-imports/{id}` remove
  them.
- An export is restricted to given accounts by `token_req: true` (Export) and one share per
  importing account: `POST /subject-exports/{id}/shares` (createSubjectShares,
  SubjectShareCreateRequest: `target_account_nkey_public` required) → 201
  SubjectShareViewResponse whose `jwt` is the activation token that account's Import carries as
  `token`; `DELETE /subject-exports/{id}/shares/{targetAccountNKeyPublic}` revokes it (204).
  The account JWT's import is valid only when the token was issued by the exporting account to
  the importing one for a subject covering the import's (nats-io/jwt v2 `imports.go`,
  Import.Validate); nats-server routes an import of a `token_req` export only with one.
- Error bodies have no schema in the spec, so only the status code is interpreted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from deploykit.laws.exports import Export, Import
from deploykit.saas.http import ApiError, HttpClient, Service

__all__ = [
    "DEFAULT_URL",
    "SYNADIA",
    "Account",
    "ExportSettings",
    "ImportSettings",
    "NatsUser",
    "Permission",
    "ResponsePermission",
    "SubjectShare",
    "SynadiaClient",
    "System",
    "UserJwtSettings",
    "export_settings",
    "import_settings",
]

DEFAULT_URL = "https://cloud.synadia.com"
SYNADIA = Service(
    "Synadia Cloud",
    "Create a personal access token at https://cloud.synadia.com/profile/personal-access-tokens "
    "and set it with `pulumi config set --secret deploykit:synadiaToken <token>`.",
)


class _Response(BaseModel):
    model_config = ConfigDict(extra="ignore")


class System(_Response):
    id: str
    name: str
    jetstream_enabled: bool = False
    jetstream_tiers: list[str] | None = None


class SystemInfo(_Response):
    id: str
    name: str
    server_urls: str | None = None


class Account(_Response):
    id: str
    name: str
    jwt_sync_status: Literal["InProgress", "Complete", "Failed"]
    jwt_sync_error: str | None = None
    account_public_key: str | None = None
    jwt_settings: dict[str, Any] | None = None
    system: SystemInfo


class SkGroup(_Response):
    id: str
    name: str
    disabled: bool = False


class AccountInfo(_Response):
    id: str
    name: str


class NatsUser(_Response):
    id: str
    name: str
    account: AccountInfo
    user_public_key: str
    sk_group_id: str | None = None
    jwt_settings: dict[str, Any] | None = None


class Permission(BaseModel):
    """Permission (spec): subjects a user may or may not use."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    allow: list[str] | None = None
    deny: list[str] | None = None


class ResponsePermission(BaseModel):
    """ResponsePermission (spec): both fields are required when `resp` is present."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    max: int
    ttl: int


class UserJwtSettings(BaseModel):
    """NatsUserJwtSettings (spec): Permissions + UserLimits, the body's `jwt_settings`."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    pub: Permission | None = None
    sub: Permission | None = None
    resp: ResponsePermission | None = None
    subs: int | None = None
    data: int | None = None
    payload: int | None = None
    bearer_token: bool | None = None
    allowed_connection_types: list[str] | None = None
    src: list[str] | None = None
    times: list[dict[str, str]] | None = None
    times_location: str | None = None
    tags: list[str] | None = None

    def body(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)

    def patch_body(self) -> dict[str, Any]:
        """Every field, so a PATCH also clears what is no longer set (see the module docstring)."""
        return {
            key: -1 if value is None and key in NOT_NULLABLE else value
            for key, value in self.model_dump().items()
            if value is not None or key in NOT_NULLABLE or key in NULLABLE
        }


NULLABLE = frozenset(
    {"pub", "sub", "resp", "allowed_connection_types", "src", "tags", "times", "times_location"}
)
NOT_NULLABLE = frozenset({"subs", "data", "payload"})


class ExportSettings(BaseModel):
    """Export (spec), the fields deploykit sets: what another account may import."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    subject: str
    type: Literal["stream", "service"]
    response_type: Literal["Singleton", "Stream", "Chunked"] | None = None
    token_req: bool = False


class ImportSettings(BaseModel):
    """Import (spec), the fields deploykit sets: `account` is the exporter's public key and
    `local_subject` the name the subject has in the importing account."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    account: str
    subject: str
    local_subject: str
    type: Literal["stream", "service"]
    token: str | None = None


class SubjectExport(_Response):
    id: str
    subject: str


class SubjectImport(_Response):
    id: str
    name: str


class SubjectShare(_Response):
    """SubjectShareViewResponse: `jwt` is the activation token for the target account."""

    id: str
    jwt: str
    subject_export_id: str
    target_account_nkey_public: str


def export_settings(export: Export) -> ExportSettings:
    """An export of the permission compiler as Synadia's Export, importable only with an
    activation token (a share), so that only the accounts it is shared with can import it."""
    responses: dict[str, Literal["Singleton", "Stream"]] = {
        "singleton": "Singleton",
        "stream": "Stream",
    }
    response = responses[export.response] if export.kind == "service" else None
    return ExportSettings(
        name=export.subject,
        subject=export.subject,
        type=export.kind,
        response_type=response,
        token_req=True,
    )


def import_settings(
    imported: Import, account_keys: Mapping[str, str], token: str | None = None
) -> ImportSettings:
    """An import of the permission compiler as Synadia's Import; `account_keys` maps account
    names to their public keys, `token` is the activation of the export's share."""
    return ImportSettings(
        token=token,
        name=imported.to or imported.subject,
        account=account_keys[imported.account],
        subject=imported.subject,
        local_subject=imported.to or imported.subject,
        type=imported.kind,
    )


class SynadiaClient:
    """The calls deploykit makes to Synadia Cloud, one method per operation it uses."""

    def __init__(
        self,
        token: str,
        base_url: str = DEFAULT_URL,
        *,
        sleep: Callable[[float], None] = time.sleep,
        poll_interval: float = 1.0,
        poll_limit: int = 120,
    ) -> None:
        self._http = HttpClient(
            SYNADIA,
            base_url.rstrip("/") + "/api/core/beta",
            {"Authorization": f"Bearer {token}", "Accept": "application/json"},
            sleep=sleep,
        )
        self._sleep = sleep
        self._poll_interval = poll_interval
        self._poll_limit = poll_limit

    def __enter__(self) -> SynadiaClient:
        return self

    def __exit__(self, *_: object) -> None:
        self._http.close()

    def get_system(self, system_id: str) -> System:
        return System.model_validate(self._http.request("GET", f"/systems/{system_id}").json())

    def create_account(
        self, system_id: str, name: str, jwt_settings: Mapping[str, Any] | None = None
    ) -> Account:
        body: dict[str, Any] = {"name": name}
        if jwt_settings:
            body["jwt_settings"] = dict(jwt_settings)
        response = self._http.request("POST", f"/systems/{system_id}/accounts", json=body)
        return Account.model_validate(response.json())

    def get_account(self, account_id: str) -> Account:
        return Account.model_validate(self._http.request("GET", f"/accounts/{account_id}").json())

    def update_account(self, account_id: str, jwt_settings: Mapping[str, Any]) -> Account:
        """PATCH the account; a tier to drop is sent as `tiered_limits: {name: null}`."""
        body = {"jwt_settings": dict(jwt_settings)}
        response = self._http.request("PATCH", f"/accounts/{account_id}", json=body)
        return Account.model_validate(response.json())

    def delete_account(self, account_id: str) -> None:
        self._http.request("DELETE", f"/accounts/{account_id}")

    def wait_account_synced(self, account_id: str) -> Account:
        """Poll until the account's JWT reached the NATS servers (`jwt_sync_status` Complete)."""
        for _ in range(self._poll_limit):
            account = self.get_account(account_id)
            if account.jwt_sync_status == "Complete":
                return account
            if account.jwt_sync_status == "Failed":
                raise ApiError(
                    f"Synadia Cloud could not push account {account.name!r} to its servers "
                    f"({account.jwt_sync_error or 'no reason given'}); fix it in the Synadia "
                    "Cloud console or run again"
                )
            self._sleep(self._poll_interval)
        raise ApiError(
            f"Synadia Cloud: account {account_id} is still syncing after "
            f"{self._poll_limit * self._poll_interval:.0f}s; run again to continue"
        )

    def default_sk_group(self, account_id: str) -> str:
        """The signing-key group new users are issued from: "Default", else the first enabled."""
        response = self._http.request("GET", f"/accounts/{account_id}/account-sk-groups")
        groups = [SkGroup.model_validate(item) for item in response.json()["items"]]
        enabled = [group for group in groups if not group.disabled]
        for group in enabled:
            if group.name.lower() == "default":
                return group.id
        if enabled:
            return enabled[0].id
        raise ApiError(
            f"Synadia Cloud: account {account_id} has no enabled signing-key group to issue "
            "users from; create one in the Synadia Cloud console"
        )

    def create_user(
        self, account_id: str, name: str, sk_group_id: str, jwt_settings: UserJwtSettings
    ) -> NatsUser:
        body = {"name": name, "sk_group_id": sk_group_id, "jwt_settings": jwt_settings.body()}
        response = self._http.request("POST", f"/accounts/{account_id}/nats-users", json=body)
        return NatsUser.model_validate(response.json())

    def get_user(self, user_id: str) -> NatsUser:
        return NatsUser.model_validate(self._http.request("GET", f"/nats-users/{user_id}").json())

    def update_user(self, user_id: str, jwt_settings: UserJwtSettings) -> NatsUser:
        body = {"jwt_settings": jwt_settings.patch_body()}
        response = self._http.request("PATCH", f"/nats-users/{user_id}", json=body)
        return NatsUser.model_validate(response.json())

    def delete_user(self, user_id: str) -> None:
        self._http.request("DELETE", f"/nats-users/{user_id}")

    def create_subject_export(self, account_id: str, export: ExportSettings) -> SubjectExport:
        body = {
            "jwt_settings": export.model_dump(exclude_none=True),
            "metrics_enabled": False,
            "metrics_sampling_percentage": 0,
        }
        response = self._http.request("POST", f"/accounts/{account_id}/subject-exports", json=body)
        return SubjectExport.model_validate(response.json())

    def create_subject_import(self, account_id: str, imported: ImportSettings) -> SubjectImport:
        body = {"jwt_settings": imported.model_dump(exclude_none=True)}
        response = self._http.request("POST", f"/accounts/{account_id}/subject-imports", json=body)
        return SubjectImport.model_validate(response.json())

    def create_subject_share(self, export_id: str, account_key: str) -> SubjectShare:
        """Share an export with one account: its activation token, for that account's import."""
        body = {"target_account_nkey_public": account_key}
        response = self._http.request("POST", f"/subject-exports/{export_id}/shares", json=body)
        return SubjectShare.model_validate(response.json())

    def delete_subject_share(self, export_id: str, account_key: str) -> None:
        self._http.request("DELETE", f"/subject-exports/{export_id}/shares/{account_key}")

    def delete_subject_export(self, export_id: str) -> None:
        self._http.request("DELETE", f"/subject-exports/{export_id}")

    def delete_subject_import(self, import_id: str) -> None:
        self._http.request("DELETE", f"/subject-imports/{import_id}")

    def download_creds(self, user_id: str) -> str:
        """A creds file (JWT + NKey seed) for the user. Retrying only issues another one."""
        return self._http.request("POST", f"/nats-users/{user_id}/creds", idempotent=True).text
