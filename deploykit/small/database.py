"""What the small tier asks of Neon: one project, an owner role and a database per declared one,
and with `backup.sql` the SQL copy's database.

The small tier uses the project's default branch (named by `neon.branch`) for every database: a
second branch would need a second compute, which the free plan does not pay for.

The SQL copy cannot keep the local and metal split (a table owner that cannot log in) as it is:
every role Neon's API creates is a member of `neon_superuser`, which holds pg_write_all_data
(neon.com/docs/manage/roles), and an owner that cannot log in could not create its table. So
the table's owner `deploykit_archive_owner` is an API role that logs in, used by the kit alone
at provisioning (its password stays in the stack's state); the archiver's login is created with
SQL by that owner (`deploykit.backup.sqlcopy.role_statements`), so it is not a member of
`neon_superuser` and holds only the grants on the table: INSERT and SELECT.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from deploykit.errors import ConfigError
from deploykit.manifest.model import Manifest
from deploykit.manifest.naming import ARCHIVE_OWNER, ARCHIVE_ROLE
from deploykit.stack.config import NeonSettings

__all__ = ["archive_url", "owners", "project_org", "require_tls"]


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
    """The roles that own the manifest's databases, one each, sorted; the SQL copy's owner too
    with `backup.sql`."""
    declared = {manifest.database_owner(key) for key in manifest.databases}
    return sorted(declared | ({ARCHIVE_OWNER} if manifest.sql_archived() else set()))


def archive_url(owner_uri: str, password: str) -> str:
    """The archive database's URI (its owner's, from Neon) as the archiver's login."""
    parts = urlsplit(require_tls(owner_uri))
    host = parts.netloc.rpartition("@")[2]
    login = f"{quote(ARCHIVE_ROLE, safe='')}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=login))


def require_tls(uri: str) -> str:
    """The URI with `sslmode=require` unless it names an sslmode: Neon only accepts TLS, and a
    client left at libpq's default (`prefer`) would not refuse a downgraded connection."""
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(key == "sslmode" for key, _ in query):
        return uri
    return urlunsplit(parts._replace(query=urlencode([*query, ("sslmode", "require")])))
