"""The metal tier's decisions, as pure functions of the manifest and the stack config.

Kamal style: these modules decide (the exact config files, systemd units, shell scripts and
Kubernetes objects); `components/metal/` only hands their results to Pulumi, which runs them
on the hosts over SSH. Everything here is tested on its exact output, and the config files and
scripts are run for real where this machine can (nats-server, PostgreSQL, promtool, systemd).

layout.py      pure: ports and paths on the hosts
shell.py       pure: the small shell vocabulary every script uses (root, files from stdin, waits,
               compare-before-replace, pending restarts, removal of units, files, packages)
steps.py       pure: a step's lifecycle (what a change of inputs does), its SSH command, uploads
tls.py         effectful: the stack's CA, host certificates and passwords (`cryptography`)
nats.py        pure: nats-server nodes, unit, install/apply/restart scripts, the health gate
postgres.py    pure: postgresql.conf/pg_hba.conf per host, unit, initdb, replica, provisioning SQL
yugabyte.py    pure: yb-master/yb-tserver flags and units, install and provisioning
k3s.py         pure: k3s server/agent install scripts and the kubeconfig
k8s.py         pure: Kubernetes objects (as dicts) for each service of the manifest
monitoring.py  pure: exporters, prometheus.yml, alert rules, Grafana provisioning and dashboards
backup.py      pure: scheduled backups: the `deploykit backup` timer (systemd) or CronJob, the
               files it reads, pgBackRest for PostgreSQL and its restore check
cron.py        pure: a cron schedule as a systemd timer's OnCalendar
outputs.py     pure: the stack outputs document (deploykit.stack.outputs shape)
services.py    pure: the apps as systemd units (`apps: systemd`): placement, units, environments
bundle.py      effectful: the apps' code and its packages as one reproducible archive
sources.py     pure: where each artifact comes from for a stack (vendors, files, mirror)
artifacts.py   pure: what hosts install without the internet: catalogue, index, install snippets
fetch.py       effectful: fetches the artifacts once into a folder with its index
"""

__all__: list[str] = []
