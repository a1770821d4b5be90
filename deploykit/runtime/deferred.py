"""aiohttp executed on its first use rather than when nats-py is imported.

nats-py imports aiohttp (and multidict) with itself, for a WebSocket transport (ws:// URLs)
that the kit's services do not use: a tenth of a second of CPU in every process, more than any
part of the runtime, on a machine where `dev up` starts several services at once. Imported
before nats-py (the runtime's `__init__` imports it first), this module puts them in
sys.modules as placeholders: each is executed on the
first access to one of its attributes (a ws:// connection, a frontend's `Service.web`, a test's
client), exactly as an import would have, and not at all otherwise. A module already imported,
or not installed, is left as it is.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from typing import Any

__all__ = ["DEFERRED", "defer"]

DEFERRED = ("aiohttp", "multidict")


class _Deferred(types.ModuleType):
    """Holds only `__name__` and `__spec__`, which an `import` statement reads (the standard
    `LazyLoader` loads on those too, so `import aiohttp` in nats-py would defeat it); any other
    attribute, `__path__` included (a submodule's import), executes the module in place."""

    def __getattr__(self, attr: str) -> Any:
        spec = self.__spec__
        assert spec is not None and spec.loader is not None
        self.__class__ = types.ModuleType  # type: ignore[assignment]  # a module like any other
        real = importlib.util.module_from_spec(spec)  # the attributes an import sets first
        self.__dict__.update({k: v for k, v in vars(real).items() if k.startswith("__")})
        spec.loader.exec_module(self)
        return getattr(self, attr)


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
