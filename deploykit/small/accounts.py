"""What the small tier asks of Synadia Cloud: accounts with explicit limits, users, permissions.

Facts from the Synadia Control Plane OpenAPI document (synadia-io/control-plane-sdk-go
`syncp/api/openapi.yaml` at commit 1dc0b121, 2026-07-24):
- `AccountLimits` {conn, leaf, imports, exports, wildcards, disallow_bearer} and `NatsLimits`
  {subs, data, payload} carry no documented defaults for accounts (users get -1), so every one
  is sent explicitly, from the manifest, with the defaults below.
- `tiered_limits` is a map from tier name to `JetStreamLimits`; the system lists its names in
  `SystemViewResponse.jetstream_tiers` (an array of strings, no enum). The manifest says how many
  replicas; `spell_tiers` finds the system's own name for that count.
- In `OperatorLimitsPatch`, `tiered_limits` and each tier's value are nullable: a PATCH drops a
  tier by sending it as null.
- The account-wide JetStream limits (`disk_storage`, `streams`, ... outside `tiered_limits`) stay
  unset: the account JWT takes tiered or account-wide JetStream limits, never both (nats-io/jwt
  v2 `account_claims.go`, OperatorLimits.Validate: "mutually exclusive"); negative numbers mean
  unlimited there.
- `imports` and `exports` bound how many the account JWT may hold (nats-io/jwt v2
  `account_claims.go`, Validate: "the account contains more imports than allowed by the operator
  limits"), so they are the number of the bus's links (`laws/exports.py`): 0 for a bus that no
  path crosses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from deploykit.errors import ConfigError
from deploykit.laws.authconf import render_authorization_json
from deploykit.laws.exports import bench_links, compile_links
from deploykit.laws.permissions import compile_authorization
from deploykit.manifest import naming
from deploykit.manifest.crossbus import PathKind
from deploykit.manifest.model import Manifest
from deploykit.saas.synadia import UserJwtSettings

__all__ = [
    "CONNECTIONS_PER_INSTANCE",
    "DEFAULT_PAYLOAD",
    "EXTRA_CONNECTIONS",
    "SUBSCRIPTIONS_PER_CONNECTION",
    "Authorization",
    "account_limits",
    "default_authorization",
    "jetstream_limits",
    "limits_patch",
    "parse_authorization",
    "spell_tiers",
    "unspell_tiers",
    "user_roles",
]

UNLIMITED_ALLOWANCE = 64 * 1024**2  # bytes reserved for a stream without max_bytes
# Each instance of a service holds one connection; a rolling deploy runs old and new side by
# side, so twice that, plus the smoke and provisioning users, a bench run and a person's CLI.
CONNECTIONS_PER_INSTANCE = 2
EXTRA_CONNECTIONS = 4
# A service subscribes to its inbox, its endpoints and its consumers: a few each; 100 is ample.
SUBSCRIPTIONS_PER_CONNECTION = 100
DEFAULT_PAYLOAD = 1024**2  # nats-server's default max_payload (1 MiB)
# deploykit's own smoke assets on the core bus (naming.py): name, replicas, max_bytes, as the
# reconciler declares them (its desired.smoke_assets).
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


def default_authorization(manifest: Manifest) -> dict[str, Any]:
    """The permission compiler's document, as Synadia's user `jwt_settings` per bus account.

    Synadia Cloud runs the system account itself, so the compiler's `SYS` account is left out.
    """
    document = render_authorization_json(compile_authorization(manifest))
    return {
        "accounts": {
            account["name"]: {
                "users": {
                    user["name"]: {k: v for k, v in user["permissions"].items() if v is not None}
                    for user in account["users"]
                }
            }
            for account in document["accounts"]
            if account["name"] != document["system_account"]
        }
    }


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
    """Every NATS user of a bus → (role, service): its services, then smoke, provisioning,
    backup, and the archiver where the SQL copy (`backup.sql`) keeps streams of the bus."""
    users: dict[str, tuple[str, str | None]] = {
        name: (service.role.value, name)
        for name, service in manifest.services.items()
        if service.bus == bus
    }
    users[naming.smoke_user(bus)] = ("smoke", None)
    users[naming.provisioning_user(bus)] = ("provisioning", None)
    users[naming.backup_user(bus)] = ("backup", None)
    if bus in manifest.sql_archived():
        users[naming.archiver_user(bus)] = ("archiver", None)
    return users


def account_limits(
    manifest: Manifest, bus: str, max_replicas: int, overrides: Mapping[str, int] | None = None
) -> dict[str, Any]:
    """The account's `jwt_settings.limits`: every NATS limit stated, JetStream per tier.

    `overrides` (the stack's `nats.accountLimits`) replace derived values, e.g. to fit a plan's
    connection limit. Tiers are keyed by replica count ("1", "3"); `spell_tiers` turns them into
    the system's names.
    """
    instances = sum(s.replicas for s in manifest.services.values() if s.bus == bus)
    links = compile_links(manifest)[bus]
    connections = instances * CONNECTIONS_PER_INSTANCE + EXTRA_CONNECTIONS
    sizes = [s.max_msg_size for s in manifest.streams.values() if s.bus == bus]
    return {
        "conn": connections,
        "subs": connections * SUBSCRIPTIONS_PER_CONNECTION,
        "payload": max([DEFAULT_PAYLOAD, *sizes]),
        "data": -1,  # bytes in flight: bounded by payload and subs already; -1 is "no limit"
        "imports": len(links.imports),  # exactly the bus's cross-bus links, 0 without any
        "exports": len(links.exports),
        "leaf": 0,  # no leaf node connects to the small tier's buses
        "wildcards": True,  # services subscribe to `>`-ended subjects (inboxes, endpoints)
        **(overrides or {}),
        "tiered_limits": jetstream_limits(manifest, bus, max_replicas),
    }


def jetstream_limits(manifest: Manifest, bus: str, max_replicas: int) -> dict[str, dict[str, int]]:
    """Replica count → the tier's JetStream limits, sized from what the bus declares.

    A tier's storage is the sum of `max_bytes` of its streams, KV buckets and object stores
    (64 MiB for one without a limit), so creating them never runs out of account storage.
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
    copies = [p for p in bench_links(manifest) if p.kind is PathKind.SOURCE]
    if any(bus in (p.importer, p.exporter) for p in copies):  # deploykit bench's own copy
        objects.append((naming.BENCH_COPY_STREAM, 1, "file", SMOKE_ASSETS[0][2]))
    tiers: dict[str, dict[str, int]] = {}
    for _label, replicas, storage, max_bytes in objects:
        tier = tiers.setdefault(
            str(min(replicas, max_replicas)),
            {"disk_storage": 0, "mem_storage": 0, "streams": 0, "consumer": -1},
        )
        tier["streams"] += 1
        tier["disk_storage" if storage == "file" else "mem_storage"] += (
            max_bytes if max_bytes > 0 else UNLIMITED_ALLOWANCE
        )
    return tiers


def _replicas_of(tier: str) -> int | None:
    numbers = re.findall(r"\d+", tier)
    return int(numbers[0]) if len(numbers) == 1 else None


def spell_tiers(limits: Mapping[str, Any], offered: Iterable[str], system: str) -> dict[str, Any]:
    """`limits` with `tiered_limits` keyed by the system's own tier names instead of counts.

    A tier name is matched by the one number in it ("R3", "r3", "replicas-3"), whatever the
    spelling; a count the system offers no tier for is refused, naming what it offers.
    """
    names: dict[int, str] = {}
    for name in offered:
        count = _replicas_of(name)
        if count is not None:
            names.setdefault(count, name)
    tiers = limits.get("tiered_limits") or {}
    missing = sorted(int(count) for count in tiers if int(count) not in names)
    if missing:
        raise ConfigError(
            f"Synadia Cloud system {system!r} offers JetStream tiers "
            f"{', '.join(sorted(set(offered))) or 'none'}, none of them for "
            f"{' or '.join(str(c) for c in missing)} replicas; set "
            "deploykit:small.nats.maxReplicas to what the plan allows (1 on the free plan)"
        )
    spelled = {names[int(count)]: value for count, value in tiers.items()}
    return {**limits, "tiered_limits": spelled}


def unspell_tiers(limits: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of `spell_tiers`, for reading an account back."""
    tiers = limits.get("tiered_limits") or {}
    counts = {
        str(count): value
        for name, value in tiers.items()
        if value is not None and (count := _replicas_of(name)) is not None
    }
    return {**limits, "tiered_limits": counts}


def limits_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The `limits` of a PATCH from `old` to `new` (both spelled): a dropped tier is sent as null."""
    old_tiers = old.get("tiered_limits") or {}
    new_tiers = dict(new.get("tiered_limits") or {})
    dropped = {name: None for name in old_tiers if name not in new_tiers}
    return {**new, "tiered_limits": {**new_tiers, **dropped}}
