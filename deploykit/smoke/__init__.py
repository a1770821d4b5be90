"""`deploykit smoke`: prove that what runs is what was declared.

checks.py        the catalogue: every check's name and function, from manifest and outputs
*_checks.py      the checks by subject (nats, jetstream, services, metrics, laws, database,
roundtrip.py     observability), the round trips on deploykit's own assets, and the
probes.py        manifest's probes; each fetches and leaves the judgement to verdicts.py
verdicts.py      pure: server answers → pass/fail with a message naming the cause
serverjson.py    pydantic models of the servers' JSON that the verdicts read
context.py       the deadline and the connections the checks share
calls.py         requests that name why they got no answer (permissions, no responders)
runner.py        select (--only/--skip), run concurrently under one timeout, time, scrub
results.py       the run and its results (plain data)
report.py        pure: a run as table, JSON, JUnit, Nagios or Prometheus; exit codes
stackoutputs.py  where the outputs come from: --stack (Pulumi CLI), --outputs, local stack
"""

from __future__ import annotations

from deploykit.smoke.results import CheckResult, SmokeRun, Status
from deploykit.smoke.runner import run_smoke

__all__ = ["CheckResult", "SmokeRun", "Status", "run_smoke"]
