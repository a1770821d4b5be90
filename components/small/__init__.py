"""The small tier's Pulumi components (Synadia Cloud, Neon, Railway, Vercel, Grafana Cloud).

They hand to Pulumi what `deploykit/small/` decides, through the clients of `deploykit/saas/`.

tier.py        SmallTier: the constructor reads as the order of deployment
synadia.py     Nats: accounts per bus, users per service, creds (dynamic providers)
synadia_links.py  the accounts' exports and imports of the cross-bus paths (a dynamic provider)
neon.py        Database: project, roles, databases, connection URIs, the SQL copy's table
               and login (dynamic providers)
railway.py     Services: project, environment, a service per rpc/worker, the archivers, the
               backup job (dynamic providers)
vercel.py      Frontends: a Vercel project and a deployment of its files per frontend (dynamic providers)
grafana.py     Metrics: stack, dashboards, alerts, push token (pulumiverse-grafana)
dynamic.py     what the dynamic providers share
"""

from __future__ import annotations

from components.small.tier import JetStreamStep, SmallTier

__all__ = ["JetStreamStep", "SmallTier"]
