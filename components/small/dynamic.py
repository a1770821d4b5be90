"""What the dynamic providers of the small tier share: the token, the diff, the refresh view.

The API token is read from the stack config in `configure` (Pulumi ≥ 3.140 passes the whole stack
config to Python dynamic providers, pulumi/pulumi#17673), never passed as a resource input: so it
is not copied into every resource's state, a rotated token is used for deletes too, and the
serialized provider holds no secret.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from pulumi.dynamic import ConfigureRequest, DiffResult, ResourceProvider

from deploykit.errors import ConfigError
from deploykit.saas.http import Service

__all__ = ["ApiProvider", "changed", "managed_view"]


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


def changed(olds: Mapping[str, Any], news: Mapping[str, Any], keys: Iterable[str]) -> list[str]:
    return [key for key in keys if olds.get(key) != news.get(key)]


def managed_view(actual: Any, declared: Any) -> Any:
    """`actual` restricted to the keys `declared` has, so defaults an API adds are not drift."""
    if isinstance(declared, Mapping):
        source = actual if isinstance(actual, Mapping) else {}
        return {key: managed_view(source.get(key), value) for key, value in declared.items()}
    return actual
