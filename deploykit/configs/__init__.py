"""Server configuration rendered from `templates/`, shared by the local stack and the metal tier.

templates.py  pure: finds the templates (checkout or installed package) and renders them
nats.py       pure: the shape of a NATS cluster (nodes, ports, routes) and each node's config
postgres.py   pure: PostgreSQL settings and access rules, and their config files
"""
