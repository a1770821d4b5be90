"""Keep the Pulumi SDK's provider pickler one wrapper deep, however many providers a run makes.

Each time the SDK serializes a dynamic provider (`pulumi.dynamic.dynamic.serialize_provider`),
it wraps `pickle._Pickler._batch_setitems` in one more sorting wrapper and restores only
`pickle.Pickler`. A program that declares a few hundred dynamic resources (100 streams with
their consumers), or a test process that runs several programs, ends with a chain of wrappers
deeper than the recursion limit, and `pulumi up` fails with RecursionError. One wrapper sorts
as well as many: after each serialization, the chain is cut back to the original method.
"""

from __future__ import annotations

import functools
import pickle
from collections.abc import Callable
from typing import Any

import pulumi.dynamic.dynamic as sdk

__all__ = ["keep_pickler_shallow", "unwrap_pickler"]

_WRAPPER_NAME = "batch_set_items_sorted"  # the SDK's nested function (and its _before_py14 twin)


def unwrap_pickler() -> None:
    """Cut the chain of the SDK's sorting wrappers back to the original method."""
    method = pickle._Pickler._batch_setitems  # type: ignore[attr-defined]  # private, patched by the SDK
    while method.__name__.startswith(_WRAPPER_NAME) and method.__closure__:
        method = next(c.cell_contents for c in method.__closure__ if callable(c.cell_contents))
    pickle._Pickler._batch_setitems = method  # type: ignore[attr-defined]  # private, patched by the SDK


def keep_pickler_shallow() -> None:
    """Make every later serialization of a provider cut the chain after itself (idempotent)."""
    original: Callable[..., str] = sdk.serialize_provider
    if getattr(original, "_deploykit_shallow", False):
        return

    @functools.wraps(original)
    def serialize(*args: Any, **kwargs: Any) -> str:
        try:
            return original(*args, **kwargs)
        finally:
            unwrap_pickler()

    serialize._deploykit_shallow = True  # type: ignore[attr-defined]  # a marker on a function
    sdk.serialize_provider = serialize
