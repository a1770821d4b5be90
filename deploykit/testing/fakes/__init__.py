"""Fakes of the SaaS APIs the small tier calls: real HTTP servers on 127.0.0.1 that answer as
the providers' published references say, and refuse what those references refuse.

server.py   effectful: the threaded HTTP server, request log and injected failures
schema.py   pure: request-body checks written as data (OpenAPI's shapes)
neon.py     effectful: Neon API v2
railway.py  effectful: Railway's public GraphQL API
synadia.py  effectful: Synadia Cloud's control plane
vercel.py   effectful: Vercel's REST API (projects, variables, domains, files, deployments)
"""
