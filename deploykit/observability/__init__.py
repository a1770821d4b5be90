"""What both tiers show and alert on, from one description.

dashboards.py  pure: dashboards and alert rules of the manifest; Grafana's dashboard JSON,
               a Prometheus rule file (metal) and Grafana-managed rules (small)
exporters.py   pure: the exporter and backend series the server panels may query besides the
               runtime's metrics (deploykit.runtime.metricnames)
"""
