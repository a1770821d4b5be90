"""What the small tier asks of Neon: one project, an owner role and a database per declared one.

The small tier uses the project's default branch (named by `neon.branch`) for every database: a
second branch would need a second compute, which the free plan does not pay for.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from deploykit.errors import ConfigError
from deploykit.manifest.model import Manifest
from deploykit.stack.config import NeonSettings

__all__ = ["owners", "project_org", "require_tls"]


def project_org(settings: NeonSettings) -> str:
    """The `org_id` to create the project in; "" when the key is an organization key.

    Neon: "If using a personal API key, include the `org_id` parameter ... If using an org API
    key, `org_id` is automatically inferred from the key" (neon.com/docs/reference/api/projects/
    create-project). Which kind of key it is cannot be read from the key, so the stack says.
    """
    if settings.orgKey:
        return ""
    if not settings.orgId:
        raise ConfigError(
            "deploykit:small.neon.orgId is empty: with a personal Neon API key, Neon creates "
            "projects only in an organization; set neon.orgId to its id (org-..., Neon console → "
            "Organization settings), or set neon.orgKey: true if deploykit:neonApiKey is an "
            "organization API key"
        )
    return settings.orgId


def owners(manifest: Manifest) -> list[str]:
    """The roles that own the manifest's databases, one each, sorted."""
    return sorted({manifest.database_owner(key) for key in manifest.databases})


def require_tls(uri: str) -> str:
    """The URI with `sslmode=require` unless it names an sslmode: Neon only accepts TLS, and a
    client left at libpq's default (`prefer`) would not refuse a downgraded connection."""
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(key == "sslmode" for key, _ in query):
        return uri
    return urlunsplit(parts._replace(query=urlencode([*query, ("sslmode", "require")])))
