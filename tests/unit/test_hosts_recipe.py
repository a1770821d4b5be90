"""The test-host rootfs cache key: a changed recipe builds a new rootfs, a reordered one does
not (the harness itself is tested on real hosts in tests/hosts)."""

from __future__ import annotations

import pytest

from deploykit.testing.hosts import BASE_INCLUDE, Recipe, cache_root


def test_recipe_key_follows_what_the_rootfs_holds() -> None:
    base = Recipe()
    assert Recipe(include=tuple(reversed(BASE_INCLUDE))).key == base.key
    assert Recipe(mirror="http://mirror.internal/debian").key == base.key
    assert Recipe(extra=("postgresql-15",)).key != base.key
    assert Recipe(suite="trixie").key != base.key
    assert len({base.key, Recipe(extra=("a",)).key, Recipe(extra=("b",)).key}) == 3


def test_cache_lives_outside_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", "/var/cache/x")
    assert str(cache_root()) == "/var/cache/x/deploykit/hosts"
