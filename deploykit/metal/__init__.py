"""The metal tier's decisions, as pure functions of the manifest and the stack config.

Kamal style: these modules decide (the exact config files, systemd units, shell scripts and
Kubernetes objects); `components/metal/` only hands their results to Pulumi, which runs them
on the hosts over SSH. Everything here is tested on its exact output, and the config files and
scripts are run for real where this machine can (nats-server, PostgreSQL, promtool, systemd).

    layout      ports and paths on the hosts
    shell       the small shell vocabulary every script uses (root, files from stdin, waits,
                compare-before-replace, pending restarts, removal of units, files, packages)
    steps       a step's lifecycle (what a change of inputs does), its SSH command, uploads
    tls         (random) the stack's CA, host certificates and passwords (`cryptography`)
    nats        nats-server nodes, unit, install/apply/restart scripts, the health gate
    postgres    postgresql.conf/pg_hba.conf per host, unit, initdb, replica, provisioning SQL
    yugabyte    yb-master/yb-tserver flags and units, install and provisioning
    k3s         k3s server/agent install scripts and the kubeconfig
    k8s         Kubernetes objects (as dicts) for each service of the manifest
    monitoring  exporters, prometheus.yml, alert rules, Grafana provisioning and dashboards
    backup      the JetStream snapshot CronJob and pgBackRest for PostgreSQL
    outputs     the stack outputs document (deploykit.stack.outputs shape)
    services    the apps as systemd units (`apps: systemd`): placement, units, environments
    bundle      (effectful) the apps' code and its packages as one reproducible archive
    sources     where each artifact comes from for a stack (vendors, files, mirror)
    artifacts   what hosts install without the internet: catalogue, index, install snippets
    fetch       (effectful) fetches the artifacts once into a folder with its index
"""

__all__: list[str] = []
