"""The service runtime: what a team's own services are written on.

metricnames.py  pure: the metrics every service emits (OpenTelemetry names and their Prometheus
                form); the dashboards and alert rules of both tiers query exactly these
"""
