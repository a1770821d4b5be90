"""What the dynamic providers of the small tier share: the token, the diff, the refresh view,
the secret outputs.

The API token is read from the stack config in `configure` (Pulumi ≥ 3.140 passes the whole stack
config to Python dynamic providers, pulumi/pulumi#17673), never passed as a resource input: so it
is not copied into every resource's state and the serialized provider holds no secret. The
engine keeps that config, secrets encrypted, with the default provider in the state, and
`pulumi destroy` (which runs no program) configures the providers from there: after rotating a
token, run `pulumi up` once before `pulumi destroy` (tests/engine/test_small_engine.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import pulumi
from pulumi.dynamic import ConfigureRequest, DiffResult, ResourceProvider

from deploykit.errors import ConfigError
from deploykit.saas.http import Service

__all__ = ["ApiProvider", "changed", "integral", "managed_view", "secret_outputs"]


class ApiProvider(ResourceProvider):
    """A dynamic provider for one API, configured with that API's token from the stack config."""

    service: ClassVar[Service]
    token_key: ClassVar[str]
    replace_on: ClassVar[tuple[str, ...]]
    update_on: ClassVar[tuple[str, ...]]

    def __init__(self, api_url: str, client_options: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.api_url = api_url
        self.client_options = dict(client_options or {})
        self.token: str | None = None

    def configure(self, req: ConfigureRequest) -> None:
        self.token = req.config.get(f"deploykit:{self.token_key}")

    def require_token(self) -> str:
        if not self.token:
            raise ConfigError(
                f"{self.service.name}: no token in the stack config. {self.service.token_hint}"
            )
        return self.token

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        """Replace when an identity property changes, update when a mutable one does."""
        replaces = changed(olds, news, self.replace_on)
        updates = changed(olds, news, self.update_on)
        return DiffResult(changes=bool(replaces or updates), replaces=replaces, stables=[])


def secret_outputs(opts: pulumi.ResourceOptions, *names: str) -> pulumi.ResourceOptions:
    """`opts` with the outputs `names` kept secret (encrypted in the state, masked in output)."""
    extra = pulumi.ResourceOptions(additional_secret_outputs=list(names))
    return pulumi.ResourceOptions.merge(opts, extra)


def changed(olds: Mapping[str, Any], news: Mapping[str, Any], keys: Iterable[str]) -> list[str]:
    return [key for key in keys if olds.get(key) != news.get(key)]


def managed_view(actual: Any, declared: Any) -> Any:
    """`actual` restricted to the keys `declared` has, so defaults an API adds are not drift."""
    if isinstance(declared, Mapping):
        source = actual if isinstance(actual, Mapping) else {}
        return {key: managed_view(source.get(key), value) for key, value in declared.items()}
    return actual


def integral(value: Any) -> Any:
    """`value` with every whole float made an int, at any depth.

    The engine hands dynamic providers their inputs as protobuf `Struct` values, whose numbers
    are doubles: a replica count of 2 arrives as 2.0. APIs with integer fields refuse 2.0 (Go's
    encoding/json will not decode it into an int64; GraphQL's Int rejects it), so every provider
    passes its inputs through this before building a request. (Seen only under the real
    engine: Pulumi's mocks hand the program's own ints through.)
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: integral(item) for key, item in value.items()}
    if isinstance(value, list):
        return [integral(item) for item in value]
    return value
