"""The exports and imports between the Synadia Cloud accounts of the buses (cross-bus paths).

The permission compiler decides them (`deploykit.laws.exports.compile_links`): each account
exports exactly what other buses use of it and imports exactly what its services and streams
declared. One resource holds them all, because an import needs the other account's export
first: create makes every export, then every import; delete removes the imports, then the
exports. Any change replaces the whole set (they are a few subjects, and exports and imports
carry no data).

Each export is restricted to the accounts that import it, as on the local and metal tiers
(`accounts` in nats-server's exports): it requires an activation token (`token_req`), and it is
shared with each importing account (a subject share), whose activation JWT that account's import
carries. Another account of the Synadia system cannot import it.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi.dynamic
from pulumi.dynamic import CreateResult

from components.small.dynamic import ApiProvider
from deploykit.laws.exports import Links
from deploykit.saas.http import NotFound
from deploykit.saas.synadia import SYNADIA, SynadiaClient, export_settings, import_settings

__all__ = ["LinksProvider", "SynadiaLinks"]


class LinksProvider(ApiProvider):
    """Subject exports and imports of every account, created and removed as one set."""

    service = SYNADIA
    token_key = "synadiaToken"
    replace_on = ("accounts", "keys", "links")
    update_on = ()

    def _client(self) -> SynadiaClient:
        return SynadiaClient(self.require_token(), self.api_url, **self.client_options)

    def create(self, props: dict[str, Any]) -> CreateResult:
        links = {bus: Links.model_validate(value) for bus, value in props["links"].items()}
        accounts, keys = props["accounts"], props["keys"]
        exports: list[str] = []
        shares: list[list[str]] = []
        tokens: dict[tuple[str, str, str], str] = {}  # (exporter, subject, importer) → activation
        with self._client() as api:
            for bus, link in links.items():
                for export in link.exports:
                    made = api.create_subject_export(accounts[bus], export_settings(export))
                    exports.append(made.id)
                    for importer in export.accounts:
                        share = api.create_subject_share(made.id, keys[importer])
                        shares.append([made.id, keys[importer]])
                        tokens[(bus, export.subject, importer)] = share.jwt
            imports = [
                api.create_subject_import(
                    accounts[bus],
                    import_settings(
                        imported, keys, tokens[(imported.account, imported.subject, bus)]
                    ),
                ).id
                for bus, link in links.items()
                for imported in link.imports
            ]
        outs = {**props, "export_ids": exports, "share_ids": shares, "import_ids": imports}
        return CreateResult(f"links-{uuid.uuid4().hex}", outs)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        with self._client() as api:
            for import_id in props.get("import_ids") or []:
                with contextlib.suppress(NotFound):
                    api.delete_subject_import(import_id)
            for export_id, account_key in props.get("share_ids") or []:
                with contextlib.suppress(NotFound):
                    api.delete_subject_share(export_id, account_key)
            for export_id in props.get("export_ids") or []:
                with contextlib.suppress(NotFound):
                    api.delete_subject_export(export_id)


class SynadiaLinks(pulumi.dynamic.Resource, module="small", name="SynadiaLinks"):
    """Every account's exports and imports."""

    export_ids: pulumi.Output[list[str]]
    share_ids: pulumi.Output[list[list[str]]]
    import_ids: pulumi.Output[list[str]]

    def __init__(
        self,
        resource_name: str,
        provider: LinksProvider,
        *,
        accounts: Mapping[str, pulumi.Input[str]],
        keys: Mapping[str, pulumi.Input[str]],
        links: Mapping[str, Links],
        opts: pulumi.ResourceOptions,
    ) -> None:
        props = {
            "accounts": dict(accounts),
            "keys": dict(keys),
            "links": {bus: link.model_dump(mode="json") for bus, link in links.items()},
            "export_ids": None,
            "share_ids": None,
            "import_ids": None,
        }
        super().__init__(provider, resource_name, props, opts)
