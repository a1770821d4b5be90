"""JetStream definitions as code: plan, apply and drift for streams, consumers, KV, object stores.

desired.py    pure: manifest → the server JSON configs deploykit declares
immutable.py  pure: which changes the server refuses in place (checked against a real server)
plan.py       pure: (declared, actual) → Plan of create/update/replace/delete steps
api.py        effectful: raw JSON JetStream API client, counting its calls (network)
apply.py      effectful: executes a plan, refusing it whole when it is not allowed (network)
publish.py    effectful: a publish that waits out "no responders" just after a stream appears
reconcile.py  effectful: plan/apply one bus over a connection; reconcile every bus
render.py     pure: a plan as a rich table or JSON
"""

from __future__ import annotations

from deploykit.jetstream.api import ApiError, JetStreamApi, cluster_size, connect
from deploykit.jetstream.apply import ApplyError, ApplyResult
from deploykit.jetstream.plan import Change, Drift, Plan, Step, Undeclared
from deploykit.jetstream.reconcile import apply, plan, plan_with, reconcile

__all__ = [
    "ApiError",
    "ApplyError",
    "ApplyResult",
    "Change",
    "Drift",
    "JetStreamApi",
    "Plan",
    "Step",
    "Undeclared",
    "apply",
    "cluster_size",
    "connect",
    "plan",
    "plan_with",
    "reconcile",
]
