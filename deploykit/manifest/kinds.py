"""The kinds a service and its consumers come in. Pure.

Apart from the models so that a running service, which reads them from its wiring, does not
build every pydantic model of the manifest to start (a tenth of a second of CPU per process).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ConsumeMode", "Role"]


class Role(StrEnum):
    FRONTEND = "frontend"
    RPC = "rpc"
    WORKER = "worker"


class ConsumeMode(StrEnum):
    QUEUE = "queue"
    FANOUT = "fanout"
