"""`deploykit bench`: how much a deployed target takes, measured as its smoke user.

settings.py  pure: the modes, the options of a run, the names it writes, how workers connect
target.py    effectful: stack outputs (file or Pulumi) → the smoke user of the core bus, a database
runner.py    effectful: runs the modes one after another; rights check, seeding and clean-up
pool.py      effectful: the worker processes, seen from the runner
worker.py    effectful: a worker process, running the loops the runner asks for
link.py      effectful: the worker's end of its pipe to the runner
jobs.py      pure: what goes through the pipe (a job, its answer)
modes.py     effectful: one loop per client role (publish, subscribe, request, ...), in a worker
stats.py     pure: percentiles, throughput added up as `nats bench` does
results.py   pure: the figures of a run, each with its own count check
report.py    effectful: table, JSON, PNG chart

Importing the package loads only the light parts (settings, results), so that the rest of the
CLI does not pay for nats, psycopg and matplotlib unless `bench` runs.
"""

from deploykit.bench.results import BenchResult, Figure
from deploykit.bench.settings import BenchSettings, Mode

__all__ = ["BenchResult", "BenchSettings", "Figure", "Mode"]
