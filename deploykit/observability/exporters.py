"""The metrics the server dashboards and alert rules may query besides the runtime's own.

Only the metal tier shows servers (Synadia Cloud and Neon publish no server metrics into the
small tier's Grafana stack). Each name below is one its exporter documents; the test that every
queried metric exists reads `KNOWN` together with `deploykit.runtime.metricnames.METRICS`.
"""

from __future__ import annotations

__all__ = ["BACKEND", "KNOWN", "NATS", "NODE", "POSTGRES"]

# prometheus-nats-exporter (nats-io/prometheus-nats-exporter, collector/varz.go, healthz.go and
# collector/jsz.go: `gnatsd_varz_*`, `gnatsd_healthz_status`, `jetstream_*` with -jsz=all).
NATS = frozenset({
    "gnatsd_varz_connections", "gnatsd_varz_in_msgs", "gnatsd_varz_routes",
    "gnatsd_varz_slow_consumers", "gnatsd_healthz_status",
    "jetstream_server_total_message_bytes", "jetstream_server_max_storage",
    "jetstream_server_jetstream_disabled", "jetstream_stream_total_messages",
    "jetstream_stream_total_bytes", "jetstream_consumer_num_pending",
    "jetstream_consumer_num_ack_pending",
})  # fmt: skip

# postgres_exporter (prometheus-community/postgres_exporter, collector/pg_stat_activity*,
# pg_stat_database, pg_replication*, pg_replication_slot; Debian's build still serves the
# older names of queries.yaml, so both spellings of the replication lag are kept).
POSTGRES = frozenset({
    "pg_up", "pg_stat_activity_count", "pg_stat_database_xact_commit",
    "pg_replication_lag", "pg_replication_lag_seconds",
    "pg_replication_slots_active", "pg_replication_slot_slot_is_active",
})  # fmt: skip

# node_exporter (prometheus/node_exporter, collectors filesystem, meminfo, timex).
NODE = frozenset({
    "node_filesystem_avail_bytes", "node_filesystem_size_bytes",
    "node_memory_MemAvailable_bytes", "node_memory_MemTotal_bytes", "node_timex_offset_seconds",
})  # fmt: skip

# Series the metrics backend writes itself for every target it hears from: Prometheus's `up`
# per scrape target (prometheus.io/docs/concepts/jobs_instances), Grafana Cloud's `target_info`
# per OTLP resource (grafana.com/docs/grafana-cloud/send-data/otlp/otlp-format-considerations).
# They say whether a service reports at all, which no metric of the service itself can say.
BACKEND = frozenset({"up", "target_info"})

KNOWN = NATS | POSTGRES | NODE | BACKEND
