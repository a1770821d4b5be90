"""`deploykit bench`: how much a deployed target takes, measured as its smoke user.

settings.py  the modes, the options of a run, the names it writes, how workers connect
target.py    stack outputs → the smoke user of the core bus and a database
runner.py    runs the modes one after another; rights check, seeding and clean-up
pool.py      the worker processes, seen from the runner
worker.py    a worker process; link.py its end of the pipe; jobs.py what goes through it
modes.py     one loop per client role (publish, subscribe, request, ...), inside a worker
stats.py     pure: percentiles, throughput added up as `nats bench` does
results.py   the figures of a run, each with its own count check
report.py    table, JSON, PNG chart

Importing the package loads only the light parts (settings, results), so that the rest of the
CLI does not pay for nats, psycopg and matplotlib unless `bench` runs.
"""

from deploykit.bench.results import BenchResult, Figure
from deploykit.bench.settings import BenchSettings, Mode

__all__ = ["BenchResult", "BenchSettings", "Figure", "Mode"]
