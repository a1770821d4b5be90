"""What the small stack exports and what it needs from the stack config, as plain data.

The outputs document is `deploykit.stack.outputs.StackOutputs`, the same shape the metal tier
and `deploykit dev` write, so `deploykit smoke --stack small` reads it the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deploykit.manifest import naming
from deploykit.manifest.model import Manifest
from deploykit.small.accounts import user_roles
from deploykit.small.services import deployed_services, frontend_services, railway_frontends
from deploykit.stack.config import SmallConfig
from deploykit.stack.outputs import parse_outputs

__all__ = ["credentials", "needed_secrets", "stack_outputs"]


def needed_secrets(manifest: Manifest, settings: SmallConfig) -> list[tuple[str, str, str]]:
    """(namespace, key, what it is) of every API token this manifest and these settings need."""
    needed = []
    if settings.grafana.enabled:
        needed.append(("grafana", "cloudAccessPolicyToken", "a Grafana Cloud access policy token"))
    if not settings.nats.existingCredentials:
        needed.append(("deploykit", "synadiaToken", "a Synadia Cloud personal access token"))
    archived = bool(manifest.sql_archived())
    if manifest.databases or archived:
        needed.append(("deploykit", "neonApiKey", "a Neon API key"))
    if deployed_services(manifest) or railway_frontends(manifest, settings) or archived:
        needed.append(("deploykit", "railwayToken", "a Railway account or workspace token"))
    if frontend_services(manifest, settings):
        needed.append(("deploykit", "vercelToken", "a Vercel API token"))
    if settings.backup.enabled:
        secret = "the secret key of backup.accessKeyId (the backup bucket's)"
        needed.append(("deploykit", "backupSecretAccessKey", secret))
    return needed


def credentials(manifest: Manifest, creds: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """NATS user → the fields of `NatsCredential`: account, role, service, creds, inbox prefix."""
    roles = {
        user: (bus, role, service)
        for bus in manifest.buses
        for user, (role, service) in user_roles(manifest, bus).items()
    }
    return {
        user: {
            "account": naming.account(roles[user][0]),
            "role": roles[user][1],
            "service": roles[user][2],
            "creds": creds[user],
            "inbox_prefix": naming.inbox_prefix(user),
        }
        for user in sorted(creds)
    }


def stack_outputs(
    manifest: Manifest, settings: SmallConfig, values: Mapping[str, Any]
) -> dict[str, Any]:
    """The outputs document from the values the providers returned: `credentials`,
    `frontend_urls`, and when present `admin_url`, `database_urls`, `archive_url`,
    `grafana_url`, `prometheus_url`."""
    data = {
        "target": "small",
        "system": manifest.system,
        "nats": {
            "urls": [settings.nats.url],
            "cluster_size": settings.nats.maxReplicas,
            "credentials": values["credentials"],
        },
        "database": {
            "engine": "postgres",
            "admin_url": values["admin_url"],
            "urls": values["database_urls"],
            "archive_url": values.get("archive_url"),
        }
        if "admin_url" in values
        else None,
        "services": [
            {
                "name": name,
                "role": service.role.value,
                "instances": service.replicas,
                "endpoints": {e: service.endpoint_subject(name, e) for e in service.endpoints},
                "url": values["frontend_urls"].get(name),
            }
            for name, service in manifest.services.items()
        ],
        "observability": {
            "grafana_url": values.get("grafana_url"),
            "prometheus_url": values.get("prometheus_url"),
        },
    }
    return parse_outputs(data, "the small stack outputs").model_dump(mode="json")
