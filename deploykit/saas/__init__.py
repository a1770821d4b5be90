"""Small typed clients for the SaaS APIs behind the `small` stack.

http.py      effectful: the one transport: auth header, retries with backoff, errors mapped
synadia.py   effectful: Synadia Cloud control plane (accounts, NATS users, creds)
neon.py      effectful: Neon API v2 (projects, roles, databases, connection URIs, operations)
railway.py   effectful: Railway public GraphQL API (projects, services, variables, deployments)
vercel.py    effectful: Vercel REST API (projects, sensitive variables, domains, file deployments)
"""

from __future__ import annotations

from deploykit.saas.http import ApiError, AuthError, NotFound, QuotaError

__all__ = ["ApiError", "AuthError", "NotFound", "QuotaError"]
