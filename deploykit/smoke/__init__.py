"""`deploykit smoke`: prove that what runs is what was declared.

checks.py                pure: the catalogue, every check's name and function
nats_checks.py           effectful: NATS itself: users connect, JetStream answers, the cluster is whole
jetstream_checks.py      effectful: every declared stream, consumer, bucket and store exists and matches
service_checks.py        effectful: every declared service runs (discovery, HTTP)
metrics_checks.py        effectful: each service's metrics page: Prometheus text, only catalogue names
laws_checks.py           effectful: the server itself refuses what the lint forbids
crossbus_checks.py       effectful: each cross-bus path crosses; an undeclared neighbour is refused
database_checks.py       effectful: each service's database URL connects; replicas stream
observability_checks.py  effectful: Prometheus and Grafana answer, when the outputs name them
roundtrip.py             effectful: round trips on deploykit's own smoke assets
backup_checks.py         effectful: on demand, each backed-up stream's restore drill
probes.py                effectful: the manifest's probes, a request and the event it causes
verdicts.py              pure: server answers → pass/fail with a message naming the cause
serverjson.py            pure: pydantic models of the servers' JSON that the verdicts read
context.py               effectful: the deadline and the connections the checks share
calls.py                 effectful: requests that name why they got no answer; refused publishes
runner.py                effectful: select (--only/--skip), run concurrently under one timeout
results.py               pure: the run and its results (plain data)
report.py                pure: a run as table, JSON, JUnit, Nagios or Prometheus; exit codes

The checks fetch; the verdicts judge.
"""

from __future__ import annotations

from deploykit.smoke.results import CheckResult, SmokeRun, Status
from deploykit.smoke.runner import run_smoke

__all__ = ["CheckResult", "SmokeRun", "Status", "run_smoke"]
