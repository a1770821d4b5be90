"""The `metal` tier: NATS and the database on VMs over SSH, apps on Kubernetes, Prometheus
and Grafana. Every step on a host is a `RemoteStep` (remote.py: the kit's dynamic provider,
over ssh, with create/update/delete scripts); passwords, the CA and certificates are `Generated`
(generated.py). `MetalTier` is the whole stack; the other components are its parts:

    MetalTier
     ├── Certificates      the stack's CA and host certificates (generated, or provided)
     ├── NatsCluster       nats-server per host, rolled out one node at a time behind gates
     ├── (JetStream hook)  the reconciler's resources, after the gates
     ├── Database          PostgreSQL primary + replica, or YugabyteDB RF3 (and the SQL copy's)
     ├── Kubernetes        k3s on the hosts, or a given kubeconfig
     ├── Apps              per service: Secret, Deployment, PDB, Service, Ingress; archivers
     ├── SystemdApps       or (apps: systemd) the code bundle, one unit per instance and archiver
     ├── JetStreamBackups  `deploykit backup` on a schedule: a systemd timer, or a CronJob
     └── Monitoring        node_exporter, Prometheus, Grafana
"""

from components.metal.inputs import (
    JetStreamContext,
    JetStreamHook,
    MetalSecrets,
    NatsAuth,
    NatsUser,
)
from components.metal.tier import MetalTier

__all__ = ["JetStreamContext", "JetStreamHook", "MetalSecrets", "MetalTier", "NatsAuth", "NatsUser"]
