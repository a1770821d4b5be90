"""The engine harness undoes the SDK's pickler wrapping, which piles up in a long test process."""

from __future__ import annotations

import pickle

from pulumi.dynamic import ResourceProvider
from pulumi.dynamic.dynamic import serialize_provider

from deploykit.testing import engine


class Provider(ResourceProvider):
    def __init__(self) -> None:
        self.options = {"api_url": "https://example.test"}  # state: a dict to pickle


def test_serializing_many_providers_in_one_process_stays_within_the_recursion_limit() -> None:
    """Without the unwrapping, the SDK's wrappers nest once per provider serialized: 1500
    serializations end in RecursionError (seen in the small tier's engine test)."""
    for _ in range(1500):
        engine._unwrap_pickler()
        serialize_provider(Provider())
    engine._unwrap_pickler()
    assert pickle._Pickler._batch_setitems.__qualname__ == "_Pickler._batch_setitems"  # type: ignore[attr-defined]
