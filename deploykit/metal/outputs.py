"""The metal stack's outputs document: `deploykit.stack.outputs.StackOutputs`, the shape `smoke`
and `bench` read for every target. Pure: the tier calls it with resolved values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deploykit.manifest.model import Manifest, Role
from deploykit.manifest.naming import inbox_prefix
from deploykit.metal import layout
from deploykit.metal.services import instances
from deploykit.stack.config import MetalConfig

__all__ = ["nats_urls", "stack_outputs"]


def nats_urls(settings: MetalConfig, public: bool) -> list[str]:
    """Clients outside the hosts' network use the public addresses; the apps the private ones."""
    return [
        f"tls://{h.address if public else h.private}:{layout.NATS_CLIENT_PORT}"
        for h in settings.hosts_with("nats")
    ]


def stack_outputs(
    manifest: Manifest,
    settings: MetalConfig,
    users: Mapping[str, Mapping[str, Any]],
    database: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """`users`: NATS user → {account, role, service, password}; `database`: engine, admin_url,
    urls (per database key) and replica_urls."""
    monitoring = settings.hosts_with("monitoring")[0]
    monitor_urls = [
        f"http://{h.private}:{layout.NATS_MONITOR_PORT}" for h in settings.hosts_with("nats")
    ]
    return {
        "target": "metal",
        "system": manifest.system,
        "nats": {
            "urls": nats_urls(settings, public=True),
            "cluster_size": len(settings.hosts_with("nats")),
            "monitor_urls": monitor_urls,
            "credentials": {
                name: {
                    "account": user["account"],
                    "role": user["role"],
                    "service": user.get("service"),
                    "user": name,
                    "password": user["password"],
                    "inbox_prefix": inbox_prefix(name),
                }
                for name, user in users.items()
            },
        },
        "database": dict(database) if database is not None else None,
        "services": [
            {
                "name": name,
                "role": svc.role.value,
                "instances": svc.replicas,
                "endpoints": {e: svc.endpoint_subject(name, e) for e in svc.endpoints},
                "url": _frontend_url(manifest, settings, name)
                if svc.role is Role.FRONTEND
                else None,
            }
            for name, svc in manifest.services.items()
        ],
        "observability": {
            "prometheus_url": f"http://{monitoring.private}:{layout.PROMETHEUS_PORT}",
            "grafana_url": f"http://{monitoring.address}:{layout.GRAFANA_PORT}"
            if settings.monitoring.grafana
            else None,
            "nats_monitor_urls": monitor_urls,
        },
    }


def _frontend_url(manifest: Manifest, settings: MetalConfig, name: str) -> str | None:
    """Its domain; with the apps on systemd and no domain, its first instance's host."""
    domain = settings.domains.get(name)
    if domain:
        return f"http://{domain}"
    port = manifest.services[name].run.port
    if settings.apps == "systemd" and port:
        first = next(
            i for i in instances(manifest, settings.hosts_with("apps")) if i.service == name
        )
        return f"http://{first.host.address}:{port}"
    return None
