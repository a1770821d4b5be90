"""Modules executed on their first use rather than when imported. Effectful (on import).

nats-py imports aiohttp (and multidict) with itself, for a WebSocket transport (ws:// URLs)
that the kit's services do not use: a tenth of a second of CPU in every process, more than any
part of the runtime, on a machine where `dev up` starts several services at once. psycopg (only
a service with a database uses it) and jsonschema (only to word why a payload was refused)
cost a twentieth each. Imported before nats-py (the runtime's `__init__` imports it first),
this module puts each in sys.modules as a placeholder: it is executed on the first access to one
of its attributes (a ws:// connection, a frontend's `Service.web`, a statement, a refusal),
exactly as an import would have, and not at all otherwise. Being in sys.modules, they are
still seen by what lists a service's imports (the metal tier's code bundle). A module already
imported, or not installed, is left as it is. Not for a first use from two threads at once (the
second could see the module half executed): a service's first uses are on its event loop.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from typing import Any

__all__ = ["DEFERRED", "defer", "executed", "load"]

# psycopg_binary: the implementation psycopg picks when executed (its extra, not a requirement)
DEFERRED = ("aiohttp", "multidict", "psycopg", "psycopg_binary", "jsonschema")


class _Deferred(types.ModuleType):
    """Holds only `__name__` and `__spec__`, which an `import` statement reads (the standard
    `LazyLoader` loads on those too, so `import aiohttp` in nats-py would defeat it); any other
    attribute, `__path__` included (a submodule's import), executes the module in place."""

    def __getattr__(self, attr: str) -> Any:
        _execute(self)
        return getattr(self, attr)


def _execute(module: types.ModuleType) -> None:
    spec = module.__spec__
    assert spec is not None and spec.loader is not None
    module.__class__ = types.ModuleType  # a module like any other from now on
    real = importlib.util.module_from_spec(spec)  # the attributes an import sets first
    module.__dict__.update({k: v for k, v in vars(real).items() if k.startswith("__")})
    spec.loader.exec_module(module)


def load(name: str) -> types.ModuleType:
    """`name` imported and executed now, deferred or not (what a launcher imports ahead)."""
    module = importlib.import_module(name)
    if isinstance(module, _Deferred):
        _execute(module)
    return module


def executed(name: str) -> bool:
    """The module has been imported and executed (not only deferred)."""
    module = sys.modules.get(name)
    return module is not None and not isinstance(module, _Deferred)


def defer(name: str) -> None:
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return
    module = _Deferred(name)
    module.__spec__ = spec
    sys.modules[name] = module


for _name in DEFERRED:
    defer(_name)
