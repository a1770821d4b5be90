"""The SDK's provider pickler stays one wrapper deep, however many providers a process makes."""

from __future__ import annotations

import pickle

import pulumi.dynamic.dynamic as sdk
from pulumi.dynamic import ResourceProvider

from deploykit.toolchain.pickling import keep_pickler_shallow, unwrap_pickler


class Provider(ResourceProvider):
    def __init__(self) -> None:
        self.options = {"api_url": "https://example.test"}  # state: a dict to pickle


def _depth() -> int:
    method, depth = pickle._Pickler._batch_setitems, 0  # type: ignore[attr-defined]  # private
    while method.__name__.startswith("batch_set_items_sorted") and method.__closure__:
        method = next(c.cell_contents for c in method.__closure__ if callable(c.cell_contents))
        depth += 1
    return depth


def test_the_sdk_alone_nests_one_wrapper_per_provider() -> None:
    """What the fix is for (seen as RecursionError in the small tier's tests and engine runs)."""
    unwrap_pickler()
    original = (
        sdk.serialize_provider.__wrapped__
        if hasattr(sdk.serialize_provider, "__wrapped__")
        else sdk.serialize_provider
    )
    for _ in range(5):
        original(Provider())
    assert _depth() == 5
    unwrap_pickler()
    assert _depth() == 0


def test_with_the_fix_1500_providers_leave_no_wrapper() -> None:
    keep_pickler_shallow()
    keep_pickler_shallow()  # idempotent: one patch
    for _ in range(1500):
        sdk.serialize_provider(Provider())
    assert _depth() == 0
    assert pickle._Pickler._batch_setitems.__qualname__ == "_Pickler._batch_setitems"  # type: ignore[attr-defined]  # private
