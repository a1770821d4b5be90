"""The small tier's decisions, apart from the Pulumi components that carry them out
(`components/small/`), as `deploykit/metal/` is for the metal tier.

accounts.py   pure: Synadia Cloud accounts (explicit limits, JetStream tiers in the system's
              own spelling, PATCH bodies that can drop a tier) and the users' permissions
backup.py     pure: the scheduled backup job on Railway (cron schedule, start command, variables)
database.py   pure: the Neon project's organization, the owner roles, TLS on every URI, the
              SQL copy's URI as the archiver's login
outputs.py    pure: the stack outputs document, the NATS credentials in it, the tokens needed
services.py   pure: which services run on Railway and which on Vercel; their environment
telemetry.py  pure: Grafana Cloud settings, the shared dashboards and alert rules as Grafana
              takes them, the OTLP push header

The clients these decisions are sent through are in `deploykit/saas/` (effectful).
"""
