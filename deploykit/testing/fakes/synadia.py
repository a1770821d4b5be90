"""A fake Synadia Cloud control plane, following the Synadia Control Plane OpenAPI document.

Reference: synadia-io/control-plane-sdk-go `syncp/api/openapi.yaml` at commit 1dc0b121
(2026-07-24; `info.version: beta`, servers `{baseUrl}/api`, paths `/core/beta/...`, bearer auth).
The schemas below are written from it; what this fake holds clients to:
- createAccount (AccountCreateRequest: `name` required) answers 201 AccountViewResponse;
  `jwt_sync_status` is InProgress until the account is read once, then Complete.
- updateAccount (AccountUpdateRequest, AccountJWTSettingsPatch): 200; keys given replace, `null`
  clears where the schema says nullable (`limits`, `tiered_limits`, each tier's value).
- createUser (NatsUserCreateRequest: `name`, `sk_group_id` required; the group must be the
  account's) answers 201; `resp` needs `max` and `ttl` (ResponsePermission); user limits have
  minimum -1.
- updateNatsUser (NatsUserJwtSettingsPatch): 200; `pub`, `sub`, `resp`, `src`, `tags`, `times`,
  `times_location`, `allowed_connection_types` may be null (cleared); `subs`, `data`, `payload`
  may not.
- deleteAccount / deleteNatsUser answer 204 with no body; unknown ids 404.
- downloadNatsUserCreds (`POST /nats-users/{id}/creds`) answers text/plain, a fresh JWT each time.
- createSubjectExport 201 SubjectExportViewResponse: `jwt_settings` (Export keys only, `type`
  stream | service, `response_type` Singleton | Stream | Chunked), `metrics_enabled` and
  `metrics_sampling_percentage` required; createSubjectImport 201 SubjectImportViewResponse:
  `jwt_settings` (Import keys only) whose `account` is another account's public key that
  exports a subject of the same type covering `subject` (else 400); deleteSubjectExport /
  deleteSubjectImport answer 204, 404 for an unknown id.
- createSubjectShares (`POST /subject-exports/{id}/shares`, SubjectShareCreateRequest:
  `target_account_nkey_public` required, an account public key) answers 201
  SubjectShareViewResponse with `jwt`, an activation token issued by the exporting account to
  the target (ActivationClaims: `nats.subject`, `nats.kind`); deleteSubjectShare 204, 404 for
  an unknown export or share.
- An import's `token` must be a valid activation for it, else 400, as the account JWT would
  not validate (nats-io/jwt v2 `imports.go`, Import.Validate: a token that does not decode, an
  issuer other than the import's `account`, a subject (target) other than the importing
  account, a `kind` other than the import's `type`, an activation subject not containing the
  import's). An import of a `token_req` export without a token is stored (the JWT library
  does not refuse it) but nats-server does not route it: `unactivated_imports()` lists those.
- An export or import beyond the account's `exports` / `imports` limit (when not -1) is refused
  with 400: the account JWT would not validate (nats-io/jwt v2 `account_claims.go`, Validate:
  "the account contains more imports than allowed by the operator limits").
- Error bodies have no schema in the spec: this fake answers short text.
- A tier name in `tiered_limits` must be one of the system's `jetstream_tiers` (an array of
  strings without an enum): the fake's system spells them as it is told to. Tiered and
  account-wide JetStream limits are mutually exclusive in the account JWT (nats-io/jwt v2
  `account_claims.go`, OperatorLimits.Validate).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
from collections.abc import Callable
from typing import Any

from deploykit.testing.fakes.schema import (
    Spec,
    array,
    boolean,
    integer,
    mapping,
    obj,
    problems,
    string,
)
from deploykit.testing.fakes.server import FakeServer, Reply, Request, ids, json_reply, text_reply

__all__ = ["FakeSynadia", "creds_file", "jwt_claims"]

PREFIX = "/api/core/beta"
_INT = integer()


def _jetstream_limits(nullable: bool = False) -> Spec:  # JetStreamLimits
    return obj(
        {k: _INT for k in ("consumer", "disk_max_stream_bytes", "disk_storage", "max_ack_pending",
                           "mem_max_stream_bytes", "mem_storage", "streams")}
        | {"max_bytes_required": boolean()},
        nullable=nullable,
    )  # fmt: skip


def _operator_limits(patch: bool) -> Spec:
    """OperatorLimits = NatsLimits + AccountLimits + JetStreamLimits + tiered_limits (the
    *Patch variant: the object, `tiered_limits` and each tier's value are nullable)."""
    props = {k: _INT for k in ("subs", "data", "payload", "conn", "leaf", "imports", "exports")}
    props |= {"wildcards": boolean(), "disallow_bearer": boolean()}
    props |= _jetstream_limits()["props"]
    props["tiered_limits"] = mapping(_jetstream_limits(nullable=patch), nullable=patch)
    return obj(props, nullable=patch)


def _account_jwt(patch: bool) -> Spec:
    return obj({
        "limits": _operator_limits(patch),
        "tags": array(string(), nullable=patch),
        "mappings": mapping(array(mapping(string())), nullable=patch),
        "revocations": mapping(_INT, nullable=patch),
        "authorization": obj({}, nullable=patch),
        "description": string(nullable=patch),
        "info_url": string(nullable=patch),
    })  # fmt: skip


def _account(patch: bool) -> dict[str, Spec]:
    return {
        "jwt_settings": _account_jwt(patch), "user_jwt_expires_in_secs": _INT,
        "connectors": boolean(), "connectors_log_stream": string(), "workloads": boolean(),
        "workloads_log_stream": string(),
        "auth_type": string(enum=("jwt", "tls", "nkey", "username")), "user_cred": string(),
        "user_secret": string(), "name": string(min_length=1),
    }  # fmt: skip


ACCOUNT_CREATE = obj(_account(False), required=("name",))
ACCOUNT_UPDATE = obj(_account(True))


def _permission(patch: bool) -> Spec:
    return obj({"allow": array(string(), nullable=patch), "deny": array(string(), nullable=patch)},
               nullable=patch)  # fmt: skip


def _user_jwt(patch: bool) -> Spec:
    limit = integer(minimum=-1)
    resp = obj({"max": _INT, "ttl": _INT}, required=() if patch else ("max", "ttl"), nullable=patch)
    return obj({
        "pub": _permission(patch), "sub": _permission(patch), "resp": resp,
        "subs": limit, "data": limit, "payload": limit, "bearer_token": boolean(),
        "allowed_connection_types": array(string(), nullable=patch),
        "src": array(string(), nullable=patch), "tags": array(string(), nullable=patch),
        "times": array(obj({"start": string(), "end": string()}), nullable=patch),
        "times_location": string(nullable=patch),
    })  # fmt: skip


USER_CREATE = obj(
    {"name": string(min_length=1), "sk_group_id": string(min_length=1),
     "jwt_expires_in_secs": _INT, "jwt_settings": _user_jwt(False)},
    required=("name", "sk_group_id"),
)  # fmt: skip
USER_UPDATE = obj(
    {"name": string(min_length=1), "jwt_expires_in_secs": _INT, "jwt_settings": _user_jwt(True)}
)


def merge(current: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """PATCH semantics: a given key replaces, an object merges, null removes."""
    merged = dict(current)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class FakeSynadia(FakeServer):
    def __init__(self, token: str = "synadia-test-token", tiers: tuple[str, ...] = ("R1",)) -> None:
        super().__init__()
        self.token = token
        self.system: dict[str, Any] = {
            "id": "sys-1",
            "name": "NGS",
            "jetstream_enabled": True,
            "jetstream_tiers": list(tiers),
            "server_urls": "tls://connect.ngs.global",
            "state": "Connected",
        }
        self.accounts: dict[str, dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, list[dict[str, Any]]] = {}
        self._unsynced: set[str] = set()
        self._account_ids = ids("ACC")
        self._user_ids = ids("USR")
        self._issued = itertools.count(1)
        self.exports: dict[str, dict[str, Any]] = {}
        self.imports: dict[str, dict[str, Any]] = {}
        self.shares: dict[str, dict[str, Any]] = {}
        self._link_ids = ids("LNK")

    def handle(self, request: Request) -> Reply:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return text_reply(401, "Unauthorized")
        if not request.path.startswith(PREFIX):
            return text_reply(404, "Not Found")
        path = request.path[len(PREFIX) :]
        for pattern, handler in self._routes():
            match = re.fullmatch(pattern, f"{request.method} {path}")
            if match:
                return handler(request, *match.groups())
        return text_reply(404, "Not Found")

    def _routes(self) -> list[tuple[str, Callable[..., Reply]]]:
        return [
            (r"GET /systems/([^/]+)", self._get_system),
            (r"POST /systems/([^/]+)/accounts", self._create_account),
            (r"GET /accounts/([^/]+)", self._get_account),
            (r"PATCH /accounts/([^/]+)", self._update_account),
            (r"DELETE /accounts/([^/]+)", self._delete_account),
            (r"GET /accounts/([^/]+)/account-sk-groups", self._list_groups),
            (r"POST /accounts/([^/]+)/nats-users", self._create_user),
            (r"GET /nats-users/([^/]+)", self._get_user),
            (r"PATCH /nats-users/([^/]+)", self._update_user),
            (r"DELETE /nats-users/([^/]+)", self._delete_user),
            (r"POST /nats-users/([^/]+)/creds", self._creds),
            (r"POST /accounts/([^/]+)/subject-exports", self._create_export),
            (r"POST /accounts/([^/]+)/subject-imports", self._create_import),
            (r"POST /subject-exports/([^/]+)/shares", self._create_share),
            (r"DELETE /subject-exports/([^/]+)/shares/([^/]+)", self._delete_share),
            (r"DELETE /subject-exports/([^/]+)", self._delete_export),
            (r"DELETE /subject-imports/([^/]+)", self._delete_import),
        ]

    def _get_system(self, _: Request, system_id: str) -> Reply:
        if system_id != self.system["id"]:
            return text_reply(404, "system not found")
        return json_reply(200, self.system)

    def _create_account(self, request: Request, system_id: str) -> Reply:
        if system_id != self.system["id"]:
            return text_reply(404, "system not found")
        body = request.json()
        if problem := self._refuse(body, ACCOUNT_CREATE):
            return problem
        account_id = next(self._account_ids)
        self.accounts[account_id] = {
            "id": account_id,
            "name": body["name"],
            "auth_type": "jwt",
            "connectors": False,
            "workloads": False,
            "created": "2026-01-01T00:00:00Z",
            "is_platform_account": False,
            "is_scp_account": False,
            "is_system_account": False,
            "nsc_managed": False,
            "jwt_sync_error": None,
            "jwt_sync_status": "InProgress",
            "user_jwt_expires_in_secs": body.get("user_jwt_expires_in_secs", 0),
            "account_public_key": f"A{account_id}",
            "jwt_settings": merge({}, body.get("jwt_settings") or {}),
            "system": {k: self.system[k] for k in ("id", "name", "server_urls", "jetstream_tiers")},
            "team": {"id": "team-1", "name": "acme"},
        }
        self.groups[account_id] = [
            {"id": f"SKG-{account_id}", "name": "Default", "disabled": False, "is_scoped": False}
        ]
        self._unsynced.add(account_id)
        return json_reply(201, self.accounts[account_id])

    def _refuse(self, body: Any, spec: Spec) -> Reply | None:
        """400 with what is wrong, or None: the schema, then the system's tier names."""
        found = problems(body, spec)
        limits = ((body or {}).get("jwt_settings") or {}).get("limits") or {}
        tiers = limits.get("tiered_limits") or {}
        for tier in tiers:
            if tier not in self.system["jetstream_tiers"]:
                found.append(f"jwt_settings.limits.tiered_limits.{tier}: no such tier")
        # the account JWT the limits become (nats-io/jwt v2 `account_claims.go`,
        # OperatorLimits.Validate) refuses both kinds of JetStream limits at once
        if tiers and any(limits.get(k) for k in _jetstream_limits()["props"]):
            found.append("JetStream Limits and tiered JetStream Limits are mutually exclusive")
        return text_reply(400, "; ".join(found)) if found else None

    def _get_account(self, _: Request, account_id: str) -> Reply:
        account = self.accounts.get(account_id)
        if account is None:
            return text_reply(404, "account not found")
        if account_id in self._unsynced:
            self._unsynced.discard(account_id)
            return json_reply(200, account)
        return json_reply(200, {**account, "jwt_sync_status": "Complete"})

    def _update_account(self, request: Request, account_id: str) -> Reply:
        if account_id not in self.accounts:
            return text_reply(404, "account not found")
        body = request.json()
        if problem := self._refuse(body, ACCOUNT_UPDATE):
            return problem
        account = self.accounts[account_id]
        account["jwt_settings"] = merge(account["jwt_settings"], body.get("jwt_settings") or {})
        account["name"] = body.get("name", account["name"])
        self._unsynced.add(account_id)
        return json_reply(200, self.accounts[account_id])

    def _delete_account(self, _: Request, account_id: str) -> Reply:
        if self.accounts.pop(account_id, None) is None:
            return text_reply(404, "account not found")
        self.users = {k: u for k, u in self.users.items() if u["account"]["id"] != account_id}
        return Reply(204)

    def _list_groups(self, _: Request, account_id: str) -> Reply:
        if account_id not in self.accounts:
            return text_reply(404, "account not found")
        return json_reply(200, {"items": self.groups[account_id]})

    def _create_user(self, request: Request, account_id: str) -> Reply:
        account = self.accounts.get(account_id)
        if account is None:
            return text_reply(404, "account not found")
        body = request.json()
        if found := problems(body, USER_CREATE):
            return text_reply(400, "; ".join(found))
        if body["sk_group_id"] not in {g["id"] for g in self.groups[account_id]}:
            return text_reply(400, "sk_group_id does not belong to the account")
        user_id = next(self._user_ids)
        self.users[user_id] = {
            "id": user_id,
            "name": body["name"],
            "sk_group_id": body["sk_group_id"],
            "user_public_key": f"U{user_id}",
            "jwt": "",
            "jwt_expires_at_max": 0,
            "jwt_expires_in_secs": body.get("jwt_expires_in_secs", 0),
            "jwt_settings": body.get("jwt_settings", {}),
            "claims": {},
            "created": "2026-01-01T00:00:00Z",
            "account": {"id": account_id, "name": account["name"]},
            "system": account["system"],
            "team": account["team"],
        }
        return json_reply(201, self.users[user_id])

    def _get_user(self, _: Request, user_id: str) -> Reply:
        user = self.users.get(user_id)
        return json_reply(200, user) if user else text_reply(404, "nats user not found")

    def _update_user(self, request: Request, user_id: str) -> Reply:
        if user_id not in self.users:
            return text_reply(404, "nats user not found")
        body = request.json()
        if found := problems(body, USER_UPDATE):
            return text_reply(400, "; ".join(found))
        user = self.users[user_id]
        user["jwt_settings"] = merge(user["jwt_settings"], body.get("jwt_settings") or {})
        user.update({k: v for k, v in body.items() if k != "jwt_settings"})
        return json_reply(200, self.users[user_id])

    def _delete_user(self, _: Request, user_id: str) -> Reply:
        if self.users.pop(user_id, None) is None:
            return text_reply(404, "nats user not found")
        return Reply(204)

    def _creds(self, _: Request, user_id: str) -> Reply:
        user = self.users.get(user_id)
        if user is None:
            return text_reply(404, "nats user not found")
        return text_reply(200, creds_file(user, next(self._issued)))

    def _create_export(self, request: Request, account_id: str) -> Reply:
        account = self.accounts.get(account_id)
        if account is None:
            return text_reply(404, "account not found")
        body = request.json()
        required = {"jwt_settings", "metrics_enabled", "metrics_sampling_percentage"}
        if problem := _unknown(body, required) or _bad_export(body.get("jwt_settings")):
            return text_reply(400, problem)
        if not required <= set(body):
            return text_reply(400, "jwt_settings, metrics_enabled and metrics_sampling_percentage are required")  # fmt: skip
        if problem := self._over_limit(account_id, "exports"):
            return text_reply(400, problem)
        export_id = next(self._link_ids)
        settings = body["jwt_settings"]
        self.exports[export_id] = {
            "id": export_id,
            "account": {"id": account_id, "name": account["name"]},
            "created": "2026-01-01T00:00:00Z",
            "is_public": not settings.get("token_req", False),
            "jwt_settings": settings,
            "metrics_enabled": body["metrics_enabled"],
            "metrics_sampling_percentage": body["metrics_sampling_percentage"],
            "name": settings.get("name"),
            "share_sk_public": None,
            "stream_export_id": None,
            "subject": settings["subject"],
        }
        return json_reply(201, self.exports[export_id])

    def _create_import(self, request: Request, account_id: str) -> Reply:
        if account_id not in self.accounts:
            return text_reply(404, "account not found")
        body = request.json()
        settings = body.get("jwt_settings") if isinstance(body, dict) else None
        if problem := _unknown(body, {"jwt_settings"}) or _bad_import(settings):
            return text_reply(400, problem)
        assert settings is not None
        exporter = next(
            (a for a in self.accounts.values() if a["account_public_key"] == settings["account"]),
            None,
        )
        if exporter is None or exporter["id"] == account_id:
            return text_reply(400, "account is not the public key of another account")
        if not any(
            e["account"]["id"] == exporter["id"]
            and e["jwt_settings"]["type"] == settings["type"]
            and subject_matches(settings["subject"], e["subject"])
            for e in self.exports.values()
        ):
            return text_reply(400, f"account {exporter['name']} exports no {settings['subject']}")
        if "token" in settings and (
            problem := _bad_activation(settings, self.accounts[account_id]["account_public_key"])
        ):
            return text_reply(400, problem)
        if problem := self._over_limit(account_id, "imports"):
            return text_reply(400, problem)
        import_id = next(self._link_ids)
        self.imports[import_id] = {
            "id": import_id,
            "created": "2026-01-01T00:00:00Z",
            "jwt_settings": settings,
            "name": settings.get("name", ""),
            "remote_account_nkey_public": settings["account"],
            "remote_subject": settings["subject"],
            "importer": account_id,
        }
        return json_reply(201, self.imports[import_id])

    def _over_limit(self, account_id: str, kind: str) -> str | None:
        """One more export or import than the account's limit allows, if so."""
        limits = self.accounts[account_id]["jwt_settings"].get("limits") or {}
        limit = limits.get(kind, -1)
        if kind == "exports":
            count = sum(1 for e in self.exports.values() if e["account"]["id"] == account_id)
        else:
            count = sum(1 for i in self.imports.values() if i["importer"] == account_id)
        if limit is not None and limit >= 0 and count + 1 > limit:
            return f"the account contains more {kind} than allowed by the operator limits"
        return None

    def _delete_export(self, _: Request, export_id: str) -> Reply:
        if self.exports.pop(export_id, None) is None:
            return text_reply(404, "subject export not found")
        self.shares = {k: v for k, v in self.shares.items() if v["subject_export_id"] != export_id}
        return Reply(204)

    def _create_share(self, request: Request, export_id: str) -> Reply:
        export = self.exports.get(export_id)
        if export is None:
            return text_reply(404, "subject export not found")
        body = request.json()
        if problem := _unknown(body, {"target_account_nkey_public"}):
            return text_reply(400, problem)
        target = body.get("target_account_nkey_public")
        if not isinstance(target, str) or not target.startswith("A"):
            return text_reply(400, "target_account_nkey_public: an account public key is required")
        issuer = self.accounts[export["account"]["id"]]["account_public_key"]
        claims = {
            "jti": next(self._issued),
            "iss": issuer,
            "sub": target,
            "nats": {"subject": export["subject"], "kind": export["jwt_settings"]["type"]},
        }
        share_id = next(self._link_ids)
        self.shares[share_id] = {
            "id": share_id,
            "created": "2026-01-01T00:00:00Z",
            "jwt": activation_jwt(claims),
            "jwt_claims": claims,
            "subject_export_id": export_id,
            "target_account_nkey_public": target,
        }
        return json_reply(201, self.shares[share_id])

    def _delete_share(self, _: Request, export_id: str, target: str) -> Reply:
        found = [
            k
            for k, v in self.shares.items()
            if v["subject_export_id"] == export_id and v["target_account_nkey_public"] == target
        ]
        if export_id not in self.exports or not found:
            return text_reply(404, "subject share not found")
        for key in found:
            del self.shares[key]
        return Reply(204)

    def unactivated_imports(self) -> list[dict[str, Any]]:
        """Imports nats-server would not route: of an export that requires a token, without
        one issued by a share that still exists."""
        live = {share["jwt"] for share in self.shares.values()}
        unrouted = []
        for imported in self.imports.values():
            settings = imported["jwt_settings"]
            required = any(
                e["jwt_settings"].get("token_req")
                and self.accounts[e["account"]["id"]]["account_public_key"] == settings["account"]
                and subject_matches(settings["subject"], e["subject"])
                for e in self.exports.values()
            )
            if required and settings.get("token") not in live:
                unrouted.append(imported)
        return unrouted

    def _delete_import(self, _: Request, import_id: str) -> Reply:
        if self.imports.pop(import_id, None) is None:
            return text_reply(404, "subject import not found")
        return Reply(204)


EXPORT_KEYS = {
    "description", "info_url", "account_token_position", "advertise", "name",
    "response_threshold", "response_type", "revocations", "service_latency", "subject",
    "token_req", "type",
}  # fmt: skip
IMPORT_KEYS = {"account", "local_subject", "name", "share", "subject", "to", "token", "type"}


def _unknown(body: Any, allowed: set[str]) -> str | None:
    if not isinstance(body, dict):
        return "expected a JSON object"
    extra = sorted(set(body) - allowed)
    return f"unknown field(s): {', '.join(extra)}" if extra else None


def _bad_export(settings: Any) -> str | None:
    if problem := _unknown(settings, EXPORT_KEYS):
        return problem
    if settings.get("type") not in ("stream", "service") or not settings.get("subject"):
        return "subject and type (stream | service) are required"
    if settings.get("response_type", "Singleton") not in ("Singleton", "Stream", "Chunked"):
        return "response_type is one of Singleton, Stream, Chunked"
    return None


def _bad_import(settings: Any) -> str | None:
    if problem := _unknown(settings, IMPORT_KEYS):
        return problem
    if settings.get("type") not in ("stream", "service") or not settings.get("subject"):
        return "subject and type (stream | service) are required"
    if not settings.get("account"):
        return "account is required"
    return None


def activation_jwt(claims: dict[str, Any]) -> str:
    """An activation token shaped like nsc's: a JWT whose payload is the ActivationClaims."""
    encoded = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.{encoded}.c2ln"


def _bad_activation(settings: dict[str, Any], importer_key: str) -> str | None:
    """What nats-io/jwt v2 Import.Validate says of the import's activation token, if wrong."""
    subject = settings["subject"]
    try:
        encoded = str(settings["token"]).split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
        activation = claims["nats"]
    except (IndexError, KeyError, TypeError, ValueError):
        return f"import {subject!r} contains an invalid activation token"
    if claims.get("iss") != settings["account"]:
        return f"activation token doesn't match account for import {subject!r}"
    if claims.get("sub") != importer_key:
        return f"activation token doesn't match account it is being included in, {subject!r}"
    if activation.get("kind") != settings["type"]:
        return f"mismatch between token import type {activation.get('kind')} and type of import {settings['type']}"  # fmt: skip
    if not subject_matches(subject, activation.get("subject", "")):
        return f"activation token import subject {activation.get('subject')!r} doesn't match import {subject!r}"  # fmt: skip
    return None


def subject_matches(subject: str, pattern: str) -> bool:
    """Whether `pattern` (with `*` and `>`) covers every subject `subject` covers."""
    tokens, wanted = subject.split("."), pattern.split(".")
    for index, token in enumerate(wanted):
        if token == ">":
            return len(tokens) > index
        if index >= len(tokens) or (token != "*" and token != tokens[index]):
            return False
    return len(tokens) == len(wanted)


def creds_file(user: dict[str, Any], issuance: int) -> str:
    """A creds file shaped like nsc's: a JWT whose payload carries the user's permissions."""
    payload = {"name": user["name"], "sub": user["user_public_key"], "jti": issuance}
    payload["nats"] = user["jwt_settings"]
    encoded = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    return (
        "-----BEGIN NATS USER JWT-----\n"
        f"eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.{encoded}.c2ln\n"
        "------END NATS USER JWT------\n\n"
        "************************* IMPORTANT *************************\n"
        "NKEY Seed printed below can be used to sign and prove identity.\n\n"
        "-----BEGIN USER NKEY SEED-----\n"
        f"SUA{user['id']}SEED\n"
        "------END USER NKEY SEED------\n"
    )


def jwt_claims(creds: str) -> dict[str, Any]:
    """The payload of the JWT inside a creds file, to check what permissions it carries."""
    token = creds.split("-----BEGIN NATS USER JWT-----\n", 1)[1].split("\n", 1)[0]
    encoded = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    )
    return claims
